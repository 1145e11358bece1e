"""``videos.download``: a video onto disk whole, in constant memory, whatever the network does.

A body that breaks mid-stream continues from the bytes already written, with ``Range`` and
``If-Range`` (the strong ETag, else Last-Modified). A 206 is taken only when its
``Content-Range`` starts exactly there; a 200 (``Range`` ignored, or the video changed)
starts over. Error statuses worth retrying (429, 5xx, ...) and connection failures are
retried by the client's ``RetryPolicy``; this loop is the only retry authority for a
download (its requests go out with transport retries off), so budgets never multiply.

An interruption that leaves bytes worth keeping (the budget ran out, Ctrl-C, task
cancellation) parks the partial file (``_files``) for the next call with ``resume=True``;
anything else leaves nothing behind. Either way the destination is untouched until the
whole video is there, its length matches, and its sha256 matches ``expected_sha256``.

The sync and async drivers share everything but the loop: ``_Download`` holds the state
and makes every decision. A body that qualifies is read by ``_fastbody`` (straight from the
socket, the connection closed afterwards); any other takes httpx's ``iter_raw``. Both
drivers hand a fast body to the same ``FastBody.pump``: the sync one calls it, the async
one runs it in a worker thread one slice at a time.

``checksum=False`` skips the sha256 (``DownloadResult.sha256`` is then None);
``expected_sha256`` always hashes. A resumed partial is hashed from disk when the new call
wants a checksum, whichever way it was saved.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import attrs
import httpx

from . import _fastbody, _parallel
from ._errors import (
    APIConnectionError,
    APIStatusError,
    DownloadIntegrityError,
    InvalidParameterError,
    call,
    naming_destination,
    param,
)
from ._files import AtomicWriter, PartialInfo, refuse_existing, resolve_destination
from ._retry import EXTENSION, RETRY_STATUSES, RetryBudget, RetryPolicy
from ._stream import AsyncVideoStream, VideoStream, _OpenResponse, open_async_stream, open_stream
from ._types import DownloadResult
from ._validation import check_index, check_job_id

logger = logging.getLogger("modelgates")

ProgressCallback = Callable[[int, int | None], None]

#: The async driver hands writes to a worker thread in batches of about this size.
ASYNC_WRITE_BATCH = 1024 * 1024
#: At most this many progress calls a second, plus a final one.
PROGRESS_HZ = 10.0

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class ProgressReporter:
    """Calls ``on_progress(done, total)`` at most ``PROGRESS_HZ`` times a second and once
    at the end; ``done`` never goes backwards, even when a download has to start over."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        done: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._callback = callback
        self.total: int | None = None
        self.done = done
        self._reported = -1
        self._clock = clock
        self._next = 0.0

    def advance(self, n: int) -> None:
        self.done += n
        if self._callback is not None and self.done > self._reported:
            now = self._clock()
            if now >= self._next:
                self._next = now + 1.0 / PROGRESS_HZ
                self._report()

    def _report(self) -> None:
        assert self._callback is not None
        self._reported = self.done
        self._callback(self.done, self.total)

    def finish(self) -> None:
        if self._callback is not None:
            self._report()


class _StartOver(Exception):
    """The response cannot continue what we have: drop it and ask for the whole video."""


@attrs.frozen
class DownloadOptions:
    """Per-call settings of one download."""

    index: int = 0
    overwrite: bool = False
    resume: bool = True
    expected_sha256: str | None = None
    checksum: bool = True
    on_progress: ProgressCallback | None = None
    policy: RetryPolicy = attrs.field(factory=RetryPolicy)
    timeout: httpx.Timeout | None = None
    #: The call's ``extra_headers``/``extra_query``, on every request of the download.
    extra_headers: dict[str, str] = attrs.field(factory=dict)
    extra_query: dict[str, Any] = attrs.field(factory=dict)
    #: None: automatic (``_parallel``); 1: one connection, exactly as before; N: N ranges.
    connections: int | None = None
    #: The most connections automatic mode uses (``download_all`` shares them out).
    auto_connections: int = _parallel.DEFAULT_CONNECTIONS


def _strong_validator(headers: httpx.Headers) -> str | None:
    """What ``If-Range`` may carry: a strong ETag, else Last-Modified (RFC 9110 13.1.5)."""
    etag: str | None = headers.get("etag")
    if etag and not etag.startswith("W/"):
        return etag
    last_modified: str | None = headers.get("last-modified")
    return last_modified


class _Download:
    """The state of one ``download()`` call, and every decision it makes."""

    def __init__(self, job_id: str, dest: str | os.PathLike[str], options: DownloadOptions) -> None:
        self.job_id = check_job_id(job_id)
        self.index = check_index(options.index)
        self.options = options
        if options.expected_sha256 is not None and not re.fullmatch(
            r"[0-9a-fA-F]{64}", options.expected_sha256
        ):
            raise InvalidParameterError(f"{param('expected_sha256')} must be 64 hex digits")
        if options.on_progress is not None and not callable(options.on_progress):
            raise InvalidParameterError(
                f"{param('on_progress')} must be a callable(done, total) or None"
            )
        if not isinstance(options.checksum, bool):
            raise InvalidParameterError(
                f"{param('checksum')} must be True or False, not {options.checksum!r}"
            )
        #: expected_sha256 needs the hash whatever checksum says.
        self.checksum = options.checksum or options.expected_sha256 is not None
        self.target: Path = resolve_destination(dest, self.job_id, self.index)
        refuse_existing(self.target, options.overwrite)
        self.validator: str | None = None
        self.total: int | None = None
        self.content_type: str | None = None
        with naming_destination(self.target):
            self.writer = self._writer()
            #: Whether (and how) the body is fetched over several connections.
            self.parallel = _parallel.Plan(
                self.target,
                _parallel.check_connections(options.connections),
                options.resume,
                options.auto_connections,
            )
            parts = self.parallel.continue_in_one(self)
        if parts is not None:
            self.validator, self.total, self.content_type = (
                parts["validator"],
                parts["total"],
                parts["content_type"],
            )
        self.progress = ProgressReporter(options.on_progress, done=self.writer.bytes_written)
        self.progress.total = self.total
        self.budget = RetryBudget(options.policy, f"download of {self.job_id} output {self.index}")
        # Transport retries off: this loop owns the budget (see the module docstring).
        self.extensions: dict[str, Any] = {EXTENSION: attrs.evolve(options.policy, max_retries=0)}
        self._fresh_attempt = True

    def _writer(self) -> AtomicWriter:
        # Claimed even with resume=False: starting over replaces an old parked download.
        writer, info = AtomicWriter.claim(
            self.target, overwrite=self.options.overwrite, checksum=self.checksum
        )
        if (
            self.options.resume
            and info is not None
            and (info.job_id, info.index) == (self.job_id, self.index)
        ):
            self.validator, self.total, self.content_type = (
                info.validator,
                info.total,
                info.content_type,
            )
            logger.info(
                "continuing %s from byte %d of a previous download",
                self.target.name,
                writer.bytes_written,
            )
        elif writer.bytes_written:
            writer.restart()  # another video's, or resume=False: the progress starts at 0 anyway
        return writer

    def _start_over(self) -> None:
        """Drop what was written; progress keeps its high-water mark (never goes back)."""
        self.writer.restart()
        self.progress.done = 0

    # -- per attempt -------------------------------------------------------------------------

    def request_headers(self) -> dict[str, str]:
        offset = self.writer.bytes_written
        if offset and self.validator:
            return {"Range": f"bytes={offset}-", "If-Range": self.validator}
        if offset:  # nothing to prove the server's copy is the same one: start over
            self._start_over()
        return self.parallel.probe_headers(self)

    def begin(self, video: _OpenResponse) -> None:
        """Take the response's measure; raise ``_StartOver`` if it cannot continue ours."""
        offset = self.writer.bytes_written
        if video.status_code == 206:
            match = _CONTENT_RANGE.fullmatch(video.headers.get("content-range", ""))
            if match is None or int(match.group(1)) != offset:
                raise _StartOver(
                    f"206 from the wrong offset ({video.headers.get('content-range')})"
                )
            total = None if match.group(3) == "*" else int(match.group(3))
            if self.total is not None and total != self.total:
                raise _StartOver("206 for a video of another size")
        else:
            if offset:
                logger.info(
                    "server sent the whole video again (Range ignored or the video changed): "
                    "starting %s over",
                    self.target.name,
                )
                self._start_over()
            total = video.content_length
        self.total = total
        self.progress.total = total
        self.validator = _strong_validator(video.headers)
        self.content_type = video.content_type
        self._fresh_attempt = True

    def advance(self, n: int) -> None:
        if not n:
            return
        if self._fresh_attempt:
            self._fresh_attempt = False
            self.budget.progressed()
        self.progress.advance(n)

    def retry_delay(self, exc: Exception) -> float:
        """How long to wait before trying again after ``exc``; re-raises it when the
        budget is spent or the failure is not worth retrying."""
        if self.parallel.engine is not None and not isinstance(exc, _parallel.RangesFailed):
            # From the parts (a part out of its own budget, retried with the same policy):
            # the download ends here, and ``close`` parks the parts for a later call when
            # the network gave out. One more round as a single stream would continue this
            # writer's file from bytes that the parts hold in theirs.
            raise exc
        if isinstance(exc, APIStatusError):
            if exc.status_code not in RETRY_STATUSES:
                raise exc
            delay = self.budget.next_delay(f"HTTP {exc.status_code}", exc.retry_after)
        elif isinstance(exc, _StartOver | _parallel.RangesFailed):
            kept = (
                self.parallel.fall_back(exc.changed)
                if isinstance(exc, _parallel.RangesFailed)
                else 0
            )
            if not kept:
                self._start_over()
            delay = self.budget.next_delay(str(exc))
        else:
            delay = self.budget.next_delay(str(exc))
        if delay is None:
            raise exc
        return delay

    # -- the end -----------------------------------------------------------------------------

    def finish(self) -> DownloadResult:
        received = self.writer.bytes_written
        if self.total is not None and received != self.total:
            raise DownloadIntegrityError(
                f"received {received} bytes of {self.job_id} output {self.index}, "
                f"but the server announced {self.total}"
            )
        expected = self.options.expected_sha256
        if expected is not None and self.writer.sha256 != expected.lower():
            raise DownloadIntegrityError(
                f"sha256 of {self.job_id} output {self.index} is {self.writer.sha256}, "
                f"expected {expected.lower()}; {str(self.target)!r} was not written"
            )
        return self.writer.commit(self.content_type)

    def close(self, exc: BaseException | None, cancelled: bool = False) -> None:
        """After the last attempt: park what is worth continuing (the network gave out, or
        the caller interrupted: Ctrl-C, task cancellation), discard the rest."""
        if exc is None:
            self.progress.finish()
            self.parallel.finished()
            return
        keep = (
            self.options.resume
            and self.validator is not None
            and self.writer.bytes_written > 0
            and (cancelled or isinstance(exc, APIConnectionError | KeyboardInterrupt))
        )
        if self.parallel.close(self, keep):
            self.writer.discard()  # the parts are parked (or dropped) by ``_parallel``
        elif keep:
            assert self.validator is not None
            self.writer.park(
                PartialInfo(
                    job_id=self.job_id,
                    index=self.index,
                    validator=self.validator,
                    total=self.total,
                    content_type=self.content_type,
                )
            )
            logger.info(
                "kept %d bytes of %s for the next download to continue",
                self.writer.bytes_written,
                self.target.name,
            )
            again = call("download", self.job_id, **self._call_options())
            exc.add_note(
                f"kept {self.writer.bytes_written} bytes of {str(self.target)!r}; "
                f"{again} continues from there"
            )
        else:
            self.writer.discard()

    def _call_options(self) -> dict[str, object]:
        """This download's arguments, for the call that continues it."""
        options: dict[str, object] = {"dest": self.target}
        if self.index:
            options["index"] = self.index
        if self.options.overwrite:
            options["overwrite"] = True
        return options


def read_body(
    video: VideoStream,
    sink: _fastbody.Sink,
    advance: Callable[[int], None],
    body: _fastbody.FastBody | None = None,
) -> None:
    """The one place a response body is read: into ``sink``, calling ``advance(n)`` as
    bytes land. Through the fast body (``_fastbody``) when it applies, else httpx's
    ``iter_raw``. Whatever arrived before an error is in ``sink`` and counted. ``body``:
    a fast body already opened (``_parallel``'s probe read its start) to go on with."""
    if body is None:
        body = _fastbody.open_body(video.response)
    if body is None:
        for chunk in video.iter_bytes():
            sink.write(chunk)
            advance(len(chunk))
        return
    try:
        while not body.done:
            try:
                body.pump(sink)
            finally:
                advance(body.take_moved())
    finally:
        body.close()


async def read_body_async(
    video: AsyncVideoStream,
    sink: _fastbody.Sink,
    advance: Callable[[int], None],
    body: _fastbody.FastBody | None = None,
) -> None:
    """``read_body`` for the async driver: the same pump, run in a worker thread one slice
    at a time (cancellation lands between slices); the general path's writes go to the
    worker thread in batches. ``advance`` runs on the event loop."""
    if body is None:
        body = _fastbody.open_body(video.response)
    if body is None:
        await _read_rest_async(video.iter_bytes(), sink, advance)
        return
    try:
        while not body.done:
            try:
                await anyio.to_thread.run_sync(body.pump, sink)
            finally:
                advance(body.take_moved())
    finally:
        await body.aclose()


async def _read_rest_async(
    chunks: AsyncIterator[bytes], sink: _fastbody.Sink, advance: Callable[[int], None]
) -> None:
    """httpx's chunks into ``sink``, the writes handed to a worker thread in batches."""
    batch: list[bytes] = []
    batched = 0
    async for chunk in chunks:
        batch.append(chunk)
        batched += len(chunk)
        if batched >= ASYNC_WRITE_BATCH:
            await anyio.to_thread.run_sync(_write_all, sink, batch)
            advance(batched)
            batch, batched = [], 0
    await anyio.to_thread.run_sync(_write_all, sink, batch)
    advance(batched)


def _write_all(sink: _fastbody.Sink, chunks: list[bytes]) -> None:
    for chunk in chunks:
        sink.write(chunk)


def download(
    http: httpx.Client, job_id: str, dest: str | os.PathLike[str], options: DownloadOptions
) -> DownloadResult:
    job = _Download(job_id, dest, options)
    with naming_destination(job.target):
        return _download(http, job, options)


def _download(http: httpx.Client, job: _Download, options: DownloadOptions) -> DownloadResult:
    try:
        while True:
            try:
                with open_stream(
                    http,
                    job.job_id,
                    job.index,
                    headers={**options.extra_headers, **job.request_headers()},
                    params=options.extra_query,
                    extensions=job.extensions,
                    timeout=options.timeout,
                ) as video:
                    job.begin(video)
                    chunks = video.iter_bytes()
                    # The first answer decides: one stream, or parts (_parallel). A probe
                    # that read the start through httpx goes on there; else the fast body.
                    if not job.parallel.take_over(job, video, chunks, http):
                        probed = job.parallel.take_body()
                        if probed is None and video.response.is_stream_consumed:
                            for chunk in chunks:
                                job.writer.write(chunk)
                                job.advance(len(chunk))
                        else:
                            read_body(video, job.writer, job.advance, probed)
                result = job.finish()
                break
            except (APIConnectionError, APIStatusError, _StartOver, _parallel.RangesFailed) as exc:
                options.policy.sleep(job.retry_delay(exc))
    except BaseException as exc:
        job.close(exc)
        raise
    job.close(None)
    return result


async def download_async(
    http: httpx.AsyncClient, job_id: str, dest: str | os.PathLike[str], options: DownloadOptions
) -> DownloadResult:
    job = await anyio.to_thread.run_sync(_Download, job_id, dest, options)
    with naming_destination(job.target):
        return await _download_async(http, job, options)


async def _download_async(
    http: httpx.AsyncClient, job: _Download, options: DownloadOptions
) -> DownloadResult:
    try:
        while True:
            try:
                async with open_async_stream(
                    http,
                    job.job_id,
                    job.index,
                    headers={**options.extra_headers, **job.request_headers()},
                    params=options.extra_query,
                    extensions=job.extensions,
                    timeout=options.timeout,
                ) as video:
                    job.begin(video)
                    chunks = video.iter_bytes()
                    # As in the sync driver: one stream, or parts (_parallel).
                    if not await job.parallel.take_over_async(job, video, chunks, http):
                        probed = job.parallel.take_body()
                        if probed is None and video.response.is_stream_consumed:
                            await _read_rest_async(chunks, job.writer, job.advance)
                        else:
                            await read_body_async(video, job.writer, job.advance, probed)
                result = await anyio.to_thread.run_sync(job.finish)
                break
            except (APIConnectionError, APIStatusError, _StartOver, _parallel.RangesFailed) as exc:
                await options.policy.async_sleep(job.retry_delay(exc))
    except BaseException as exc:
        # Cancelled or not, the file must be parked or removed before we return.
        cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(job.close, exc, cancelled)
        raise
    job.close(None)
    return result
