"""Streaming a video from ``GET /videos/{jobId}/content`` to a file, in constant memory.

The generated endpoint reads the whole body into memory; here the request shape is
borrowed from it (``_adapter.download_request``) and the body is streamed with httpx.

Nothing partial ever appears at the destination: bytes go to a temporary file in the same
directory, which is fsynced and renamed into place only once complete. Any error or
interruption (KeyboardInterrupt and task cancellation included) removes it instead.

The sync and async drivers share everything but the loop itself: opening and checking the
response (``_checked_response``), the file (``AtomicWriter``) and progress
(``ProgressReporter``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO

import anyio.to_thread
import httpx

from . import _adapter
from ._errors import (
    DestinationExistsError,
    DownloadIntegrityError,
    InvalidParameterError,
    UnexpectedContentError,
    status_error,
)
from ._transport import connection_error
from ._types import DownloadResult
from ._validation import check_index, check_job_id

ProgressCallback = Callable[[int, int | None], None]

#: Error bodies are read up to this size for the exception; the rest is dropped.
MAX_ERROR_BODY = 64 * 1024
#: The async driver hands writes to a worker thread in batches of about this size.
ASYNC_WRITE_BATCH = 1024 * 1024
#: At most this many progress calls a second, plus a final one.
PROGRESS_HZ = 10.0

_REQUEST_HEADERS = {
    # Byte counts and ranges refer to the bytes on the wire: ask for them unencoded.
    "Accept-Encoding": "identity",
    "Accept": "video/*, application/octet-stream;q=0.9",
}
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")


# --- destination ---------------------------------------------------------------------------


def default_filename(job_id: str, index: int) -> str:
    """``<jobId>.mp4`` (``<jobId>-<index>.mp4`` for index > 0), reduced to characters that
    cannot leave the directory or surprise a shell."""
    stem = _UNSAFE_NAME_CHARS.sub("_", job_id).lstrip(".") or "video"
    stem = stem[:200]
    return f"{stem}.mp4" if index == 0 else f"{stem}-{index}.mp4"


def resolve_destination(dest: str | os.PathLike[str], job_id: str, index: int) -> Path:
    """The file to write: ``dest`` itself, or a name made from the job id inside ``dest``
    when it is an existing directory or ends with a path separator (then it is created)."""
    raw = os.fspath(dest)
    if not isinstance(raw, str) or not raw:
        raise InvalidParameterError("dest must be a non-empty path")
    path = Path(raw).expanduser()
    if raw.endswith(("/", os.sep)):
        path.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        return path / default_filename(job_id, index)
    if not path.parent.is_dir():
        raise InvalidParameterError(f"dest {raw!r}: directory {str(path.parent)!r} does not exist")
    return path


def refuse_existing(path: Path, overwrite: bool) -> None:
    if not overwrite and path.exists():
        raise DestinationExistsError(f"{str(path)!r} exists; pass overwrite=True to replace it")


# --- the file ------------------------------------------------------------------------------


class AtomicWriter:
    """A temporary file beside ``final`` that becomes ``final`` only on ``commit()``.

    Counts and hashes what it writes. ``discard()`` (or leaving the ``with`` block by an
    exception of any kind) deletes the temporary file and leaves ``final`` untouched.
    """

    def __init__(self, final: Path, *, overwrite: bool) -> None:
        self.final = final
        self.overwrite = overwrite
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
        self.temp = Path(name)
        self._file: IO[bytes] = os.fdopen(fd, "wb", buffering=0)
        self._sha256 = hashlib.sha256()
        self.bytes_written = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._sha256.update(chunk)
        self.bytes_written += len(chunk)

    def write_many(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    def commit(self, content_type: str | None) -> DownloadResult:
        os.fsync(self._file.fileno())
        self._file.close()
        if self.overwrite:
            os.replace(self.temp, self.final)
        else:
            self._link_no_clobber()
        _fsync_directory(self.final.parent)
        return DownloadResult(
            path=self.final,
            bytes_written=self.bytes_written,
            content_type=content_type,
            sha256=self._sha256.hexdigest(),
        )

    def _link_no_clobber(self) -> None:
        # A file that appeared at the destination during the download is not replaced.
        try:
            os.link(self.temp, self.final)
        except FileExistsError:
            self.discard()
            refuse_existing(self.final, overwrite=False)
            raise
        except OSError:  # no hard links on this filesystem
            refuse_existing(self.final, overwrite=False)
            os.replace(self.temp, self.final)
        else:
            self.temp.unlink()

    def discard(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()

    def __enter__(self) -> AtomicWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is not None:
            self.discard()


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- progress ------------------------------------------------------------------------------


class ProgressReporter:
    """Calls ``on_progress(done, total)`` at most ``PROGRESS_HZ`` times a second, and once
    more at the end."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        total: int | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._callback = callback
        self.total = total
        self.done = 0
        self._clock = clock
        self._next = 0.0

    def advance(self, n: int) -> None:
        self.done += n
        if self._callback is not None:
            now = self._clock()
            if now >= self._next:
                self._next = now + 1.0 / PROGRESS_HZ
                self._callback(self.done, self.total)

    def finish(self) -> None:
        if self._callback is not None:
            self._callback(self.done, self.total)


# --- the response --------------------------------------------------------------------------


def _content_type(response: httpx.Response) -> str | None:
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
    content_type = _content_type(response)
    return UnexpectedContentError(
        f"expected a video, got {content_type or 'no content type'} "
        f"(HTTP {response.status_code}): {' '.join(text.split())[:200]}",
        content_type=content_type,
        body=text,
    )


def _build_request(
    http: httpx.Client | httpx.AsyncClient, job_id: str, index: int
) -> httpx.Request:
    shape = _adapter.download_request(check_job_id(job_id), check_index(index))
    return http.build_request(
        shape.method, shape.url, params=shape.params, headers=_REQUEST_HEADERS
    )


def _needs_rejection(response: httpx.Response) -> bool:
    return response.status_code != 200 or not _is_video(_content_type(response))


class _OpenResponse:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.content_type = _content_type(response)
        #: None when the server did not say (chunked transfer).
        self.content_length = _content_length(response)
        self.headers = response.headers


class VideoStream(_OpenResponse):
    """An open download: its headers, and its body as an iterator of byte chunks."""

    def iter_bytes(self) -> Iterator[bytes]:
        try:
            yield from self._response.iter_raw()
        except httpx.TransportError as exc:
            raise connection_error(exc) from exc


class AsyncVideoStream(_OpenResponse):
    """``VideoStream`` for ``AsyncModelGates``: ``async for chunk in video.iter_bytes()``."""

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.TransportError as exc:
            raise connection_error(exc) from exc

    aiter_bytes = iter_bytes


@contextlib.contextmanager
def open_stream(http: httpx.Client, job_id: str, index: int) -> Iterator[VideoStream]:
    request = _build_request(http, job_id, index)
    try:
        response = http.send(request, stream=True)
    except httpx.TransportError as exc:
        raise connection_error(exc) from exc
    try:
        if _needs_rejection(response):
            body = b""
            with contextlib.suppress(httpx.TransportError):
                for chunk in response.iter_raw():
                    body += chunk
                    if len(body) >= MAX_ERROR_BODY:
                        break
            raise _rejection(response, body)
        yield VideoStream(response)
    finally:
        response.close()


@contextlib.asynccontextmanager
async def open_async_stream(
    http: httpx.AsyncClient, job_id: str, index: int
) -> AsyncIterator[AsyncVideoStream]:
    request = _build_request(http, job_id, index)
    try:
        response = await http.send(request, stream=True)
    except httpx.TransportError as exc:
        raise connection_error(exc) from exc
    try:
        if _needs_rejection(response):
            body = b""
            with contextlib.suppress(httpx.TransportError):
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) >= MAX_ERROR_BODY:
                        break
            raise _rejection(response, body)
        yield AsyncVideoStream(response)
    finally:
        await response.aclose()


def _check_complete(writer: AtomicWriter, expected: int | None) -> None:
    if expected is not None and writer.bytes_written != expected:
        raise DownloadIntegrityError(
            f"received {writer.bytes_written} bytes, but Content-Length said {expected}"
        )


# --- the drivers ---------------------------------------------------------------------------


def download(
    http: httpx.Client,
    job_id: str,
    dest: str | os.PathLike[str],
    *,
    index: int,
    overwrite: bool,
    on_progress: ProgressCallback | None,
) -> DownloadResult:
    job_id, index = check_job_id(job_id), check_index(index)
    target = resolve_destination(dest, job_id, index)
    refuse_existing(target, overwrite)
    with open_stream(http, job_id, index) as video:
        progress = ProgressReporter(on_progress, video.content_length)
        with AtomicWriter(target, overwrite=overwrite) as writer:
            for chunk in video.iter_bytes():
                writer.write(chunk)
                progress.advance(len(chunk))
            _check_complete(writer, video.content_length)
            result = writer.commit(video.content_type)
    progress.finish()
    return result


async def download_async(
    http: httpx.AsyncClient,
    job_id: str,
    dest: str | os.PathLike[str],
    *,
    index: int,
    overwrite: bool,
    on_progress: ProgressCallback | None,
) -> DownloadResult:
    job_id, index = check_job_id(job_id), check_index(index)
    target = await anyio.to_thread.run_sync(resolve_destination, dest, job_id, index)
    await anyio.to_thread.run_sync(refuse_existing, target, overwrite)
    async with open_async_stream(http, job_id, index) as video:
        progress = ProgressReporter(on_progress, video.content_length)
        writer = await anyio.to_thread.run_sync(lambda: AtomicWriter(target, overwrite=overwrite))
        with writer:  # discards the temporary file on any exception, cancellation included
            batch: list[bytes] = []
            batched = 0
            async for chunk in video.iter_bytes():
                batch.append(chunk)
                batched += len(chunk)
                if batched >= ASYNC_WRITE_BATCH:
                    await anyio.to_thread.run_sync(writer.write_many, batch)
                    batch, batched = [], 0
                progress.advance(len(chunk))
            await anyio.to_thread.run_sync(writer.write_many, batch)
            _check_complete(writer, video.content_length)
            result = await anyio.to_thread.run_sync(writer.commit, video.content_type)
    progress.finish()
    return result
