"""One large video over several connections, with byte ranges, when one connection is slow.

Gateways, CDNs and long paths often cap what a single TCP connection gets; several ranges
in flight add up to what the access link can carry (aria2, huggingface_hub and download
managers do the same). Nothing else about a download changes: the bytes go into the same
temporary file beside ``dest``, which becomes ``dest`` only when whole, of the announced
length, with the right sha256.

How it is decided, without an extra round trip:

- The first request of a download asks ``Range: bytes=0-``. A server without ranges answers
  ``200`` and the body is read as before. A ``206`` naming the total length, with a strong
  validator (ETag, else Last-Modified), says ranges work.
- Automatic mode (``connections=None``) reads the first ``PROBE_BYTES`` on that one
  connection and times them. At ``FAST_SINGLE`` bytes/s or more (loopback, a LAN, an
  uncapped link) it carries on with that connection: one stream is then as fast as several
  and cheaper. Bodies under ``MIN_PARALLEL`` stay on one connection too.
- Otherwise ``DEFAULT_CONNECTIONS`` connections (or ``connections=N``) fetch parts of
  ``part_size`` bytes in file order, each request a run of up to ``RUN_PARTS`` parts with
  ``If-Range``: a video replaced on the server is answered with a ``200`` and never spliced.
  The first connection simply keeps reading the probe's answer.

Defaults, from ``tools/bench_links.py`` (40 ms RTT, 25 MB/s per connection, 200 MB/s link):
8 connections fill such a link (aria2c uses as many), 4 MiB parts keep the requests few
while a dropped connection re-sends at most one part, and the memory per connection is one
read buffer: nothing is held in memory but the chunk being written.

Every part is written with ``os.pwrite`` at its offset. The sha256 follows the contiguous
start of the file as it grows (read back from the page cache, hashed on another core by the
writer's hasher), so the digest is ready when the last part lands. A *parts journal* beside
``dest`` (``.<name>.modelgates-parts``) records which parts are complete, always written
after ``fdatasync`` of the data: after a crash or SIGKILL the next call continues only the
missing parts, and a part that was not completely written is never trusted.

Fallbacks, each logged on the ``modelgates`` logger: a part answered ``200``, with a wrong
``Content-Range`` or with another validator makes the download start over on one
connection (``RangesFailed``); ``429`` halves the connections. Connection errors and
retryable statuses retry the part with the client's ``RetryPolicy`` (a budget per part).

One engine, written once with threads (the part requests block in httpx). The sync driver
runs it directly; the async driver runs it in a worker thread, and the part requests go
back to the event loop through an anyio ``BlockingPortal`` on the async client's pool.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import anyio
import anyio.lowlevel
import anyio.to_thread
from anyio.from_thread import BlockingPortal

from . import _fastbody
from ._errors import APIConnectionError, APIStatusError, InvalidParameterError
from ._retry import RETRY_STATUSES, RetryBudget
from ._stream import open_async_stream, open_stream

if TYPE_CHECKING:
    import httpx

    from ._download import _Download
    from ._stream import _OpenResponse

logger = logging.getLogger("modelgates")

MiB: Final = 1024 * 1024
#: Connections in automatic mode when one is not fast enough.
DEFAULT_CONNECTIONS: Final = 8
#: The most ``connections=`` may ask for: more only burdens the server.
MAX_CONNECTIONS: Final = 32
#: Bytes the first connection reads before automatic mode decides.
PROBE_BYTES: Final = 2 * MiB
#: At this rate (bytes/s) one connection is fast enough: stay on it.
FAST_SINGLE: Final = 128 * MiB
#: Automatic mode splits only bodies with more than this left after the probe: below it,
#: even at 25 MB/s a second connection saves under 2.5 s (and the test emulator, a Python
#: server on a loaded loopback, is sometimes slower than ``FAST_SINGLE``).
MIN_PARALLEL: Final = 64 * MiB
#: Part sizes: ``total / (connections * 8)`` within these bounds.
MAX_PART: Final = 4 * MiB
MIN_PART: Final = 256 * 1024
#: Parts asked for in one request (fewer requests; still one part re-sent per drop).
RUN_PARTS: Final = 4
#: The journal is rewritten at most this often (seconds), and once more at the end.
JOURNAL_INTERVAL: Final = 0.5
#: How long a stop waits for each connection's thread.
_JOIN_SECONDS: Final = 2.0

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class Stopped(Exception):
    """The engine was told to stop (Ctrl-C, cancellation) before every part arrived."""


class RangesFailed(Exception):
    """The server stopped honouring ranges (a 200, a wrong Content-Range, another
    validator): what was fetched in parts is dropped and the download starts over on one
    connection."""


def check_connections(connections: object) -> int | None:
    """``None`` (automatic) or a number of connections from 1 to ``MAX_CONNECTIONS``."""
    if connections is None:
        return None
    if isinstance(connections, bool) or not isinstance(connections, int):
        raise InvalidParameterError(
            f"connections must be an int from 1 to {MAX_CONNECTIONS} or None (automatic), "
            f"not {connections!r}"
        )
    if not 1 <= connections <= MAX_CONNECTIONS:
        raise InvalidParameterError(
            f"connections must be from 1 to {MAX_CONNECTIONS} or None (automatic), "
            f"got {connections}"
        )
    return connections


def journal_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.modelgates-parts")


def parked_path(final: Path) -> Path:
    """Where the data of an interrupted parallel download waits (not a ``.part`` name, so
    no sweep of stale temporaries removes it)."""
    return final.with_name(f".{final.name}.modelgates-parallel")


def part_size_for(total: int, connections: int) -> int:
    size = total // (connections * 8)
    return max(MIN_PART, min(MAX_PART, size - size % (64 * 1024) or MIN_PART))


def _locked_by_another(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    return False


class _Journal:
    """The parts of one parallel download that are complete, on disk beside ``dest``."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.meta = meta

    @classmethod
    def read(cls, final: Path) -> _Journal | None:
        path = journal_path(final)
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        keys = {"job_id", "index", "validator", "total", "content_type", "part_size", "data"}
        if not isinstance(meta, dict) or not keys <= meta.keys():
            return None
        data = meta["data"]
        if not isinstance(data, str) or not data.startswith(".") or "/" in data or data == "..":
            return None  # only ever a hidden file beside dest
        return cls(path, meta)

    def write(self, done: list[int]) -> None:
        """Atomically: a torn journal is never read (the rename is the commit)."""
        self.meta["done"] = _runs(done)
        temp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(self.meta).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, self.path)

    def done(self) -> set[int]:
        parts: set[int] = set()
        for first, last in self.meta.get("done", []):
            parts.update(range(int(first), int(last)))
        return parts

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _runs(parts: list[int]) -> list[list[int]]:
    """``[0, 1, 2, 5]`` as ``[[0, 3], [5, 6]]``: the journal stays small."""
    runs: list[list[int]] = []
    for part in sorted(parts):
        if runs and runs[-1][1] == part:
            runs[-1][1] = part + 1
        else:
            runs.append([part, part + 1])
    return runs


# -- where parts come from -------------------------------------------------------------------


class _Part(Protocol):
    status_code: int
    headers: httpx.Headers

    def chunks(self) -> Iterator[bytes]: ...


class _Source(Protocol):
    """Opens a range request: the sync client directly, the async one through a portal."""

    def open(self, headers: dict[str, str]) -> AbstractContextManager[_Part]: ...

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` where the caller's callbacks belong (progress)."""


class _SyncPart:
    def __init__(self, video: _OpenResponse, chunks: Iterator[bytes]) -> None:
        self.status_code = video.status_code
        self.headers = video.headers
        self._chunks = chunks

    def chunks(self) -> Iterator[bytes]:
        return self._chunks


class SyncSource:
    def __init__(self, http: httpx.Client, job: _Download) -> None:
        self._http = http
        self._job = job

    @contextlib.contextmanager
    def open(self, headers: dict[str, str]) -> Iterator[_Part]:
        job = self._job
        with open_stream(
            self._http,
            job.job_id,
            job.index,
            # The call's extra headers and query go on every part, as on the first request.
            headers={**job.options.extra_headers, **headers},
            params=job.options.extra_query,
            extensions=job.extensions,
            timeout=job.options.timeout,
        ) as video:
            yield _SyncPart(video, video.iter_bytes())

    def call(self, fn: Callable[[], None]) -> None:
        fn()


class _AsyncChunks:
    """An async iterator of chunks, read from a thread through the portal."""

    def __init__(self, portal: BlockingPortal, chunks: AsyncIterator[bytes]) -> None:
        self._portal = portal
        self._chunks = chunks

    async def _next(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self._portal.call(self._next)) is not None:
            yield chunk


class AsyncSource:
    def __init__(self, http: httpx.AsyncClient, job: _Download, portal: BlockingPortal) -> None:
        self._http = http
        self._job = job
        self._portal = portal

    @contextlib.contextmanager
    def open(self, headers: dict[str, str]) -> Iterator[_Part]:
        job = self._job
        stream = open_async_stream(
            self._http,
            job.job_id,
            job.index,
            # The call's extra headers and query go on every part, as on the first request.
            headers={**job.options.extra_headers, **headers},
            params=job.options.extra_query,
            extensions=job.extensions,
            timeout=job.options.timeout,
        )
        with self._portal.wrap_async_context_manager(stream) as video:
            yield _SyncPart(video, iter(_AsyncChunks(self._portal, video.iter_bytes())))

    def call(self, fn: Callable[[], None]) -> None:
        self._portal.call(fn)


# -- the plan: whether, and where ------------------------------------------------------------


class Plan:
    """What one download decided about parallel ranges; ``_Download`` holds one."""

    def __init__(self, final: Path, connections: int | None, resume: bool) -> None:
        self.final = final
        self.connections = connections
        #: Set once ranges failed: the rest of this call is exactly one connection.
        self.off = connections == 1
        self.engine: _Engine | None = None
        self.body: _fastbody.FastBody | None = None  # a probed fast body to read on
        self.resume = resume
        #: Read even when not used (connections=1, resume=False): a success removes it.
        self.journal = _Journal.read(final)

    def probe_headers(self, job: _Download) -> dict[str, str]:
        """The first request's headers: ask for ranges (and, to continue a journal, only
        if the video is still the same one)."""
        if self.off:
            return {}
        journal = self._usable_journal(job)
        if journal is not None:
            return {"Range": "bytes=0-", "If-Range": str(journal.meta["validator"])}
        return {"Range": "bytes=0-"}

    def _usable_journal(self, job: _Download) -> _Journal | None:
        journal = self.journal
        if journal is None or self.off or not self.resume:
            return None
        meta = journal.meta
        if (meta["job_id"], meta["index"]) != (job.job_id, job.index):
            return None
        return journal

    def _eligible(self, job: _Download, video: _OpenResponse) -> int | None:
        """The total length when this answer allows parallel ranges, else None."""
        if self.off or video.status_code != 206 or job.validator is None:
            return None
        match = _CONTENT_RANGE.fullmatch(video.headers.get("content-range", ""))
        if match is None or int(match.group(1)) != 0:
            return None
        total = int(match.group(3))
        if int(match.group(2)) != total - 1:
            return None
        return total

    def _fast_enough(self, received: int, seconds: float) -> bool:
        rate = received / seconds if seconds > 0 else float("inf")
        if rate >= FAST_SINGLE:
            logger.debug("one connection runs at %.0f MiB/s: staying on it", rate / MiB)
            return True
        return False

    def _engine(
        self,
        job: _Download,
        total: int,
        source: _Source,
        first: Iterator[bytes] | None,
        close_first: Callable[[], None],
    ) -> _Engine:
        journal = self._usable_journal(job)
        adopted: Path | None = None
        done: set[int] = set()
        connections = self.connections or DEFAULT_CONNECTIONS
        part_size = part_size_for(total, connections)
        if journal is not None and self._matches(journal, job, total):
            adopted, done = self._adopt(journal)
            if adopted is not None:
                part_size = int(journal.meta["part_size"])
                first = None  # the probe's bytes are (partly) there already
        self.engine = _Engine(job, self, total, part_size, connections, source, first, close_first)
        self.engine.start_file(adopted, done, journal if adopted is not None else None)
        return self.engine

    def _matches(self, journal: _Journal, job: _Download, total: int) -> bool:
        meta = journal.meta
        return (
            meta["validator"] == job.validator
            and meta["total"] == total
            and isinstance(meta["part_size"], int)
            and meta["part_size"] >= MIN_PART
        )

    def _adopt(self, journal: _Journal) -> tuple[Path | None, set[int]]:
        data = self.final.with_name(str(journal.meta["data"]))
        if data == self.final or not data.name.startswith("."):
            return None, set()
        try:
            fd = os.open(data, os.O_RDWR)
        except OSError:
            return None, set()
        try:
            if _locked_by_another(fd):  # a live download owns it
                return None, set()
        finally:
            os.close(fd)
        done = journal.done()
        logger.info(
            "continuing %s in parts: %d parts of a previous download are complete",
            self.final.name,
            len(done),
        )
        return data, done

    # -- the two drivers ---------------------------------------------------------------------

    def take_over(
        self, job: _Download, video: _OpenResponse, chunks: Iterator[bytes], http: httpx.Client
    ) -> bool:
        """After ``job.begin(video)``: True when the whole body was fetched here in parts;
        False to read ``chunks`` on, as a single stream (the probe's bytes are written)."""
        total = self._eligible(job, video)
        if total is None:
            return False
        if (
            self.connections is None
            and total < MIN_PARALLEL + PROBE_BYTES
            and not self._continuing(job)
        ):
            return False  # never split: the body stays on the fast path (_fastbody)
        first: Iterator[bytes] = chunks
        close_first: Callable[[], None] = video.response.close
        if self.connections is None and not self._continuing(job):
            body = _fastbody.open_body(video.response)
            if body is not None:  # the probe reads through the fast body too
                start, first_len = time.monotonic(), -1
                try:
                    # Timed from the first buffer on, so at least one read after it.
                    while not body.done and (
                        job.writer.bytes_written < PROBE_BYTES
                        or job.writer.bytes_written == first_len
                    ):
                        try:
                            body.pump(job.writer)
                        finally:
                            job.advance(body.take_moved())
                        if first_len < 0:
                            start, first_len = time.monotonic(), job.writer.bytes_written
                except BaseException:
                    body.close()
                    raise
                if total - job.writer.bytes_written < MIN_PARALLEL or self._fast_enough(
                    job.writer.bytes_written - first_len, time.monotonic() - start
                ):
                    self.body = body  # the caller reads on through it (read_body)
                    return False
                first, close_first = _fast_chunks(body), body.close
            else:
                start, first_len = time.monotonic(), -1
                for chunk in chunks:
                    if first_len < 0:
                        start, first_len = time.monotonic(), len(chunk)
                    job.writer.write(chunk)
                    job.advance(len(chunk))
                    if job.writer.bytes_written >= PROBE_BYTES:
                        break
                if total - job.writer.bytes_written < MIN_PARALLEL or self._fast_enough(
                    job.writer.bytes_written - first_len, time.monotonic() - start
                ):
                    return False
        elif total < 2 * MIN_PART:
            return False
        self._engine(job, total, SyncSource(http, job), first, close_first).run()
        return True

    async def take_over_async(
        self,
        job: _Download,
        video: _OpenResponse,
        chunks: AsyncIterator[bytes],
        http: httpx.AsyncClient,
    ) -> bool:
        """``take_over`` for the async driver: the same engine, in a worker thread."""
        total = self._eligible(job, video)
        if total is None:
            return False
        if (
            self.connections is None
            and total < MIN_PARALLEL + PROBE_BYTES
            and not self._continuing(job)
        ):
            return False  # never split: the body stays on the fast path (_fastbody)
        body = None
        if self.connections is None and not self._continuing(job):
            body = _fastbody.open_body(video.response)
            if body is not None:  # the probe reads through the fast body too
                start, first_len = time.monotonic(), -1
                try:
                    # Timed from the first buffer on, so at least one read after it.
                    while not body.done and (
                        job.writer.bytes_written < PROBE_BYTES
                        or job.writer.bytes_written == first_len
                    ):
                        try:
                            await anyio.to_thread.run_sync(body.pump, job.writer)
                        finally:
                            job.advance(body.take_moved())
                        if first_len < 0:
                            start, first_len = time.monotonic(), job.writer.bytes_written
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await body.aclose()
                    raise
                if total - job.writer.bytes_written < MIN_PARALLEL or self._fast_enough(
                    job.writer.bytes_written - first_len, time.monotonic() - start
                ):
                    self.body = body  # the caller reads on through it (read_body_async)
                    return False
            else:
                batch: list[bytes] = []
                received, first_len, start = 0, -1, time.monotonic()
                async for chunk in chunks:
                    if first_len < 0:
                        start, first_len = time.monotonic(), len(chunk)
                    batch.append(chunk)
                    received += len(chunk)
                    if received >= PROBE_BYTES:
                        break
                seconds = time.monotonic() - start
                await anyio.to_thread.run_sync(job.writer.write_many, batch)
                job.advance(received)
                if total - received < MIN_PARALLEL or self._fast_enough(
                    received - first_len, seconds
                ):
                    return False
        elif total < 2 * MIN_PART:
            return False
        async with BlockingPortal() as portal:
            source = AsyncSource(http, job, portal)
            response = video.response
            fast = body
            first = iter(_AsyncChunks(portal, chunks)) if fast is None else _fast_chunks(fast)

            def close_first() -> None:
                portal.call(response.aclose if fast is None else fast.aclose)

            engine = await anyio.to_thread.run_sync(
                self._engine, job, total, source, first, close_first
            )
            failure: Exception | None = None
            try:
                # Cancelled, the portal cancels the connections' calls: the engine stops.
                await anyio.to_thread.run_sync(engine.run)
            except Exception as exc:
                await anyio.lowlevel.checkpoint_if_cancelled()  # the cancellation, as such
                failure = exc
        if failure is not None:
            raise failure  # outside the portal, so not wrapped in an exception group
        return True

    def take_body(self) -> _fastbody.FastBody | None:
        """The fast body a probe opened and left for the single stream to go on with."""
        body, self.body = self.body, None
        return body

    def _continuing(self, job: _Download) -> bool:
        journal = self._usable_journal(job)
        return journal is not None and journal.meta["validator"] == job.validator

    # -- the end -----------------------------------------------------------------------------

    def close(self, job: _Download, keep: bool) -> bool:
        """After the last attempt: True when the parallel engine handled the files (the
        writer has nothing left to keep), False when the ordinary single stream did."""
        engine = self.engine
        if engine is None:
            if job.writer.bytes_written and self.journal is not None:
                self._drop_journal()  # a single stream replaced what the journal described
            return False
        engine.release(keep)
        return True

    def finished(self) -> None:
        """The download is in place: what the journal described is of no further use."""
        if self.engine is None:
            self._drop_journal()

    def _drop_journal(self) -> None:
        journal = self.journal
        if journal is None:
            return
        data = self.final.with_name(str(journal.meta.get("data", "")))
        if data.name.startswith(".") and data != self.final:
            with contextlib.suppress(OSError):
                fd = os.open(data, os.O_RDWR)
                try:
                    if not _locked_by_another(fd):
                        data.unlink()
                finally:
                    os.close(fd)
        journal.remove()
        self.journal = None

    def fall_back(self, job: _Download) -> None:
        """Ranges failed: drop the parts, and stay on one connection from now on."""
        self.off = True
        if self.engine is not None:
            self.engine.release(keep=False)
            self.engine = None


# -- the engine ------------------------------------------------------------------------------


class _Engine:
    """Connections fetching parts of one file; the calling thread coordinates.

    The coordinator (``run``) reports progress, hashes the contiguous start and writes the
    journal; each connection thread claims the next run of missing parts in file order.
    All shared state is guarded by ``_lock``; ``_changed`` wakes the coordinator.
    """

    def __init__(
        self,
        job: _Download,
        plan: Plan,
        total: int,
        part_size: int,
        connections: int,
        source: _Source,
        first: Iterator[bytes] | None,
        close_first: Callable[[], None],
    ) -> None:
        self.job = job
        self.plan = plan
        self.total = total
        self.part_size = part_size
        self.parts = -(-total // part_size)
        self.limit = min(connections, self.parts)
        self.source = source
        self._first = first
        self._close_first = close_first
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._state: list[str] = ["missing"] * self.parts  # missing | active | done
        self._error: BaseException | None = None
        self._stopping = False
        self._received = 0  # bytes not yet reported to progress
        self._budgets: dict[int, RetryBudget] = {}
        self._threads: list[threading.Thread] = []
        self._users = 0  # threads that may still pwrite into ``_fd``
        self._close_requested = False
        self._fd = -1
        self.path: Path = job.writer.temp
        self._journal: _Journal | None = None
        self._journaled: set[int] = set()
        self._hashed_to = 0

    # -- the file ----------------------------------------------------------------------------

    def start_file(self, adopted: Path | None, done: set[int], journal: _Journal | None) -> None:
        writer = self.job.writer
        if adopted is not None:
            self.path = adopted
            for part in done:
                if 0 <= part < self.parts:
                    self._state[part] = "done"
            self._journaled = {p for p in done if 0 <= p < self.parts}
            self.job.progress.done = len(self._journaled) * self.part_size
        self._fd = os.open(self.path, os.O_RDWR)
        _locked_by_another(self._fd)  # ours now (or already our writer's)
        if adopted is not None:
            os.ftruncate(self._fd, self.total)
        else:
            # The probe's bytes are in the writer's file already; its part is in flight.
            self._hashed_to = writer.bytes_written
        self._journal = journal or _Journal(
            journal_path(self.plan.final),
            {
                "job_id": self.job.job_id,
                "index": self.job.index,
                "validator": self.job.validator,
                "total": self.total,
                "content_type": self.job.content_type,
                "part_size": self.part_size,
                "data": self.path.name,
            },
        )
        self._journal.meta["data"] = self.path.name
        if self._first is None:
            self._close_first()  # its bytes are in the adopted file
        logger.info(
            "downloading %s over %d connections in %d parts of %d KiB",
            self.plan.final.name,
            self.limit,
            self.parts,
            self.part_size // 1024,
        )

    def release(self, keep: bool) -> None:
        """End of the download's life: park the parts for a later call, or drop them."""
        self.stop()
        writer = self.job.writer
        if keep and self._journal is not None and self._error_is_not_data():
            os.fdatasync(self._fd)
            done = [p for p, s in enumerate(self._state) if s == "done"]
            parked = parked_path(self.plan.final)
            os.replace(self.path, parked)
            self.path = parked
            self._journal.meta["data"] = parked.name
            self._journal.write(done)
            logger.info(
                "kept %d of %d parts of %s for the next download to continue",
                len(done),
                self.parts,
                self.plan.final.name,
            )
        else:
            if self.path != writer.temp:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
            if self._journal is not None:
                self._journal.remove()
        writer.bytes_written = 0  # nothing for the writer to park: it discards its temporary
        self._close_fd()

    def _error_is_not_data(self) -> bool:
        return not isinstance(self._error, RangesFailed)

    def _close_fd(self) -> None:
        """Close the file once no connection thread can write to it any more (a thread
        that did not stop in time closes it as it ends: a closed number could be reused)."""
        with self._lock:
            self._stopping = self._close_requested = True
            if self._users == 0 and self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    # -- coordinating ------------------------------------------------------------------------

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._changed.notify_all()

    def run(self) -> None:
        """Fetch every missing part; raise the first failure that ends the download."""
        first_part = self._claim(0) if self._first is not None else None
        try:
            for worker in range(self.limit):
                run = first_part if worker == 0 else None
                thread = threading.Thread(
                    target=self._connection,
                    args=(worker, run),
                    name=f"modelgates-part-{worker}",
                    daemon=True,
                )
                with self._lock:
                    self._users += 1
                self._threads.append(thread)
                thread.start()
            self._coordinate()
        finally:
            self.stop()
            for thread in self._threads:
                thread.join(_JOIN_SECONDS)
        self._hash_contiguous()
        with self._lock:
            error = self._error
            finished = all(s == "done" for s in self._state)
        if error is not None:
            raise error
        if not finished:
            raise Stopped(f"the download of {self.job.target.name} was stopped")
        os.fdatasync(self._fd)
        if self.path != self.job.writer.temp:
            os.replace(self.path, self.job.writer.temp)
            self.path = self.job.writer.temp
        if self._journal is not None:
            self._journal.remove()
        self._close_fd()
        self.plan.engine = None

    def _coordinate(self) -> None:
        last_journal = time.monotonic()
        while True:
            with self._lock:
                self._changed.wait(0.1)
                finished = all(s == "done" for s in self._state)
                # No connection left while parts are missing would wait forever: stop.
                failed = self._error is not None or self._stopping or self._users == 0
                received, self._received = self._received, 0
                done = [p for p, s in enumerate(self._state) if s == "done"]
            if received:
                self.source.call(functools.partial(self.job.advance, received))
            self._hash_contiguous()
            if finished or failed:
                return
            now = time.monotonic()
            if now - last_journal >= JOURNAL_INTERVAL and set(done) != self._journaled:
                last_journal = now
                os.fdatasync(self._fd)
                assert self._journal is not None
                self._journal.write(done)
                self._journaled = set(done)

    def _hash_contiguous(self) -> None:
        """Hash (and count) the bytes from where the hash stands to the first missing
        part: the writer's hasher sees the file in order."""
        with self._lock:
            end = 0
            for state in self._state:
                if state != "done":
                    break
                end += self.part_size
            end = min(end, self.total)
            fd = self._fd
        writer = self.job.writer
        while self._hashed_to < end:
            block = os.pread(fd, min(MiB, end - self._hashed_to), self._hashed_to)
            if not block:
                raise OSError(f"{self.path} is shorter than the parts written to it")
            writer.account(block)
            self._hashed_to += len(block)

    # -- one connection ----------------------------------------------------------------------

    def _claim(self, worker: int) -> tuple[int, int] | None:
        """The next run of missing parts, in file order, marked active (lock held)."""
        if self._stopping or worker >= self.limit:
            return None
        try:
            first = self._state.index("missing")
        except ValueError:
            return None
        last = first
        while last < self.parts and last - first < RUN_PARTS and self._state[last] == "missing":
            self._state[last] = "active"
            last += 1
        return first, last

    def _connection(self, worker: int, run: tuple[int, int] | None) -> None:
        try:
            while not self._stopping:
                if run is None:
                    with self._lock:
                        run = self._claim(worker)
                    if run is None:
                        return
                run = self._fetch(worker, run)
        except BaseException as exc:
            with self._lock:
                if self._error is None and not self._stopping:
                    self._error = exc
                self._stopping = True
        finally:
            with self._lock:
                if run is not None:
                    self._release_run(run)
                self._users -= 1
                if self._users == 0 and self._close_requested and self._fd >= 0:
                    os.close(self._fd)
                    self._fd = -1
                self._changed.notify_all()

    def _release_run(self, run: tuple[int, int]) -> None:
        for part in range(*run):
            if self._state[part] == "active":
                self._state[part] = "missing"

    def _fetch(self, worker: int, run: tuple[int, int]) -> tuple[int, int] | None:
        """Fetch one run of parts; None when it is done (or handed back), else what is
        left of it to try again."""
        first, last = run
        start, end = first * self.part_size, min(last * self.part_size, self.total)
        try:
            if self._first is not None and first == 0 and worker == 0:
                chunks, self._first = self._first, None
                try:
                    return self._write(run, self.job.writer.bytes_written, end, chunks)
                finally:
                    self._close_first()
            headers = {"Range": f"bytes={start}-{end - 1}", "If-Range": str(self.job.validator)}
            with self.source.open(headers) as part:
                self._check(part, start, end)
                return self._write(run, start, end, part.chunks())
        except (APIConnectionError, APIStatusError) as exc:
            self._retry_later(run, exc)
            with self._lock:
                left = next((p for p in range(first, last) if self._state[p] == "active"), None)
                if left is None:
                    return None
                if worker >= self.limit or self._stopping:
                    self._release_run((left, last))
                    return None
            return left, last

    def _check(self, part: _Part, start: int, end: int) -> None:
        validator = self.job.validator
        if part.status_code != 206:
            etag = part.headers.get("etag") or part.headers.get("last-modified")
            why = (
                "the video changed on the server"
                if etag and etag != validator
                else "the server ignored a range"
            )
            logger.warning("%s: downloading %s again on one connection", why, self.job.target.name)
            raise RangesFailed(why)
        expected = f"bytes {start}-{end - 1}/{self.total}"
        got = part.headers.get("content-range", "")
        if got != expected:
            logger.warning(
                "the server answered range %s with %r: downloading %s again on one connection",
                expected,
                got,
                self.job.target.name,
            )
            raise RangesFailed(f"wrong Content-Range {got!r} for {expected!r}")
        tag = part.headers.get("etag")
        if tag and validator and validator.startswith('"') and tag != validator:
            logger.warning(
                "the video changed on the server: downloading %s again on one connection",
                self.job.target.name,
            )
            raise RangesFailed("the validator changed")

    def _write(
        self, run: tuple[int, int], offset: int, end: int, chunks: Iterator[bytes]
    ) -> tuple[int, int] | None:
        """pwrite the run's bytes from ``offset``; mark each part done as its last byte
        lands (the first connection's first part began with the probe's bytes)."""
        part = run[0]
        for chunk in chunks:
            view = memoryview(chunk)[: end - offset]
            if self._stopping:
                return run
            written = 0
            while written < len(view):
                written += os.pwrite(self._fd, view[written:], offset + written)
            offset += written
            with self._lock:
                self._received += written
                while part < run[1] and min((part + 1) * self.part_size, self.total) <= offset:
                    self._state[part] = "done"
                    self._budgets.pop(part, None)
                    part += 1
                self._changed.notify_all()
            if offset >= end and len(view) < len(chunk):
                return None  # the probe's open-ended answer: the rest is another's
        if offset >= end:
            return None  # read to its end: the connection goes back to the pool
        # The body ended early (the connection closed cleanly): fetch the rest again.
        raise APIConnectionError(f"a part of {self.job.target.name} ended at byte {offset}")

    def _retry_later(self, run: tuple[int, int], exc: Exception) -> None:
        if isinstance(exc, APIStatusError):
            if exc.status_code not in RETRY_STATUSES:
                raise exc
            if exc.status_code == 429:
                with self._lock:
                    if self.limit > 1:
                        self.limit = max(1, self.limit // 2)
                        logger.warning(
                            "HTTP 429 on a part of %s: continuing on %d connections",
                            self.job.target.name,
                            self.limit,
                        )
        with self._lock:
            budget = self._budgets.setdefault(
                run[0],
                RetryBudget(self.job.options.policy, f"part {run[0]} of {self.job.target.name}"),
            )
            reason = f"HTTP {exc.status_code}" if isinstance(exc, APIStatusError) else str(exc)
            delay = budget.next_delay(reason, getattr(exc, "retry_after", None))
        if delay is None:
            raise exc
        self.job.options.policy.sleep(delay)


class _ChunkList(list[bytes]):
    """A fast-body sink that keeps copies of what it is given (``_fast_chunks``)."""

    def write(
        self, chunk: bytes | bytearray | memoryview, release: Callable[[], None] | None = None
    ) -> None:
        self.append(bytes(chunk))
        if release is not None:
            release()


def _fast_chunks(body: _fastbody.FastBody) -> Iterator[bytes]:
    """The rest of a probed fast body as chunks, for the engine's first connection (which
    reads them from its own thread: the fast body's reads block, sync and async alike)."""
    got = _ChunkList()
    while not body.done:
        try:
            body.pump(got)
        finally:
            body.take_moved()
        yield from got
        got.clear()
