"""``ModelGates`` and ``AsyncModelGates``: the objects people hold.

A client resolves its configuration once (key, base URL, timeouts), owns one httpx client
for all its requests, and hands out resources (``client.videos``) that do the work.
``client.raw`` is the generated low-level client on the same httpx client, for endpoints
the facade does not wrap yet.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Self

import attrs
import httpx

from . import _adapter
from ._download import DownloadOptions, ProgressCallback, download, download_async
from ._errors import InvalidParameterError
from ._keys import APIKey, resolve_api_key
from ._retry import RetryPolicy
from ._stream import AsyncVideoStream, VideoStream, open_async_stream, open_stream
from ._transport import (
    ClientConfig,
    TimeoutTypes,
    check_base_url,
    make_timeout,
    resolve_base_url,
)
from ._types import DownloadResult

DEFAULT_MAX_RETRIES = 2


def _check_retries(max_retries: object) -> int:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InvalidParameterError(f"max_retries must be an int >= 0, not {max_retries!r}")
    return max_retries


def _configure(
    api_key: str | APIKey | None,
    base_url: str | httpx.URL | None,
    timeout: TimeoutTypes,
    max_retries: int,
    allow_insecure_http: bool,
    retry: RetryPolicy | None,
) -> ClientConfig:
    max_retries = _check_retries(max_retries)
    if retry is None:
        retry = RetryPolicy(max_retries=max_retries)
    elif max_retries != DEFAULT_MAX_RETRIES:
        retry = attrs.evolve(retry, max_retries=max_retries)
    url = check_base_url(
        resolve_base_url(base_url, os.environ), allow_insecure_http=allow_insecure_http
    )
    return ClientConfig(
        base_url=url,
        key=resolve_api_key(api_key),
        timeout=make_timeout(timeout),
        retry=retry,
    )


def _download_options(
    config: ClientConfig,
    index: int,
    overwrite: bool,
    on_progress: ProgressCallback | None,
    resume: bool,
    expected_sha256: str | None,
    max_retries: int | None,
    timeout: TimeoutTypes,
) -> DownloadOptions:
    """Per-call settings over the client's."""
    policy = config.retry
    if max_retries is not None:
        policy = attrs.evolve(policy, max_retries=_check_retries(max_retries))
    return DownloadOptions(
        index=index,
        overwrite=overwrite,
        resume=resume,
        expected_sha256=expected_sha256,
        on_progress=on_progress,
        policy=policy,
        timeout=make_timeout(timeout) if timeout is not None else None,
    )


class Videos:
    """``client.videos``: the video generation endpoints."""

    def __init__(self, http: httpx.Client, config: ClientConfig) -> None:
        self._http = http
        self._config = config

    def download(
        self,
        job_id: str,
        dest: str | os.PathLike[str],
        *,
        index: int = 0,
        overwrite: bool = False,
        on_progress: ProgressCallback | None = None,
        resume: bool = True,
        expected_sha256: str | None = None,
        max_retries: int | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> DownloadResult:
        """Stream output ``index`` of a completed job to ``dest`` (a file, or a directory to
        put ``<job_id>.mp4`` in). Nothing appears at ``dest`` unless the whole video does.

        Broken connections continue where they stopped; ``resume=True`` also continues
        what an interrupted earlier call left. ``expected_sha256`` is checked before the
        file is put in place. ``max_retries`` and ``timeout`` override the client's.
        """
        options = _download_options(
            self._config,
            index,
            overwrite,
            on_progress,
            resume,
            expected_sha256,
            max_retries,
            timeout,
        )
        return download(self._http, job_id, dest, options)

    @contextlib.contextmanager
    def stream(self, job_id: str, *, index: int = 0) -> Iterator[VideoStream]:
        """The video's bytes as they arrive, to pipe elsewhere:
        ``with client.videos.stream(job) as video: for chunk in video.iter_bytes(): ...``"""
        with open_stream(self._http, job_id, index) as video:
            yield video


class AsyncVideos:
    """``client.videos`` of ``AsyncModelGates``."""

    def __init__(self, http: httpx.AsyncClient, config: ClientConfig) -> None:
        self._http = http
        self._config = config

    async def download(
        self,
        job_id: str,
        dest: str | os.PathLike[str],
        *,
        index: int = 0,
        overwrite: bool = False,
        on_progress: ProgressCallback | None = None,
        resume: bool = True,
        expected_sha256: str | None = None,
        max_retries: int | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> DownloadResult:
        """As ``ModelGates.videos.download``; file writes run off the event loop."""
        options = _download_options(
            self._config,
            index,
            overwrite,
            on_progress,
            resume,
            expected_sha256,
            max_retries,
            timeout,
        )
        return await download_async(self._http, job_id, dest, options)

    @contextlib.asynccontextmanager
    async def stream(self, job_id: str, *, index: int = 0) -> AsyncIterator[AsyncVideoStream]:
        """``async with client.videos.stream(job) as video: async for chunk in
        video.iter_bytes(): ...``"""
        async with open_async_stream(self._http, job_id, index) as video:
            yield video


class _ClientBase:
    """What both clients show of their configuration (never the key)."""

    _config: ClientConfig

    @property
    def base_url(self) -> str:
        return str(self._config.base_url)

    @property
    def timeout(self) -> httpx.Timeout:
        return self._config.timeout

    @property
    def max_retries(self) -> int:
        return self._config.retry.max_retries

    @property
    def retry(self) -> RetryPolicy:
        return self._config.retry

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"


class ModelGates(_ClientBase):
    """The ModelGates API client.

    ``api_key`` defaults to ``MODELGATES_API_KEY``, else the file named by
    ``MODELGATES_API_KEY_FILE``; ``base_url`` to ``MODELGATES_BASE_URL``, else
    ``https://modelgates.ai/api/v1``. ``timeout`` is seconds or an ``httpx.Timeout`` (default:
    connect 10 s, 60 s of read inactivity, no cap on a whole download). ``transport`` is an
    httpx transport to send requests through (tests, proxies).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        allow_insecure_http: bool = False,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._config = _configure(
            api_key, base_url, timeout, max_retries, allow_insecure_http, retry
        )
        self._http = self._config.sync_client(transport)
        self.videos = Videos(self._http, self._config)
        self.raw = _adapter.raw_client(
            str(self._config.base_url),
            self._config.key,
            self._config.timeout,
            sync_client=self._http,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncModelGates(_ClientBase):
    """``ModelGates`` for asyncio (and trio): the same arguments, ``await``-ed methods."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        allow_insecure_http: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._config = _configure(
            api_key, base_url, timeout, max_retries, allow_insecure_http, retry
        )
        self._http = self._config.async_client(transport)
        self.videos = AsyncVideos(self._http, self._config)
        self.raw = _adapter.raw_client(
            str(self._config.base_url),
            self._config.key,
            self._config.timeout,
            async_client=self._http,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
