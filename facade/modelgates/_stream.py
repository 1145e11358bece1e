"""Opening ``GET /videos/{jobId}/content`` as a stream and deciding whether it is a video.

The generated endpoint reads the whole body into memory; here the request shape is
borrowed from it (``_adapter.download_request``) and the body is streamed with httpx. An
error status or a body that is not video (JSON, an HTML page) becomes an exception before
the caller sees a byte.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx

from . import _adapter
from ._errors import UnexpectedContentError, status_error
from ._transport import connection_error
from ._validation import check_index, check_job_id

#: Error bodies are read up to this size for the exception; the rest is dropped.
MAX_ERROR_BODY = 64 * 1024

_REQUEST_HEADERS = {
    # Byte counts and ranges refer to the bytes on the wire: ask for them unencoded.
    "Accept-Encoding": "identity",
    "Accept": "video/*, application/octet-stream;q=0.9",
}


def content_type_of(response: httpx.Response) -> str | None:
    value = response.headers.get("content-type")
    return value.split(";", 1)[0].strip().lower() if value else None


def _is_video(content_type: str | None) -> bool:
    # No Content-Type at all is taken as opaque bytes: nothing says it is not a video.
    return (
        content_type is None
        or content_type.startswith("video/")
        or content_type == "application/octet-stream"
    )


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def _rejection(response: httpx.Response, body: bytes) -> Exception:
    """The error for a response that is not a video: its status, or its content type."""
    if response.is_error:
        return status_error(response.status_code, response.headers, body)
    text = body.decode("utf-8", errors="replace")[:2000]
    content_type = content_type_of(response)
    return UnexpectedContentError(
        f"expected a video, got {content_type or 'no content type'} "
        f"(HTTP {response.status_code}): {' '.join(text.split())[:200]}",
        content_type=content_type,
        body=text,
    )


def _is_acceptable(response: httpx.Response) -> bool:
    return response.status_code in {200, 206} and _is_video(content_type_of(response))


def _build_request(
    http: httpx.Client | httpx.AsyncClient,
    job_id: str,
    index: int,
    headers: Mapping[str, str] | None,
    params: Mapping[str, Any] | None,
    extensions: dict[str, Any] | None,
    timeout: httpx.Timeout | None,
) -> httpx.Request:
    shape = _adapter.download_request(check_job_id(job_id), check_index(index))
    return http.build_request(
        shape.method,
        shape.url,
        params={**(params or {}), **shape.params},
        headers={**_REQUEST_HEADERS, **(headers or {})},
        extensions=extensions,
        timeout=timeout if timeout is not None else http.timeout,
    )


class _OpenResponse:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        self.content_type = content_type_of(response)
        #: None when the server did not say (chunked transfer).
        self.content_length = _content_length(response)
        self.headers = response.headers


class VideoStream(_OpenResponse):
    """An open download: its headers, and its body as an iterator of byte chunks."""

    def iter_bytes(self) -> Iterator[bytes]:
        try:
            yield from self.response.iter_raw()
        except httpx.TransportError as exc:
            raise connection_error(exc) from exc


class AsyncVideoStream(_OpenResponse):
    """``VideoStream`` for ``AsyncModelGates``: ``async for chunk in video.iter_bytes()``."""

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.aiter_raw():
                yield chunk
        except httpx.TransportError as exc:
            raise connection_error(exc) from exc

    aiter_bytes = iter_bytes


@contextlib.contextmanager
def open_stream(
    http: httpx.Client,
    job_id: str,
    index: int,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    extensions: dict[str, Any] | None = None,
    timeout: httpx.Timeout | None = None,
) -> Iterator[VideoStream]:
    request = _build_request(http, job_id, index, headers, params, extensions, timeout)
    try:
        response = http.send(request, stream=True)
    except httpx.TransportError as exc:
        raise connection_error(exc) from exc
    try:
        if not _is_acceptable(response):
            body = bytearray()
            with contextlib.suppress(httpx.TransportError):
                for chunk in response.iter_raw():
                    body += chunk
                    if len(body) >= MAX_ERROR_BODY:
                        break
            raise _rejection(response, bytes(body))
        yield VideoStream(response)
    finally:
        response.close()


@contextlib.asynccontextmanager
async def open_async_stream(
    http: httpx.AsyncClient,
    job_id: str,
    index: int,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    extensions: dict[str, Any] | None = None,
    timeout: httpx.Timeout | None = None,
) -> AsyncIterator[AsyncVideoStream]:
    request = _build_request(http, job_id, index, headers, params, extensions, timeout)
    try:
        response = await http.send(request, stream=True)
    except httpx.TransportError as exc:
        raise connection_error(exc) from exc
    try:
        if not _is_acceptable(response):
            body = bytearray()
            with contextlib.suppress(httpx.TransportError):
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) >= MAX_ERROR_BODY:
                        break
            raise _rejection(response, bytes(body))
        yield AsyncVideoStream(response)
    finally:
        await response.aclose()
