"""``client.videos``: every video operation of the facade, for the sync and async clients.

Each method is a thin front: decisions live in ``_workflow`` (waiting, capability checks),
``_download`` (streaming, resume) and ``_adapter`` (request shapes and parsing).

Every method that sends a request takes openai-python's per-call extras:
``extra_headers``/``extra_query`` (added to each of its requests), ``timeout`` (per request;
in ``wait``/``generate``, where ``timeout`` bounds the whole wait, it is
``request_timeout``), and on ``create``/``generate`` ``extra_body`` (fields a newer API
added, sent as given). The request fields are typed once, in ``_requests``.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import anyio
import attrs
import httpx

from . import _adapter
from ._docs import share_docstrings
from ._download import DownloadOptions, ProgressCallback, download, download_async
from ._errors import carrying_job_id
from ._parallel import check_connections, shared_out
from ._requests import VideoRequestFields, request_fields
from ._retry import RetryPolicy
from ._stream import AsyncVideoStream, VideoStream, open_async_stream, open_stream
from ._transport import ClientConfig, RequestOptions, request_options
from ._types import DownloadResult, VideoJob, VideoModel
from ._validation import check_job_id, check_retries

if TYPE_CHECKING:
    from .batch import BatchResult
    from .batch._input import RequestSource
    from .batch._runner import BatchOptions

from ._workflow import (
    DEFAULT_CONCURRENCY,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    JobCallback,
    Waiter,
    check_prompt,
    check_request,
    output_indices,
    send,
    send_async,
)


def _download_options(
    config: ClientConfig,
    index: int,
    overwrite: bool,
    on_progress: ProgressCallback | None,
    resume: bool,
    expected_sha256: str | None,
    max_retries: int | None,
    request: RequestOptions,
    checksum: bool = True,
    connections: int | None = None,
) -> DownloadOptions:
    """Per-call settings over the client's."""
    policy: RetryPolicy = config.retry
    if max_retries is not None:
        policy = attrs.evolve(policy, max_retries=check_retries(max_retries))
    return DownloadOptions(
        index=index,
        overwrite=overwrite,
        resume=resume,
        expected_sha256=expected_sha256,
        checksum=checksum,
        on_progress=on_progress,
        policy=policy,
        timeout=request.timeout,
        extra_headers=request.headers,
        extra_query=request.query,
        connections=check_connections(connections),
    )


def _all_options(
    config: ClientConfig,
    overwrite: bool,
    checksum: bool,
    request: RequestOptions,
    connections: int | None,
    at_once: int,
) -> DownloadOptions:
    """``download_all``'s settings for each of its downloads (``index`` set per output),
    the automatic connections shared out among the ``at_once`` that run together."""
    options = _download_options(
        config, 0, overwrite, None, True, None, None, request, checksum, connections
    )
    return attrs.evolve(options, auto_connections=shared_out(at_once))


def _given(typed: Mapping[str, Any], extra_body: object) -> dict[str, Any]:
    """Every field a create request was given, for the required-field check."""
    extra = dict(extra_body) if isinstance(extra_body, Mapping) else {}
    return {**extra, **typed}


def _download_call(dest: str | os.PathLike[str], overwrite: bool) -> tuple[str, dict[str, object]]:
    """The ``download`` call that continues a ``generate`` (for the note on its errors)."""
    options: dict[str, object] = {"dest": dest}
    if overwrite:
        options["overwrite"] = True
    return ("download", options)


def _directory(directory: str | os.PathLike[str]) -> Path:
    path = Path(os.fspath(directory)).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


class Videos:
    """``client.videos``: the video generation endpoints."""

    def __init__(self, stream_http: httpx.Client, json_http: httpx.Client, config: ClientConfig):
        self._http = stream_http
        self._json = json_http
        self._config = config
        self._models: list[VideoModel] | None = None

    def create(
        self,
        *,
        model: str,
        prompt: str | None = None,
        check: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        **fields: Unpack[VideoRequestFields],
    ) -> VideoJob:
        """Submit a job (``POST /videos``). ``fields`` are the request's typed fields
        (``resolution="720p"``, ``duration=8``, ``frame_images=[first_frame(url)]``, ...);
        ``extra_body`` carries fields a newer API added, sent as given. With ``check=True``
        values are first checked against the model's listed capabilities. Not retried once
        it may have reached the server: a job is billed."""
        typed = request_fields(fields)
        check_prompt(model, prompt, _given(typed, extra_body))
        options = request_options(extra_headers, extra_query, timeout)
        if check:
            check_request(self.models(cached=True), model, typed)
        shape = _adapter.create_request(model, prompt, typed, extra_body)
        return _adapter.parse_job(shape.operation, send(self._json, shape, options))

    def get(
        self,
        job_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> VideoJob:
        """The job's current state (``GET /videos/{jobId}``)."""
        shape = _adapter.get_request(check_job_id(job_id))
        return self._get(shape, request_options(extra_headers, extra_query, timeout))

    def _get(self, shape: _adapter.RequestShape, options: RequestOptions) -> VideoJob:
        return _adapter.parse_job(shape.operation, send(self._json, shape, options))

    def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_update: JobCallback | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        request_timeout: float | httpx.Timeout | None = None,
    ) -> VideoJob:
        """Poll until the job is completed; ``failed``/``cancelled``/``expired`` raise
        ``VideoJobFailedError``, running out of ``timeout`` seconds ``VideoJobTimeoutError``
        (the job may still finish). ``on_update(job)`` sees every poll;
        ``request_timeout`` bounds each poll."""
        options = request_options(
            extra_headers, extra_query, request_timeout, timeout_name="request_timeout"
        )
        shape = _adapter.get_request(check_job_id(job_id))
        policy = self._config.retry
        waiter = Waiter(timeout, poll_interval, on_update, policy.clock)
        while (delay := waiter.seen(self._get(shape, options))) is not None:
            policy.sleep(delay)
        assert waiter.last is not None
        return waiter.last

    def models(
        self,
        *,
        cached: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> list[VideoModel]:
        """The video models and the values each accepts (``GET /videos/models``)."""
        options = request_options(extra_headers, extra_query, timeout)
        if not cached or self._models is None:
            shape = _adapter.models_request()
            self._models = _adapter.parse_models(send(self._json, shape, options))
        return list(self._models)

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
        checksum: bool = True,
        max_retries: int | None = None,
        timeout: float | httpx.Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        connections: int | None = None,
    ) -> DownloadResult:
        """Stream output ``index`` of a completed job to ``dest`` (a file, or a directory to
        put ``<job_id>.mp4`` in). Nothing appears at ``dest`` unless the whole video does.

        Broken connections continue where they stopped; ``resume=True`` also continues
        what an interrupted earlier call left. ``expected_sha256`` is checked before the
        file is put in place. ``checksum=False`` skips the sha256 (``result.sha256`` is then
        None; faster when the CPU is the limit); ``expected_sha256`` always computes it.
        ``max_retries`` and ``timeout`` override the client's.

        ``connections``: a large video on a slow connection is fetched over several, with
        byte ranges, when the server supports them (``None``, automatic: up to 8 when one
        connection is not fast); ``1`` keeps to one connection, ``N`` uses N.
        """
        options = _download_options(
            self._config,
            index,
            overwrite,
            on_progress,
            resume,
            expected_sha256,
            max_retries,
            request_options(extra_headers, extra_query, timeout),
            checksum,
            connections,
        )
        return download(self._http, job_id, dest, options)

    def download_all(
        self,
        job_id: str,
        directory: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        checksum: bool = True,
        timeout: float | httpx.Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        connections: int | None = None,
    ) -> list[DownloadResult]:
        """Every output of a completed job into ``directory``, ``max_concurrency`` at a
        time; results in index order. ``checksum`` as for ``download``; automatic
        ``connections`` share 8 among the downloads that run at once."""
        extras = request_options(extra_headers, extra_query, timeout)
        check_connections(connections)
        indices = output_indices(self._get(_adapter.get_request(check_job_id(job_id)), extras))
        target = _directory(directory)
        at_once = min(max(1, max_concurrency), len(indices))
        options = _all_options(self._config, overwrite, checksum, extras, connections, at_once)
        with ThreadPoolExecutor(max_workers=max(1, max_concurrency)) as pool:
            # Each in a copy of this context, so its messages speak the caller's Wording.
            futures = [
                pool.submit(
                    contextvars.copy_context().run,
                    download,
                    self._http,
                    job_id,
                    target,
                    attrs.evolve(options, index=i),
                )
                for i in indices
            ]
            return [future.result() for future in futures]

    def generate(
        self,
        *,
        model: str,
        prompt: str | None = None,
        dest: str | os.PathLike[str] = ".",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_progress: ProgressCallback | None = None,
        on_update: JobCallback | None = None,
        overwrite: bool = False,
        check: bool = False,
        checksum: bool = True,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        request_timeout: float | httpx.Timeout | None = None,
        connections: int | None = None,
        **fields: Unpack[VideoRequestFields],
    ) -> DownloadResult:
        """Create a job, wait for it, and download its (first) video to ``dest``:
        ``create``, ``wait`` and ``download`` in one call, with their arguments.

        ``fields`` and ``extra_body`` as in ``create``; ``checksum`` as in ``download``.
        ``timeout`` bounds the wait for the
        job (seconds, ``None``: no bound); ``request_timeout`` bounds each request, and in
        the download each network read, never the whole video (default: the client's).
        ``extra_headers``/``extra_query`` go on every request (create, each poll, the
        download). ``on_update(job)`` sees every poll, ``on_progress(done, total)`` the
        download.

        Raises what ``create`` raises before the job exists (``InvalidParameterError``,
        ``APIStatusError``, ``APIConnectionError``); once it exists, every exception
        (Ctrl-C included) carries ``job_id`` and a note naming the call that continues the
        job: ``VideoJobFailedError`` (failed, cancelled or expired), ``VideoJobTimeoutError``
        (still running at ``timeout``: it may still finish), ``APIStatusError`` and
        ``APIConnectionError`` (polling or downloading), ``DestinationExistsError``,
        ``FileSystemError``, ``UnexpectedContentError`` and ``DownloadIntegrityError``
        (downloading). A download that breaks is kept for ``download`` to continue.
        """
        extras = request_options(
            extra_headers, extra_query, request_timeout, timeout_name="request_timeout"
        )
        check_connections(connections)
        job = self.create(
            model=model,
            prompt=prompt,
            check=check,
            extra_headers=extras.headers,
            extra_query=extras.query,
            extra_body=extra_body,
            timeout=extras.timeout,
            **fields,
        )
        with carrying_job_id(job.id, ("wait", {}), _download_call(dest, overwrite)):
            self.wait(
                job.id,
                timeout=timeout,
                poll_interval=poll_interval,
                on_update=on_update,
                extra_headers=extras.headers,
                extra_query=extras.query,
                request_timeout=extras.timeout,
            )
        with carrying_job_id(job.id, _download_call(dest, overwrite)):
            return self.download(
                job.id,
                dest,
                overwrite=overwrite,
                on_progress=on_progress,
                checksum=checksum,
                timeout=extras.timeout,
                extra_headers=extras.headers,
                extra_query=extras.query,
                connections=connections,
            )

    @contextlib.contextmanager
    def stream(
        self,
        job_id: str,
        *,
        index: int = 0,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> Iterator[VideoStream]:
        """The video's bytes as they arrive, to pipe elsewhere:
        ``with client.videos.stream(job) as video: for chunk in video.iter_bytes(): ...``"""
        extras = request_options(extra_headers, extra_query, timeout)
        with open_stream(
            self._http,
            job_id,
            index,
            headers=extras.headers,
            params=extras.query,
            timeout=extras.timeout,
        ) as video:
            yield video

    def batch(
        self,
        requests: RequestSource,
        directory: str | os.PathLike[str],
        **options: Unpack[BatchOptions],
    ) -> BatchResult:
        """Make a video for every request, once, recording every step in a ledger in
        ``directory``: run it again after a crash and it continues, never paying twice.

        ``requests`` is a ``.jsonl``/``.csv`` path or an iterable of dicts (``model``,
        ``prompt``, any other request field, optional ``name``). ``options``: ``max_jobs``
        (8), ``max_downloads`` (4), ``poll_interval`` (10 s), ``retry_failed``,
        ``resubmit_unknown``, ``shard`` ("K/N"), ``ledger`` (a path), ``on_event``.

        A thin front: it runs the one async runner (``AsyncVideos.batch``) with
        ``anyio.run`` on an ``AsyncModelGates`` of this client's configuration (key, base
        URL, timeouts, retry policy; not a custom ``transport``)."""
        from ._client import AsyncModelGates  # here: _client imports this module
        from .batch._runner import run_batch

        config = self._config

        async def run() -> BatchResult:
            async with AsyncModelGates(
                api_key=config.key.reveal(),
                base_url=str(config.base_url),
                timeout=config.timeout,
                retry=config.retry,
                allow_insecure_http=True,  # the base URL was checked by this client
            ) as client:
                return await run_batch(client.videos, requests, directory, **options)

        return anyio.run(run)


class AsyncVideos:
    """``client.videos`` of ``AsyncModelGates``: the same methods, awaited (each has its
    sync twin's docstring). File writes run in a worker thread, off the event loop;
    ``stream`` is ``async with client.videos.stream(job) as video: async for chunk in
    video.iter_bytes(): ...``."""

    def __init__(
        self, stream_http: httpx.AsyncClient, json_http: httpx.AsyncClient, config: ClientConfig
    ):
        self._http = stream_http
        self._json = json_http
        self._config = config
        self._models: list[VideoModel] | None = None

    async def create(
        self,
        *,
        model: str,
        prompt: str | None = None,
        check: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
        **fields: Unpack[VideoRequestFields],
    ) -> VideoJob:
        typed = request_fields(fields)
        check_prompt(model, prompt, _given(typed, extra_body))
        options = request_options(extra_headers, extra_query, timeout)
        if check:
            check_request(await self.models(cached=True), model, typed)
        shape = _adapter.create_request(model, prompt, typed, extra_body)
        return _adapter.parse_job(shape.operation, await send_async(self._json, shape, options))

    async def get(
        self,
        job_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> VideoJob:
        shape = _adapter.get_request(check_job_id(job_id))
        return await self._get(shape, request_options(extra_headers, extra_query, timeout))

    async def _get(self, shape: _adapter.RequestShape, options: RequestOptions) -> VideoJob:
        return _adapter.parse_job(shape.operation, await send_async(self._json, shape, options))

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_update: JobCallback | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        request_timeout: float | httpx.Timeout | None = None,
    ) -> VideoJob:
        options = request_options(
            extra_headers, extra_query, request_timeout, timeout_name="request_timeout"
        )
        shape = _adapter.get_request(check_job_id(job_id))
        policy = self._config.retry
        waiter = Waiter(timeout, poll_interval, on_update, policy.clock)
        while (delay := waiter.seen(await self._get(shape, options))) is not None:
            await policy.async_sleep(delay)
        assert waiter.last is not None
        return waiter.last

    async def models(
        self,
        *,
        cached: bool = False,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> list[VideoModel]:
        options = request_options(extra_headers, extra_query, timeout)
        if not cached or self._models is None:
            shape = _adapter.models_request()
            self._models = _adapter.parse_models(await send_async(self._json, shape, options))
        return list(self._models)

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
        checksum: bool = True,
        max_retries: int | None = None,
        timeout: float | httpx.Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        connections: int | None = None,
    ) -> DownloadResult:
        options = _download_options(
            self._config,
            index,
            overwrite,
            on_progress,
            resume,
            expected_sha256,
            max_retries,
            request_options(extra_headers, extra_query, timeout),
            checksum,
            connections,
        )
        return await download_async(self._http, job_id, dest, options)

    async def download_all(
        self,
        job_id: str,
        directory: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        max_concurrency: int = DEFAULT_CONCURRENCY,
        checksum: bool = True,
        timeout: float | httpx.Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        connections: int | None = None,
    ) -> list[DownloadResult]:
        extras = request_options(extra_headers, extra_query, timeout)
        check_connections(connections)
        job = await self._get(_adapter.get_request(check_job_id(job_id)), extras)
        indices = output_indices(job)
        target = await anyio.to_thread.run_sync(_directory, directory)
        results: dict[int, DownloadResult] = {}
        limiter = anyio.CapacityLimiter(max(1, max_concurrency))
        at_once = min(max(1, max_concurrency), len(indices))
        options = _all_options(self._config, overwrite, checksum, extras, connections, at_once)

        async def one(index: int) -> None:
            async with limiter:
                results[index] = await download_async(
                    self._http, job_id, target, attrs.evolve(options, index=index)
                )

        async with anyio.create_task_group() as group:
            for index in indices:
                group.start_soon(one, index)
        return [results[i] for i in indices]

    async def generate(
        self,
        *,
        model: str,
        prompt: str | None = None,
        dest: str | os.PathLike[str] = ".",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | None = DEFAULT_WAIT_TIMEOUT,
        on_progress: ProgressCallback | None = None,
        on_update: JobCallback | None = None,
        overwrite: bool = False,
        check: bool = False,
        checksum: bool = True,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        request_timeout: float | httpx.Timeout | None = None,
        connections: int | None = None,
        **fields: Unpack[VideoRequestFields],
    ) -> DownloadResult:
        extras = request_options(
            extra_headers, extra_query, request_timeout, timeout_name="request_timeout"
        )
        check_connections(connections)
        job = await self.create(
            model=model,
            prompt=prompt,
            check=check,
            extra_headers=extras.headers,
            extra_query=extras.query,
            extra_body=extra_body,
            timeout=extras.timeout,
            **fields,
        )
        with carrying_job_id(job.id, ("wait", {}), _download_call(dest, overwrite)):
            await self.wait(
                job.id,
                timeout=timeout,
                poll_interval=poll_interval,
                on_update=on_update,
                extra_headers=extras.headers,
                extra_query=extras.query,
                request_timeout=extras.timeout,
            )
        with carrying_job_id(job.id, _download_call(dest, overwrite)):
            return await self.download(
                job.id,
                dest,
                overwrite=overwrite,
                on_progress=on_progress,
                checksum=checksum,
                timeout=extras.timeout,
                extra_headers=extras.headers,
                extra_query=extras.query,
                connections=connections,
            )

    @contextlib.asynccontextmanager
    async def stream(
        self,
        job_id: str,
        *,
        index: int = 0,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, Any] | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> AsyncIterator[AsyncVideoStream]:
        extras = request_options(extra_headers, extra_query, timeout)
        async with open_async_stream(
            self._http,
            job_id,
            index,
            headers=extras.headers,
            params=extras.query,
            timeout=extras.timeout,
        ) as video:
            yield video

    async def batch(
        self,
        requests: RequestSource,
        directory: str | os.PathLike[str],
        **options: Unpack[BatchOptions],
    ) -> BatchResult:
        """As ``ModelGates.videos.batch``; this is the implementation (``modelgates.batch``)."""
        from .batch._runner import run_batch

        return await run_batch(self, requests, directory, **options)


share_docstrings(AsyncVideos, Videos)
