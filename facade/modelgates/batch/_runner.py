"""The one batch loop: submit, poll, download, record, for a whole list of requests.

Written once, async, on an ``AsyncVideos`` (``client.videos`` of an ``AsyncModelGates``).
``ModelGates.videos.batch`` is a thin front that runs this same coroutine with ``anyio.run``
on an ``AsyncModelGates`` of the same configuration; there is no second copy of the loop.

Three kinds of task share one ledger (``_ledger``; every call to it runs in one worker
thread at a time, so its fsyncs never stall the event loop and its order is the order of
the awaits):

- the submitter sends planned requests while fewer than ``max_jobs`` are in flight,
  committing ``submitting`` before each POST and the job id as soon as it is answered;
- one poller polls every job in flight each ``poll_interval`` (with jitter);
- ``max_downloads`` download workers fetch every output of each completed job while
  other jobs are still generating, with ``download()``'s own retries and resume.

A 429 (with or without ``Retry-After``) on a create or a poll pauses the whole batch, not
one job: the shared ``_Pace`` holds every request back until the pause is over, and
consecutive 429s double it. 5xx answers and connection errors on polls back off the same
way (the transport has already retried them); on a create they leave the request
``unknown``, since it may have reached the server and been billed.
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict, TypeVar

import anyio
import anyio.to_thread
import attrs
import httpx

from modelgates import (
    APIConnectionError,
    APIStatusError,
    AsyncVideos,
    AuthenticationError,
    InternalServerError,
    InvalidParameterError,
    ModelGatesError,
    NotFoundError,
    RateLimitError,
    VideoJob,
    VideoRequestFields,
)

from ._defaults import DEFAULT_MAX_DOWNLOADS, DEFAULT_MAX_JOBS, DEFAULT_POLL_INTERVAL
from ._input import BatchRequest, RequestSource, in_shard, load_requests, parse_shard
from ._ledger import Ledger, default_ledger
from ._manifest import ManifestWriter
from ._result import (
    COMPLETED,
    DOWNLOADED,
    FAILED,
    IN_FLIGHT,
    PLANNED,
    RUNNING,
    SUBMITTED,
    SUBMITTING,
    UNKNOWN,
    BatchOutput,
    BatchResult,
)

T = TypeVar("T")

#: Polls of one round sent at once (a round with many jobs in flight must not take longer
#: than the interval over a slow link).
POLLS_AT_ONCE = 16
#: The pause after a 429 without Retry-After (doubled for each one in a row, capped).
PAUSE_BASE = 1.0
PAUSE_MAX = 60.0


class BatchOptions(TypedDict, total=False):
    """The keyword options of ``videos.batch`` (see ``run_batch``)."""

    max_jobs: int
    max_downloads: int
    poll_interval: float
    resubmit_unknown: bool
    retry_failed: bool
    shard: str | tuple[int, int] | None
    ledger: str | Path | None
    on_event: Callable[[BatchEvent], None] | None
    checksum: bool
    connections: int | None


@attrs.frozen
class BatchEvent:
    """What a batch reports as it goes (for a display): a request changed ``state``, or
    ``bytes`` more arrived for it, or a ``notice`` for people (a pause, a failed download)."""

    kind: str  # "state", "bytes" or "notice"
    name: str | None = None
    state: str | None = None
    job_id: str | None = None
    cost: float | None = None
    bytes: int = 0
    message: str | None = None
    at: float = attrs.field(factory=time.time)


@attrs.frozen
class _Settings:
    max_jobs: int
    max_downloads: int
    poll_interval: float
    resubmit_unknown: bool
    retry_failed: bool
    shard: tuple[int, int] | None
    ledger: Path | None
    on_event: Callable[[BatchEvent], None] | None
    checksum: bool
    connections: int | None

    @classmethod
    def of(cls, options: dict[str, Any]) -> _Settings:
        unknown = set(options) - set(BatchOptions.__annotations__)
        if unknown:
            raise InvalidParameterError(
                f"unknown batch option {sorted(unknown)[0]!r}; the options are "
                + ", ".join(BatchOptions.__annotations__)
            )
        max_jobs = options.get("max_jobs", DEFAULT_MAX_JOBS)
        max_downloads = options.get("max_downloads", DEFAULT_MAX_DOWNLOADS)
        poll_interval = options.get("poll_interval", DEFAULT_POLL_INTERVAL)
        for name, value in (("max_jobs", max_jobs), ("max_downloads", max_downloads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"{name} must be an int >= 1, not {value!r}")
        if (
            isinstance(poll_interval, bool)
            or not isinstance(poll_interval, int | float)
            or poll_interval <= 0
        ):
            raise InvalidParameterError(f"poll_interval must be > 0, not {poll_interval!r}")
        ledger = options.get("ledger")
        return cls(
            max_jobs=max_jobs,
            max_downloads=max_downloads,
            poll_interval=float(poll_interval),
            resubmit_unknown=bool(options.get("resubmit_unknown", False)),
            retry_failed=bool(options.get("retry_failed", False)),
            shard=parse_shard(options.get("shard")),
            ledger=Path(ledger).expanduser() if ledger is not None else None,
            on_event=options.get("on_event"),
            # Checked by download() itself, before any byte is sent.
            checksum=options.get("checksum", True),
            connections=options.get("connections"),
        )


class _Pace:
    """One pause for the whole batch: set by a 429 (or a failing server), awaited before
    every create and every poll round."""

    def __init__(self) -> None:
        self._resume_at = 0.0
        self._streak = 0

    async def wait(self) -> None:
        while (delay := self._resume_at - time.monotonic()) > 0:
            await anyio.sleep(delay)

    def slow_down(self, retry_after: float | None) -> float:
        self._streak += 1
        if retry_after is None:
            ceiling = min(PAUSE_MAX, PAUSE_BASE * 2 ** (self._streak - 1))
            delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter
        else:
            delay = min(retry_after, PAUSE_MAX * 2)
        self._resume_at = max(self._resume_at, time.monotonic() + delay)
        return delay

    def went_well(self) -> None:
        self._streak = 0


class _Signal:
    """Wakes whoever waits for "something changed" (a job left flight, the submitter ended)."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = anyio.Event()

    async def wait(self) -> None:
        await self._event.wait()


class _LedgerCalls:
    """The ledger, called from async code: one worker thread at a time, in await order.

    The limiter keeps the event loop from piling threads onto the ledger; correctness does
    not rest on it (anyio's asyncio limiter has over-granted under cancellation): the
    ledger's own lock makes each call one step."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._limiter = anyio.CapacityLimiter(1)

    async def __call__(self, call: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(call, *args, limiter=self._limiter)


def output_path(directory: Path, name: str, index: int) -> Path:
    """``<name>.mp4``, and ``<name>-<index>.mp4`` for a job's further outputs."""
    return directory / (f"{name}.mp4" if index == 0 else f"{name}-{index}.mp4")


def _sweep_temporaries(directory: Path, names: set[str]) -> None:
    """Remove download temporaries a killed run left for this batch's files at once,
    rather than after ``download()``'s idle time: the ledger lock is held, so no other
    batch writes them, and a temporary whose writer still holds its flock is left alone."""
    pattern = re.compile(r"\.(?P<stem>.+?)(?:-\d+)?\.mp4\.[^.]+\.part")
    for path in directory.glob(".*.part"):
        match = pattern.fullmatch(path.name)
        if match is None or match["stem"] not in names:
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink(missing_ok=True)
        except OSError:
            continue  # a live writer holds it
        finally:
            os.close(fd)


#: What ``videos.create`` takes as keywords: the rest of a line goes in ``extra_body``.
_CREATE_KEYWORDS = frozenset({"model", "prompt", *VideoRequestFields.__annotations__})


def create_arguments(fields: dict[str, Any]) -> dict[str, Any]:
    """A line's fields as ``videos.create`` arguments: the typed ones as keywords, any
    other (a field a newer API added) in ``extra_body``, so a batch line may carry it."""
    arguments = {k: v for k, v in fields.items() if k in _CREATE_KEYWORDS}
    extra = {k: v for k, v in fields.items() if k not in _CREATE_KEYWORDS}
    if extra:
        arguments["extra_body"] = extra
    return arguments


def _not_sent(exc: APIConnectionError) -> bool:
    """A connection error that means the POST never left (so nothing was billed)."""
    return isinstance(exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """What stopped the batch, as itself (a rejected key raises AuthenticationError, not a
    group around it): the first error that is not a knock-on cancellation."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    cancelled = anyio.get_cancelled_exc_class()
    return next((e for e in leaves if not isinstance(e, cancelled)), leaves[0])


class _Run:
    """The state of one batch run."""

    def __init__(
        self,
        videos: AsyncVideos,
        calls: _LedgerCalls,
        directory: Path,
        requests: dict[str, BatchRequest],
        settings: _Settings,
        manifest: ManifestWriter,
    ) -> None:
        self.videos = videos
        self.calls = calls
        self.ledger = calls.ledger
        self.directory = directory
        self.requests = requests
        self.settings = settings
        self.manifest = manifest
        self.pace = _Pace()
        self.changed = _Signal()
        self.in_flight: dict[str, str] = {}  # name -> job id
        self.planned: list[str] = []
        self.submitter_done = False
        #: The ledger state of each job in flight (submitted or running).
        self.ledger_state: dict[str, str] = {}
        self.downloads_in, self.downloads_out = anyio.create_memory_object_stream[tuple[str, str]](
            max_buffer_size=float("inf")
        )

    def event(self, event: BatchEvent) -> None:
        if self.settings.on_event is not None:
            self.settings.on_event(event)

    async def record(
        self, call: Callable[..., None], name: str, state: str, *args: Any, **event: Any
    ) -> None:
        """One ledger transition, then the manifest and the display hear of it."""
        await self.calls(call, name, *args)
        self.manifest.changed()
        self.event(BatchEvent("state", name=name, state=state, **event))

    # -- submitting ------------------------------------------------------------------------

    async def submit_all(self) -> None:
        try:
            while self.planned:
                while len(self.in_flight) >= self.settings.max_jobs:
                    await self.changed.wait()
                await self.pace.wait()
                await self.submit(self.planned.pop(0))
        finally:
            self.submitter_done = True
            self.changed.notify()

    async def submit(self, name: str) -> None:
        request = self.requests[name]
        await self.record(self.ledger.submitting, name, SUBMITTING)
        try:
            job = await self.videos.create(**create_arguments(request.fields))
        except RateLimitError as exc:
            await self.record(self.ledger.not_sent, name, PLANNED)
            self.planned.insert(0, name)
            delay = self.pace.slow_down(exc.retry_after)
            self.event(BatchEvent("notice", message=f"rate limited (429): pausing {delay:.1f} s"))
        except AuthenticationError:
            await self.record(self.ledger.not_sent, name, PLANNED)
            raise
        except APIConnectionError as exc:
            if not _not_sent(exc):
                await self.record(self.ledger.unknown, name, UNKNOWN, str(exc), message=str(exc))
                return
            await self.record(self.ledger.not_sent, name, PLANNED)
            self.planned.insert(0, name)
            delay = self.pace.slow_down(None)
            self.event(BatchEvent("notice", message=f"{exc}: pausing {delay:.1f} s"))
        except InternalServerError as exc:
            # The server failed while handling a billed request: it may exist.
            await self.record(self.ledger.unknown, name, UNKNOWN, str(exc), message=str(exc))
            self.pace.slow_down(exc.retry_after)
        except (APIStatusError, InvalidParameterError) as exc:
            # Refused (400, 402, ...): no job was made; --retry-failed tries again.
            await self.record(self.ledger.failed, name, FAILED, str(exc), message=str(exc))
        else:
            self.pace.went_well()
            self.in_flight[name] = job.id
            self.ledger_state[name] = SUBMITTED
            await self.record(self.ledger.submitted, name, SUBMITTED, job.id, job_id=job.id)
            self.changed.notify()  # the poller may be waiting for a first job

    # -- polling ---------------------------------------------------------------------------

    async def poll_all(self) -> None:
        interval = self.settings.poll_interval
        while True:
            if not self.in_flight:
                if self.submitter_done:
                    return
                await self.changed.wait()
                continue
            await anyio.sleep(interval * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
            await self.pace.wait()
            limiter = anyio.CapacityLimiter(POLLS_AT_ONCE)
            async with anyio.create_task_group() as group:
                for name, job_id in list(self.in_flight.items()):
                    group.start_soon(self.poll, name, job_id, limiter)

    async def poll(self, name: str, job_id: str, limiter: anyio.CapacityLimiter) -> None:
        async with limiter:
            await self.pace.wait()
            try:
                job = await self.videos.get(job_id)
            except NotFoundError as exc:
                await self.finished(name)
                await self.record(self.ledger.failed, name, FAILED, str(exc), message=str(exc))
                return
            except (RateLimitError, InternalServerError) as exc:
                delay = self.pace.slow_down(exc.retry_after)
                self.event(BatchEvent("notice", message=f"{exc}: pausing {delay:.1f} s"))
                return
            except APIConnectionError as exc:
                delay = self.pace.slow_down(None)
                self.event(BatchEvent("notice", message=f"{exc}: pausing {delay:.1f} s"))
                return
        self.pace.went_well()
        await self.seen(name, job)

    async def seen(self, name: str, job: VideoJob) -> None:
        if job.status == "completed":
            await self.finished(name)
            await self.record(
                self.ledger.completed, name, COMPLETED, job.output_count, job.cost, cost=job.cost
            )
            await self.downloads_in.send((name, job.id))
        elif job.is_terminal:
            await self.finished(name)
            error = job.error or f"the job ended {job.status}"
            await self.record(self.ledger.failed, name, FAILED, error, job.cost, cost=job.cost)
        elif job.status != "pending" and self.ledger_state.get(name) == SUBMITTED:
            self.ledger_state[name] = RUNNING
            await self.record(self.ledger.running, name, RUNNING)

    async def finished(self, name: str) -> None:
        self.in_flight.pop(name, None)
        self.ledger_state.pop(name, None)
        self.changed.notify()

    # -- downloading -----------------------------------------------------------------------

    async def download_worker(self) -> None:
        """One of ``max_downloads``: takes completed jobs until the pollers are done."""
        async for name, job_id in self.downloads_out:
            await self.download(name, job_id)

    async def download(self, name: str, job_id: str) -> None:
        count = await self.calls(self.ledger.output_count, name) or 1
        done = await self.calls(self.ledger.recorded_outputs, name)
        for index in range(count):
            if index in done:
                continue
            progress = self._progress(name)
            try:
                result = await self.videos.download(
                    job_id,
                    output_path(self.directory, name, index),
                    index=index,
                    overwrite=True,  # an unrecorded file here is this batch's, from a killed run
                    on_progress=progress,
                    checksum=self.settings.checksum,
                    connections=self.settings.connections,
                )
            except (ModelGatesError, OSError) as exc:
                message = f"{name}: download of output {index} failed: {exc}"
                await self.calls(self.ledger.download_error, name, message)
                self.manifest.changed()
                self.event(BatchEvent("notice", name=name, message=message))
                return
            output = BatchOutput(result.path, result.bytes_written, result.sha256)
            await self.calls(self.ledger.output, name, index, output)
            self.manifest.changed()
        await self.record(self.ledger.downloaded, name, DOWNLOADED)

    def _progress(self, name: str) -> Callable[[int, int | None], None]:
        seen = 0

        def report(done: int, total: int | None) -> None:
            nonlocal seen
            if done > seen:
                self.event(BatchEvent("bytes", name=name, bytes=done - seen))
                seen = done

        return report

    # -- the whole run ---------------------------------------------------------------------

    async def run(self) -> None:
        items = await self.calls(self.ledger.items)
        downloads: list[tuple[str, str]] = []
        for item in items:
            self.event(
                BatchEvent(
                    "state",
                    name=item.name,
                    state=item.state,
                    job_id=item.job_id,
                    cost=item.cost,
                    at=item.submitted_at or time.time(),
                )
            )
            if item.name not in self.requests:
                continue  # a line no longer in the input: kept as it is
            if item.state == PLANNED:
                self.planned.append(item.name)
            elif item.state in IN_FLIGHT and item.job_id is not None:
                self.in_flight[item.name] = item.job_id
                self.ledger_state[item.name] = item.state
            elif item.state == COMPLETED and item.job_id is not None:
                downloads.append((item.name, item.job_id))
        for pending in downloads:
            await self.downloads_in.send(pending)
        with self.downloads_in, self.downloads_out:
            await self._run_tasks()

    async def _run_tasks(self) -> None:
        async with anyio.create_task_group() as group:
            for _ in range(self.settings.max_downloads):
                group.start_soon(self.download_worker)
            async with anyio.create_task_group() as jobs:
                jobs.start_soon(self.submit_all)
                jobs.start_soon(self.poll_all)
            self.downloads_in.close()


async def run_batch(
    videos: AsyncVideos,
    requests: RequestSource,
    directory: str | os.PathLike[str],
    **options: Any,
) -> BatchResult:
    """Make a video for every request, once: see ``AsyncVideos.batch``."""
    settings = _Settings.of(options)
    loaded = await anyio.to_thread.run_sync(load_requests, requests)
    chosen = {r.name: r for r in loaded if in_shard(r.name, settings.shard)}
    target = Path(os.fspath(directory)).expanduser()
    await anyio.to_thread.run_sync(lambda: target.mkdir(parents=True, exist_ok=True))
    ledger_path = settings.ledger or default_ledger(target)
    ledger = await anyio.to_thread.run_sync(Ledger, ledger_path)
    calls = _LedgerCalls(ledger)
    manifest = ManifestWriter(target / "manifest.jsonl", lambda: calls(ledger.items))
    try:
        changes = await calls(ledger.sync_input, list(chosen.values()))
        run = _Run(videos, calls, target, chosen, settings, manifest)
        for name in await calls(ledger.recover):
            run.event(
                BatchEvent(
                    "notice",
                    name=name,
                    message=f"{name}: unknown (sent, answer never recorded; maybe billed)",
                )
            )
        if settings.retry_failed:
            await calls(ledger.requeue, FAILED, list(chosen))
        if settings.resubmit_unknown:
            await calls(ledger.requeue, UNKNOWN, list(chosen))
        await anyio.to_thread.run_sync(_sweep_temporaries, target, set(chosen))
        try:
            async with manifest.running():
                await run.run()
        except BaseExceptionGroup as group:
            raise _first_error(group) from None
        items = await calls(ledger.items)
    finally:
        await anyio.to_thread.run_sync(ledger.close)
    return BatchResult(
        items=tuple(item for item in items if item.name in chosen),
        directory=target,
        ledger=ledger_path,
        manifest=manifest.path,
        missing=changes.missing,
    )
