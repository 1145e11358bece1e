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
  connection and times them, waiting no longer than they take at ``FAST_SINGLE``. At that
  rate or more (loopback, a LAN, an uncapped link) it carries on with that connection: one
  stream is then as fast as several and cheaper. Bodies under ``MIN_PARALLEL`` stay on one
  connection too.
- Otherwise ``DEFAULT_CONNECTIONS`` connections (``download_all`` shares them out among the
  downloads it runs at once: ``shared_out``; or ``connections=N``) fetch the rest in
  runs of up to ``RUN_BYTES``, claimed in file order, each one request with ``If-Range``: a
  video replaced on the server is answered with a ``200`` and never spliced. Beside them,
  the probe's connection keeps reading its answer for the first run, then ends: that
  answer (``bytes=0-``) is cut short, so its socket cannot carry another, and a new one
  would start slow while the others run warm (on the link: a dip of about 30 ms of
  transfer; with the probe beside the others, median of 5, 163.0 -> 165.2 MB/s). So
  ``connections=N`` means N connections, and N + 1 while the first run lasts (what is
  missing is then shared out N + 1 ways; a broken probe connection finishes its run on
  a new socket, unless a ``429`` lowered the number).
- A connection asks for its next run on a socket already open (keep-alive: each answer is
  read to its end, so httpx's pool keeps the socket): a new TCP connection starts with a
  small window that takes several round trips to open (slow start), an open one carries on
  at full speed. On a plain-HTTP socket that ``_fastbody`` reads, it even asks before the
  current answer ends (HTTP/1.1 pipelining, ``PIPELINE_AHEAD``), so the next answer
  follows with no round trip between them; an answer to such a request that is not the
  exact ``206`` is dealt with as usual (a ``429`` halves the connections, a ``200`` falls
  back to one), and one that never comes turns pipelining off for the download. So a
  download uses about one socket per connection, as aria2c does, not one per run; the
  probe's socket (``bytes=0-``, cut short) and those of answers cut short by a taken tail
  are closed.
- A connection with nothing left to claim takes the second half of the longest run still
  in flight (``MIN_STEAL``), so the connections finish together rather than one of them
  finishing a long tail alone; one whose socket is gone takes only a long tail
  (``MIN_COLD_STEAL``: a new socket starts slow).

Defaults, from ``tools/bench_links.py`` (40 ms RTT with slow start, 25 MB/s per
connection, 200 MB/s link; ``docs/benchmarks-links.md``): 8 connections fill such a link
(aria2c uses as many). Runs in file order keep the contiguous start, which the sha256 must
follow, close behind the newest byte; with one even share per connection the last 7/8 of
the file would be hashed after the last byte (0.25 s per 512 MiB here). Runs of 16 MiB
weigh the round trip between runs (the connections started together pause together: the
link's throughput dips for a round trip at each boundary) against what is left to hash
when the last runs end together (8, 16, 32 and 64 MiB with 4 MiB parts: 140, 147, 145 and
143 MB/s, same run; aria2c 178; again with 1 MiB parts: 147, 148 and 143 for 16, 32 and
64 MiB, and without the sha256 153 and 156 for 16 and 64: the round trips cost less than
the hash's CPU on two cores). The contiguous start moves only as fast as the oldest run in
flight, one connection's rate: a run asked for ahead as a full share of what is missing
was still going when the later, smaller ones had ended, and the ~110 MiB between them
were hashed after the last byte (0.15 s). Asked for ahead, a run is half an even share
(``AHEAD_SHARES``): each ends before the ones claimed after it, and the digest is ready
with the last byte (pipelined, a shorter run costs no round trip; median of 5,
interleaved: 157.7 MB/s with whole shares, 164.6 with halves, 165.2 with thirds, 166.3
with halves and no sha256; aria2c 179.2). A fresh socket per run, each answer read by
``_fastbody`` and closed, got 106-111 MB/s on that link: 64 slow starts. Each part's
answer is read by ``_fastbody`` too (``recv_into`` into receive buffers the connections
share, no ``bytes`` per chunk), and read to its end it hands its socket back to the pool
for the next run.
Parts of up to 1 MiB are the journal's grain (what a crash can lose) and that of the tails
taken at the end; a broken connection asks again from the exact byte it reached, so a drop
re-sends nothing that arrived. The memory per connection is one receive buffer of a MiB,
and the hash reads back into 4 more (``HASH_BUFFERS``): what a download holds does not
grow with the file.

Every part is written with ``os.pwrite`` at its offset. The sha256 follows the contiguous
start of the file as it grows (read back from the page cache, hashed on another core by the
writer's hasher), so the digest is ready when the last part lands. A *parts journal* beside
``dest`` (``.<name>.modelgates-parts``) records which parts are complete, always written
after ``fdatasync`` of the data: after a crash or SIGKILL the next call continues only the
missing parts, and a part that was not completely written is never trusted. With
``connections=1`` the next call continues from the journal's contiguous start instead, on
one connection.

Fallbacks, each logged on the ``modelgates`` logger: a part answered ``200`` or with a wrong
``Content-Range`` makes the download go on over one connection from the contiguous start
of the parts; another validator (the video changed) starts it over on one connection
(``RangesFailed``); ``429`` halves the connections. Connection errors and retryable
statuses retry the part with the client's ``RetryPolicy`` (a budget per part).

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
from ._errors import APIConnectionError, APIStatusError, InvalidParameterError, status_error
from ._retry import RETRY_STATUSES, RetryBudget
from ._stream import open_async_stream, open_stream

if TYPE_CHECKING:
    import httpx

    from ._download import _Download
    from ._stream import AsyncVideoStream, VideoStream, _OpenResponse

logger = logging.getLogger("modelgates")

MiB: Final = 1024 * 1024
#: Connections in automatic mode when one is not fast enough.
DEFAULT_CONNECTIONS: Final = 8
#: The most ``connections=`` may ask for: more only burdens the server.
MAX_CONNECTIONS: Final = 32
#: Bytes the first connection reads before automatic mode decides.
PROBE_BYTES: Final = MiB
#: At this rate (bytes/s) one connection is fast enough: stay on it. The probe waits no
#: longer than ``PROBE_BYTES`` take at this rate: a connection still short of them then is
#: slower (on a long path, often because its window is still opening), and the other
#: connections start at once instead of after a slow first MiB (0.25 s at 40 ms RTT).
FAST_SINGLE: Final = 128 * MiB
#: Automatic mode splits only bodies with more than this left after the probe: below it,
#: even at 25 MB/s a second connection saves under 2.5 s (and the test emulator, a Python
#: server on a loaded loopback, is sometimes slower than ``FAST_SINGLE``).
MIN_PARALLEL: Final = 64 * MiB
#: Part sizes: ``total / (connections * 8)`` within these bounds.
MAX_PART: Final = MiB
MIN_PART: Final = 256 * 1024
#: A connection with nothing left takes the second half of another's tail (the whole parts
#: after the one being written) when that tail is two parts or more and at least this
#: long: the new request costs a round trip, and the other connection its socket (its
#: answer is cut short), so the next one it opens starts slow.
MIN_STEAL: Final = 512 * 1024
#: The same for a connection whose socket is gone (its last answer was cut short, or
#: broke): its next request opens a new one, which starts slow (TCP's slow start: a few
#: hundred KiB in its first five round trips), so only a long tail is worth taking.
MIN_COLD_STEAL: Final = 8 * MiB
#: The most one request asks for: runs in file order keep the contiguous start (what the
#: sha256 has seen) close behind the newest byte, so the hash is done soon after the bytes
#: are; each run costs its connection one round trip (module docstring: measured sizes).
RUN_BYTES: Final = 16 * MiB
#: A run asked for ahead (pipelined) is at most 1/``AHEAD_SHARES`` of an even share of
#: what is missing, so that it ends before the runs claimed after it: the contiguous start,
#: which the sha256 follows, is never left behind by one long run at the end.
AHEAD_SHARES: Final = 2
#: Blocks of a MiB read back for the sha256 at once: what the hasher may lag behind.
HASH_BUFFERS: Final = 4
#: A connection asks for its next run on the same socket this many bytes before the
#: current answer ends (HTTP/1.1 pipelining: ``_Engine._read_runs``), so that the next
#: answer follows without a round trip; at 25 MB/s, 4 MiB is 170 ms, more than most round
#: trips. 0: one request at a time.
PIPELINE_AHEAD: Final = 4 * MiB
#: The longest wait for the answer to a request asked for ahead (a server that ignores
#: such requests must not hold a connection for ever, even without a read timeout).
PIPELINE_WAIT: Final = 30.0
#: The journal is rewritten at most this often (seconds), and once more at the end.
JOURNAL_INTERVAL: Final = 0.5
#: How long a stop waits for the connections' threads.
_JOIN_SECONDS: Final = 2.0

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class Stopped(Exception):
    """The engine was told to stop (Ctrl-C, cancellation) before every part arrived."""


class RangesFailed(Exception):
    """The server stopped honouring ranges (a 200, a wrong Content-Range, another
    validator): the download goes on over one connection, from the contiguous start of
    what the parts fetched when the video is still the same one (``changed`` False), from
    byte 0 when it changed."""

    def __init__(self, why: str, *, changed: bool) -> None:
        super().__init__(why)
        self.changed = changed


def shared_out(at_once: int) -> int:
    """The most connections automatic mode gives each of ``at_once`` downloads that run
    together (``download_all``): ``DEFAULT_CONNECTIONS`` in all, as one download gets. More
    would cut the same link finer, and on a fast link spend the CPU that the downloads need
    (8 outputs on loopback, 2 cores: split ones ran at half the speed of single ones)."""
    return max(1, DEFAULT_CONNECTIONS // max(1, at_once))


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


class _Enough(Exception):
    """A part's sink has all it wants (its run ended, was shortened by another connection
    taking its tail, or the engine is stopping): stop reading that body."""


class _Body(Protocol):
    """One response body, read into a sink from a connection's own thread."""

    def read(self, sink: _RunSink) -> None:
        """Everything, or until ``sink`` raises ``_Enough``."""

    def close(self) -> bool:
        """End it; True when its connection went back to the pool, open (a body read to
        its end), False when it was closed."""
        ...


class _FastPartBody:
    """A body through ``_fastbody``: one ``recv_into`` per MiB into one reused buffer,
    straight to ``os.pwrite``, no chunk ever copied into a ``bytes`` (so no allocation per
    chunk either: the connection threads' malloc arenas stay small, and memory flat). Read
    to its end, its connection goes back to the pool for the next part (``hand_back``);
    cut short, it is closed."""

    def __init__(
        self,
        body: _fastbody.FastBody,
        close: Callable[[], None],
        hand_back: Callable[[], bool] | None = None,
    ) -> None:
        self._body = body
        self._close = close
        self._hand_back = hand_back

    @property
    def fast(self) -> _fastbody.FastBody:
        return self._body

    def close(self) -> bool:
        if self._hand_back is not None and self._body.done and self._hand_back():
            return True
        return self.discard()

    def discard(self) -> bool:
        """Close the connection whatever state the body is in (the server said it closes)."""
        self._close()
        return False

    def read(self, sink: _RunSink) -> None:
        body = self._body
        while not body.done:
            body.pump(sink)
            body.take_moved()  # the sink counts for itself
            sink.check()  # a slice may end without a byte: the engine may be stopping


class _ChunkBody:
    """A body through httpx (``iter_bytes``): every part request, and a first answer that
    the fast body does not take (TLS, proxies)."""

    def __init__(
        self, chunks: Iterator[bytes], close: Callable[[], None], length: int | None = None
    ) -> None:
        self._chunks = chunks
        self._close = close
        self._length = length
        self._ended = False  # read to the end of the message: httpx pools the connection

    def close(self) -> bool:
        self._close()
        return self._ended

    def read(self, sink: _RunSink) -> None:
        taken = 0
        try:
            for chunk in self._chunks:
                taken += len(chunk)
                sink.write(chunk)
            self._ended = True
        except _Enough:
            if taken == self._length:
                # The run ended with the body: read on to its end (nothing is left), so
                # the connection goes back to the pool for the next part, its window open.
                # A failure here, or more bytes than announced, only costs that reuse.
                with contextlib.suppress(APIConnectionError):
                    self._ended = not any(self._chunks)
            raise


class _Part(Protocol):
    status_code: int
    headers: httpx.Headers
    #: What httpx sent (its auth flow done): a request written ahead copies it.
    request: httpx.Request

    def body(self, buffers: _fastbody.Buffers) -> _Body:
        """The body, read into ``buffers`` (shared by the connections, one each at a time)
        when it takes the fast path."""
        ...


class _Answer:
    """The status and headers of an answer read by ``_fastbody.NextAnswer`` (for
    ``_Engine._check``)."""

    def __init__(self, status_code: int, headers: httpx.Headers) -> None:
        self.status_code = status_code
        self.headers = headers


class _Source(Protocol):
    """Opens a range request: the sync client directly, the async one through a portal."""

    def open(self, headers: dict[str, str]) -> AbstractContextManager[_Part]: ...

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` where the caller's callbacks belong (progress)."""


def _nothing() -> None:
    pass


class _SyncPart:
    def __init__(self, video: VideoStream) -> None:
        self.status_code = video.status_code
        self.headers = video.headers
        self.request = video.response.request
        self._video = video

    def body(self, buffers: _fastbody.Buffers) -> _Body:
        fast = _fastbody.open_body(self._video.response, buffers)
        if fast is not None:
            return _FastPartBody(fast, fast.close, fast.hand_back)
        return _ChunkBody(self._video.iter_bytes(), _nothing, self._video.content_length)


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
            yield _SyncPart(video)

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


class _AsyncPart:
    def __init__(self, video: AsyncVideoStream, portal: BlockingPortal) -> None:
        self.status_code = video.status_code
        self.headers = video.headers
        self.request = video.response.request
        self._video = video
        self._portal = portal

    def body(self, buffers: _fastbody.Buffers) -> _Body:
        """The fast body (read in this thread from a duplicate of the socket, handed back
        on the event loop's thread), else httpx's chunks, each fetched through the portal."""
        portal = self._portal
        fast = portal.call(_fastbody.open_body, self._video.response, buffers)
        if fast is not None:
            return _FastPartBody(
                fast,
                functools.partial(portal.call, fast.aclose),
                functools.partial(portal.call, fast.hand_back),
            )
        chunks = iter(_AsyncChunks(self._portal, self._video.iter_bytes()))
        return _ChunkBody(chunks, _nothing, self._video.content_length)


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
            yield _AsyncPart(video, self._portal)

    def call(self, fn: Callable[[], None]) -> None:
        self._portal.call(fn)


class _ProbeClock:
    """The probe's rate: the bytes since the answer's headers arrived, over the time since
    (the body follows the headers in the same flight, so no round trip is in it). The
    probe ends at ``PROBE_BYTES`` or once they can no longer come at ``FAST_SINGLE``."""

    def __init__(self) -> None:
        self.received = 0
        self._start = time.monotonic()

    def tick(self, received: int) -> None:
        self.received = received

    def seconds_left(self) -> float:
        return self._start + PROBE_BYTES / FAST_SINGLE - time.monotonic()

    def wants_more(self) -> bool:
        return self.received < PROBE_BYTES and self.seconds_left() > 0

    def slice(self) -> float:
        """How long the next read of the probe may wait (never 0: that is no limit)."""
        return max(self.seconds_left(), 1e-6)

    def rate(self) -> float:
        seconds = time.monotonic() - self._start
        return self.received / seconds if seconds > 0 else float("inf")


# -- the plan: whether, and where ------------------------------------------------------------


class Plan:
    """What one download decided about parallel ranges; ``_Download`` holds one."""

    def __init__(
        self,
        final: Path,
        connections: int | None,
        resume: bool,
        auto_connections: int = DEFAULT_CONNECTIONS,
    ) -> None:
        self.final = final
        self.connections = connections
        #: The most connections automatic mode uses (``shared_out``).
        self.auto_connections = auto_connections
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

    def _engine(
        self,
        job: _Download,
        total: int,
        source: _Source,
        first: _Body,
    ) -> _Engine:
        journal = self._usable_journal(job)
        adopted: Path | None = None
        done: set[int] = set()
        connections = self.connections or self.auto_connections
        part_size = part_size_for(total, connections)
        if journal is not None and self._matches(journal, job, total):
            adopted, done = self._adopt(journal)
            if adopted is not None:
                part_size = int(journal.meta["part_size"])
        self.engine = _Engine(job, self, total, part_size, connections, source, first)
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

    def _data_file(self, journal: _Journal) -> Path | None:
        """The journal's data file, when it is a hidden file beside ``dest`` that no live
        download holds."""
        data = self.final.with_name(str(journal.meta["data"]))
        if data == self.final or not data.name.startswith("."):
            return None
        try:
            fd = os.open(data, os.O_RDWR)
        except OSError:
            return None
        try:
            if _locked_by_another(fd):  # a live download owns it
                return None
        finally:
            os.close(fd)
        return data

    def _adopt(self, journal: _Journal) -> tuple[Path | None, set[int]]:
        data = self._data_file(journal)
        if data is None:
            return None, set()
        done = journal.done()
        logger.info(
            "continuing %s in parts: %d parts of a previous download are complete",
            self.final.name,
            len(done),
        )
        return data, done

    # -- the two drivers ---------------------------------------------------------------------

    def _mode(self, job: _Download, video: _OpenResponse) -> tuple[int, bool] | None:
        """None to read the first answer as one stream; else the total length, and whether
        automatic mode must first time a probe."""
        total = self._eligible(job, video)
        if total is None:
            return None
        if self.connections is None and not self._continuing(job):
            if total < MIN_PARALLEL + PROBE_BYTES or self.auto_connections < 2:
                return None  # never split: the body stays on the fast path (_fastbody)
            return total, True
        if total < 2 * MIN_PART:
            return None
        return total, False

    def _stay_single(self, total: int, clock: _ProbeClock) -> bool:
        """After the probe: one connection is enough (little left, or fast already)."""
        if total - clock.received < MIN_PARALLEL:
            return True
        rate = clock.rate()
        if rate >= FAST_SINGLE:
            logger.debug("one connection runs at %.0f MiB/s: staying on it", rate / MiB)
            return True
        return False

    def take_over(
        self, job: _Download, video: VideoStream, chunks: Iterator[bytes], http: httpx.Client
    ) -> bool:
        """After ``job.begin(video)``: True when the whole body was fetched here in parts;
        False to read on as a single stream (the probe's bytes are written; a fast body it
        opened waits in ``take_body``)."""
        clock = _ProbeClock()  # timed from the headers on
        mode = self._mode(job, video)
        if mode is None:
            return False
        total, probe = mode
        body = _fastbody.open_body(video.response)
        if probe:
            if body is not None:  # the probe reads through the fast body too
                try:
                    while not body.done and clock.wants_more():
                        try:
                            body.pump(job.writer, clock.slice())
                        finally:
                            job.advance(body.take_moved())
                        clock.tick(job.writer.bytes_written)
                except BaseException:
                    body.close()
                    raise
                if self._stay_single(total, clock):
                    self.body = body  # the caller reads on through it (read_body)
                    return False
            else:
                for chunk in chunks:
                    job.writer.write(chunk)
                    job.advance(len(chunk))
                    clock.tick(job.writer.bytes_written)
                    if not clock.wants_more():
                        break
                if self._stay_single(total, clock):
                    return False
        first: _Body = (
            _ChunkBody(chunks, video.response.close)
            if body is None
            else _FastPartBody(body, body.close)
        )
        self._engine(job, total, SyncSource(http, job), first).run()
        return True

    async def take_over_async(
        self,
        job: _Download,
        video: AsyncVideoStream,
        chunks: AsyncIterator[bytes],
        http: httpx.AsyncClient,
    ) -> bool:
        """``take_over`` for the async driver: the same decisions, and the same engine in
        a worker thread."""
        clock = _ProbeClock()  # timed from the headers on
        mode = self._mode(job, video)
        if mode is None:
            return False
        total, probe = mode
        body = _fastbody.open_body(video.response)
        if probe:
            if body is not None:  # the probe reads through the fast body too
                try:
                    while not body.done and clock.wants_more():
                        try:
                            await anyio.to_thread.run_sync(body.pump, job.writer, clock.slice())
                        finally:
                            job.advance(body.take_moved())
                        clock.tick(job.writer.bytes_written)
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await body.aclose()
                    raise
                if self._stay_single(total, clock):
                    self.body = body  # the caller reads on through it (read_body_async)
                    return False
            else:
                batch: list[bytes] = []
                async for chunk in chunks:
                    batch.append(chunk)
                    clock.tick(clock.received + len(chunk))
                    if not clock.wants_more():
                        break
                await anyio.to_thread.run_sync(job.writer.write_many, batch)
                job.advance(clock.received)
                if self._stay_single(total, clock):
                    return False
        async with BlockingPortal() as portal:
            source = AsyncSource(http, job, portal)
            first: _Body = (
                _ChunkBody(
                    iter(_AsyncChunks(portal, chunks)),
                    functools.partial(portal.call, video.response.aclose),
                )
                if body is None
                else _FastPartBody(body, functools.partial(portal.call, body.aclose))
            )
            engine = await anyio.to_thread.run_sync(self._engine, job, total, source, first)
            failure: Exception | None = None
            ended = threading.Event()

            def run_engine() -> None:
                try:
                    engine.run()
                finally:
                    ended.set()

            try:
                await anyio.to_thread.run_sync(run_engine, abandon_on_cancel=True)
            except anyio.get_cancelled_exc_class():
                # Cancelled: stop the connections (they may make no call that the
                # cancellation could interrupt) and wait for them before going on.
                engine.stop()
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(ended.wait)
                    # A connection still waiting for a chunk (a stalled link) is in the
                    # portal: cancel it, or leaving the portal would wait for it.
                    await portal.stop(cancel_remaining=True)
                raise
            except Exception as exc:
                await anyio.lowlevel.checkpoint_if_cancelled()  # the cancellation, as such
                failure = exc
                # As above; this cancels the rest of this block too (the portal's task
                # group encloses it): nothing may follow here.
                await portal.stop(cancel_remaining=True)
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

    def fall_back(self, changed: bool) -> int:
        """Ranges failed: one connection from now on. Returns how many bytes it continues
        from: the parts' contiguous start when the video is the same one (``changed``
        False), else 0 (the parts are dropped)."""
        self.off = True
        engine, self.engine = self.engine, None
        if engine is None:
            return 0
        if changed:
            engine.release(keep=False)
            return 0
        return engine.hand_over_start()

    def continue_in_one(self, job: _Download) -> dict[str, Any] | None:
        """``connections=1`` and a parallel download of this output parked: its contiguous
        start becomes the writer's, for one stream to continue with ``Range``/``If-Range``
        (the rest of its parts are dropped). Returns the journal's description of the
        video, or None when there is nothing to continue."""
        journal = self._usable_journal_for_one(job)
        if journal is None:
            return None
        meta = journal.meta
        done = journal.done()
        first_missing = 0
        while first_missing in done:
            first_missing += 1
        length = min(first_missing * int(meta["part_size"]), int(meta["total"]))
        data = self._data_file(journal)
        if not length or data is None:
            return None
        os.replace(data, job.writer.temp)
        job.writer.continue_at(length, hashed=False)
        journal.remove()
        self.journal = None
        logger.info(
            "continuing %s from byte %d on one connection (the start of a download in parts)",
            self.final.name,
            length,
        )
        return meta

    def _usable_journal_for_one(self, job: _Download) -> _Journal | None:
        journal = self.journal
        if journal is None or not self.off or not self.resume or job.writer.bytes_written:
            return None
        meta = journal.meta
        if (meta["job_id"], meta["index"]) != (job.job_id, job.index):
            return None
        if not isinstance(meta["part_size"], int) or meta["part_size"] < MIN_PART:
            return None
        if not isinstance(meta["total"], int) or not isinstance(meta["validator"], str):
            return None
        return journal


# -- the engine ------------------------------------------------------------------------------


class _Run:
    """One connection's stretch of the file: bytes ``[offset, end)``, written in order.
    ``part`` is the first of its parts not yet complete. ``end`` only shrinks: another
    connection with nothing left to do takes the tail (``_Engine._steal``)."""

    __slots__ = ("ahead", "end", "offset", "part")

    def __init__(self, offset: int, end: int, part: int) -> None:
        self.offset = offset
        self.end = end
        self.part = part
        #: Asked for ahead on a connection still reading its previous run: no tail is
        #: taken from it (the answer would be cut short, and with it the socket).
        self.ahead = False


class _RunSink:
    """Where one connection's body goes: ``os.pwrite`` at the run's offset, up to its
    (possibly shortened) end; raises ``_Enough`` once the run is complete or the engine
    stops. The write happens under the engine's lock, so a tail taken by another connection
    is never written twice."""

    def __init__(self, engine: _Engine, run: _Run) -> None:
        self._engine = engine
        self._run = run

    def check(self) -> None:
        if self._engine._stopping:
            raise _Enough

    def write(
        self, chunk: bytes | bytearray | memoryview, release: Callable[[], None] | None = None
    ) -> None:
        engine, run = self._engine, self._run
        try:
            with engine._lock:
                if engine._stopping:
                    raise _Enough
                view = memoryview(chunk)[: run.end - run.offset]
                written = 0
                while written < len(view):
                    written += os.pwrite(engine._fd, view[written:], run.offset + written)
                run.offset += written
                engine._received += written
                engine._complete_parts(run)
                full = run.offset >= run.end
        finally:
            if release is not None:
                release()
        if full:
            raise _Enough


class _Engine:
    """Connections fetching parts of one file; the calling thread coordinates.

    The coordinator (``run``) reports progress, hashes the contiguous start and writes the
    journal. Each connection claims the next run of missing parts in file order (at most
    ``RUN_BYTES``, an even share of what is left near the end) and asks for it with one
    range request on an open socket; one with nothing left takes the second half of the
    largest run still in flight, so all connections finish together instead of one
    finishing a long tail alone.
    A connection that breaks asks again from the exact byte it reached. All shared state is
    guarded by ``_lock``; ``_changed`` wakes the coordinator when a part completes.
    """

    def __init__(
        self,
        job: _Download,
        plan: Plan,
        total: int,
        part_size: int,
        connections: int,
        source: _Source,
        first: _Body | None,
    ) -> None:
        self.job = job
        self.plan = plan
        self.total = total
        self.part_size = part_size
        self.parts = -(-total // part_size)
        self.limit = min(connections, self.parts)
        self.source = source
        self._first = first
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._state: list[str] = ["missing"] * self.parts  # missing | active | done
        #: Parts done, and the first part not done (the contiguous start): kept as parts
        #: complete, so no step under the lock scans every part (thousands in a big file).
        self._done = 0
        self._front = 0
        self._runs: list[_Run] = []  # in flight
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
        self._hash_buffers = _fastbody.Buffers(MiB, HASH_BUFFERS)
        #: The parts' receive buffers: one per connection reading (each writes its buffer
        #: out before it reads the next).
        #: The probe's connection reads its first run beside ``limit`` new ones, then ends
        #: (its answer, ``bytes=0-``, is cut short there): its own index, past theirs.
        self._probe = self.limit if first is not None else -1
        #: While it reads, the probe's connection counts as one more among which what is
        #: missing is shared out (N + 1 even shares, not N).
        self._probe_reading = first is not None
        self._part_buffers = _fastbody.Buffers(
            _fastbody.BUFFER_SIZE, self.limit + (first is not None)
        )
        #: Whether connections ask for their next run before the current one ends (off
        #: once such a request goes unanswered: ``_read_runs``).
        self._pipelining = True
        #: Connections whose last answer left no open socket (``MIN_COLD_STEAL``).
        self._cold: set[int] = set()

    # -- the file ----------------------------------------------------------------------------

    def start_file(self, adopted: Path | None, done: set[int], journal: _Journal | None) -> None:
        writer = self.job.writer
        if adopted is not None:
            self.path = adopted
            for part in done:
                if 0 <= part < self.parts:
                    self._state[part] = "done"
            self._journaled = {p for p in done if 0 <= p < self.parts}
            self._done = len(self._journaled)
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
        if self._first is not None and adopted is not None:
            self._first.close()  # its bytes are in the adopted file
            self._first = None
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

    def hand_over_start(self) -> int:
        """Ranges failed but the video is the same: give the writer the contiguous start
        (already counted and hashed), for one stream to continue; returns its length."""
        self.stop()
        writer = self.job.writer
        if self.path != writer.temp:
            os.replace(self.path, writer.temp)
            self.path = writer.temp
        os.ftruncate(self._fd, self._hashed_to)
        if self._journal is not None:
            self._journal.remove()
        self._close_fd()
        writer.continue_at(self._hashed_to, hashed=True)
        return self._hashed_to

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

    def _stopped(self) -> bool:
        return self._stopping  # a call: the flag changes under other threads

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._changed.notify_all()

    def run(self) -> None:
        """Fetch every missing part; raise the first failure that ends the download."""
        first_run = None
        if self._first is not None:
            with self._lock:
                first_run = self._claim(0, self.job.writer.bytes_written)
        self._probe_reading = first_run is not None  # (no probe thread: not one more)
        try:
            workers = [*range(self.limit), *([self._probe] if first_run is not None else [])]
            for worker in workers:
                thread = threading.Thread(
                    target=self._connection,
                    args=(worker, first_run if worker == self._probe else None),
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
            # One wait for them all: a connection waiting for a chunk of a stalled link
            # ends only at its read timeout (it then closes the file, ``_connection``).
            deadline = time.monotonic() + _JOIN_SECONDS
            for thread in self._threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            if self._first is not None:  # never started: close the probe's connection
                self._first.close()
                self._first = None
        self._hash_contiguous()
        with self._lock:
            error = self._error
            finished = self._all_done()
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

    def _all_done(self) -> bool:
        """(lock held)"""
        return self._done == self.parts

    def _coordinate(self) -> None:
        last_journal = time.monotonic()
        journaled = len(self._journaled)
        while True:
            with self._lock:
                self._changed.wait(0.1)
                finished = self._all_done()
                # No connection left while parts are missing would wait forever: stop.
                failed = self._error is not None or self._stopping or self._users == 0
                received, self._received = self._received, 0
                now = time.monotonic()
                due = now - last_journal >= JOURNAL_INTERVAL and self._done != journaled
                done = [p for p, s in enumerate(self._state) if s == "done"] if due else []
            if received:
                self.source.call(functools.partial(self.job.advance, received))
            self._hash_contiguous()
            if finished or failed:
                return
            if due:
                last_journal = now
                os.fdatasync(self._fd)
                assert self._journal is not None
                self._journal.write(done)
                self._journaled = set(done)
                journaled = len(done)

    def _hash_contiguous(self) -> None:
        """Hash (and count) the bytes from where the hash stands to the first missing
        part: the writer's hasher sees the file in order."""
        with self._lock:
            while self._front < self.parts and self._state[self._front] == "done":
                self._front += 1
            end = min(self._front * self.part_size, self.total)
            fd = self._fd
        writer = self.job.writer
        if not writer.hashing and self._hashed_to < end:  # checksum=False: nothing to read
            writer.account_unread(end - self._hashed_to)
            self._hashed_to = end
        while self._hashed_to < end:
            # Into a block the hasher gave back (it waits for one when all are out).
            buffer = self._hash_buffers.take()
            view = memoryview(buffer)[: min(MiB, end - self._hashed_to)]
            got = os.preadv(fd, [view], self._hashed_to)
            if not got:
                self._hash_buffers.give(buffer)
                raise OSError(f"{self.path} is shorter than the parts written to it")
            writer.account(view[:got], functools.partial(self._hash_buffers.give, buffer))
            self._hashed_to += got

    # -- which bytes each connection fetches (lock held) -------------------------------------

    def _claim(self, worker: int, offset: int = 0, ahead: bool = False) -> _Run | None:
        """The next run for ``worker``: from the first missing part, ``RUN_BYTES`` or an even
        share of what is missing, whichever is less (reaching past ``offset``, the probe's
        bytes), else half of another's tail. ``ahead`` (asked for before the connection's
        current answer ends): never a tail, and half a share of what is missing among all
        the connections (``AHEAD_SHARES``), so that the end is still shared out and the
        runs end in about the order they were claimed."""
        if self._stopping or worker >= self.limit:
            return None
        try:
            first = self._state.index("missing")
        except ValueError:
            run = None if ahead else self._steal(worker in self._cold)
        else:
            missing = self._state.count("missing")
            idle = self.limit + self._probe_reading - sum(1 for run in self._runs if not run.ahead)
            shares = self.limit * AHEAD_SHARES if ahead else max(1, idle)
            share = max(1, -(-missing // shares))
            share = min(share, max(1, RUN_BYTES // self.part_size))
            last = first
            while (
                last < self.parts
                and self._state[last] == "missing"
                and (last - first < share or last * self.part_size <= offset)
            ):
                self._state[last] = "active"
                last += 1
            run = _Run(
                max(first * self.part_size, offset), min(last * self.part_size, self.total), first
            )
            self._complete_parts(run)
        if run is not None:
            self._runs.append(run)
        return run

    def _steal(self, cold: bool = False) -> _Run | None:
        """The second half of the longest tail in flight (whole parts after the one its
        connection is writing), when that tail has two parts or more."""
        best: _Run | None = None
        least = MIN_COLD_STEAL if cold else MIN_STEAL
        best_tail = max(1, -(-least // self.part_size) - 1)
        for run in self._runs:
            if run.ahead:
                continue
            tail = -(-run.end // self.part_size) - run.offset // self.part_size - 1
            if tail > best_tail:
                best, best_tail = run, tail
        if best is None:
            return None
        split = -(-best.end // self.part_size) - best_tail // 2
        stolen = _Run(split * self.part_size, best.end, split)
        best.end = stolen.offset
        logger.debug(
            "a connection takes bytes %d-%d of %s from another",
            stolen.offset,
            stolen.end - 1,
            self.job.target.name,
        )
        return stolen

    def _complete_parts(self, run: _Run) -> None:
        """Mark done every part of ``run`` whose last byte has landed."""
        part = run.part
        while part < self.parts and min((part + 1) * self.part_size, self.total) <= run.offset:
            self._state[part] = "done"
            self._done += 1
            self._budgets.pop(part, None)
            part += 1
        if part != run.part:
            run.part = part
            self._changed.notify_all()

    def _drop_run(self, run: _Run) -> None:
        with contextlib.suppress(ValueError):
            self._runs.remove(run)

    def _release(self, run: _Run) -> None:
        """``run``'s unfinished parts go back to missing (a part begun is fetched whole)."""
        self._drop_run(run)
        for part in range(run.part, -(-run.end // self.part_size)):
            if self._state[part] == "active":
                self._state[part] = "missing"
        self._changed.notify_all()

    # -- one connection ----------------------------------------------------------------------

    def _connection(self, worker: int, run: _Run | None) -> None:
        try:
            while not self._stopped():
                if run is None:
                    run = self._next_run(worker)
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
                    self._release(run)
                if worker == self._probe:
                    self._probe_reading = False
                self._users -= 1
                if self._users == 0 and self._close_requested and self._fd >= 0:
                    os.close(self._fd)
                    self._fd = -1
                self._changed.notify_all()

    def _next_run(self, worker: int) -> _Run | None:
        """The next run, waiting while nothing is free but parts are still in flight (a
        connection that fails may hand its parts back); None when there is nothing left
        for this connection."""
        with self._lock:
            while not self._stopping and worker < self.limit:
                run = self._claim(worker)
                if run is not None or self._all_done():
                    return run
                self._changed.wait(0.1)
        return None

    def range_headers(self, start: int, end: int) -> dict[str, str]:
        return {"Range": f"bytes={start}-{end - 1}", "If-Range": str(self.job.validator)}

    def _fetch(self, worker: int, run: _Run) -> _Run | None:
        """Fetch ``run``; returns what is left of it to try again (None when it is
        complete, or handed back)."""
        sink = _RunSink(self, run)
        try:
            if self._first is not None and worker == self._probe:
                body, self._first = self._first, None  # the probe's answer reads on
                self._read(worker, body, sink)
            else:
                with self._lock:
                    if self._stopping:
                        return run  # no request goes out once it stops
                    start, end = run.offset, run.end
                with self.source.open(self.range_headers(start, end)) as part:
                    self._check(part, start, end)
                    body = part.body(self._part_buffers)
                    if isinstance(body, _FastPartBody) and PIPELINE_AHEAD:
                        at = [run]
                        try:
                            self._read_runs(worker, part, body, at)
                        finally:
                            run = at[0]  # where it stopped: what a retry continues
                    else:
                        self._read(worker, body, sink)
            with self._lock:
                if run.offset >= run.end:
                    self._drop_run(run)
                    return None
                if self._stopping:
                    return run
            # The body ended early (the connection closed cleanly): fetch the rest again.
            raise APIConnectionError(f"a part of {self.job.target.name} ended at byte {run.offset}")
        except (APIConnectionError, APIStatusError) as exc:
            if self._stopped():
                return run
            with self._lock:
                self._cold.add(worker)  # a failed exchange leaves no socket to go on with
            self._retry_later(run, exc)
            with self._lock:
                if run.offset >= run.end:
                    self._drop_run(run)
                    return None
                # The probe's connection, past the limit, still finishes its own run, unless
                # a 429 lowered the limit.
                probe = worker == self._probe == self.limit
                if (worker >= self.limit and not probe) or self._stopping:
                    self._release(run)
                    return None
            return run

    def _read_runs(self, worker: int, part: _Part, body: _FastPartBody, at: list[_Run]) -> None:
        """Read ``at[0]`` from ``body``; before its end, ask for this connection's next run
        on the same socket (``_fastbody.NextAnswer``), and read on into it, and so on:
        one request, then answers back to back with no round trip between them. ``at[0]``
        is the run being read when it stops. An answer that is not the exact ``206`` asked
        for is left unread, its run handed back, and the connection closed: the run is
        asked for again as usual (through httpx, with its retries and fallbacks)."""
        fast = body.fast
        run = at[0]
        ahead: _Run | None = None
        asked = (0, 0)
        answer: _fastbody.NextAnswer | None = None
        # No request ahead on a socket that the server closes after this answer.
        closing = "close" in part.headers.get("connection", "").lower()
        self._note_socket(worker, open_=True)
        try:
            while True:
                sink = _RunSink(self, run)
                try:
                    while not fast.done:
                        if (
                            ahead is None
                            and not closing
                            and self._pipelining
                            and fast.remaining <= PIPELINE_AHEAD
                        ):
                            with self._lock:
                                ahead = self._claim(worker, ahead=True)
                                if ahead is not None:
                                    ahead.ahead = True
                                    asked = (ahead.offset, ahead.end)
                            if ahead is not None:
                                try:
                                    answer = _fastbody.NextAnswer(
                                        fast, part.request, self.range_headers(*asked)
                                    )
                                except APIConnectionError as exc:
                                    self._no_pipelining(exc)
                                    with self._lock:
                                        self._release(ahead)
                                    ahead = None
                        fast.pump(sink)
                        fast.take_moved()
                        sink.check()
                except _Enough:
                    pass
                if ahead is None or answer is None or not fast.done:
                    return  # cut short, or nothing more asked for
                with self._lock:
                    short = run.offset < run.end  # a body shorter than its run: asked again
                    if not short:
                        self._drop_run(run)
                if short or self._stopped():
                    return
                wait = min(fast.read_timeout or PIPELINE_WAIT, PIPELINE_WAIT)
                try:
                    head = answer.read_head(fast, wait, self._stopped)
                except APIConnectionError as exc:
                    self._no_pipelining(exc)
                    return
                if head is None:
                    return
                status, headers, prefix, remaining, closing = head
                with self._lock:
                    ahead.ahead = False
                run, ahead, answer = ahead, None, None
                at[0] = run  # from here on, what the answer says is about this run
                # As the usual path would take it: an error status for the retries (a 429
                # halves the connections), anything but the range asked for falls back.
                if status >= 400:
                    raise status_error(status, headers, b"")
                self._check(_Answer(status, headers), *asked)
                if remaining + sum(map(len, prefix)) != asked[1] - asked[0]:
                    return  # a short body: the run is asked for again (its body unread)
                fast.next_body(prefix, remaining)
        finally:
            if ahead is not None:
                with self._lock:
                    self._release(ahead)
            # An answer that said ``Connection: close`` ends the socket's life too (the state
            # ``hand_back`` restores is that of the first exchange on it).
            self._note_socket(worker, open_=body.discard() if closing else body.close())

    def _no_pipelining(self, exc: Exception) -> None:
        """A range asked for ahead went unanswered: ask one at a time from now on."""
        with self._lock:
            if not self._pipelining:
                return
            self._pipelining = False
        logger.info(
            "no answer to a range of %s asked for before the previous one ended (%s):"
            " one range at a time on each connection from now on",
            self.job.target.name,
            exc,
        )

    def _read(self, worker: int, body: _Body, sink: _RunSink) -> None:
        """``body`` into ``sink``; notes whether ``worker``'s socket is still open (a tail
        is worth less to a connection that must open a new one: ``MIN_COLD_STEAL``)."""
        try:
            body.read(sink)
        except _Enough:
            pass
        finally:
            self._note_socket(worker, open_=body.close())

    def _note_socket(self, worker: int, open_: bool) -> None:
        """Whether ``worker``'s socket is still open for its next request (``_cold``)."""
        with self._lock:
            if open_:
                self._cold.discard(worker)
            else:
                self._cold.add(worker)

    def _check(self, part: _Part | _Answer, start: int, end: int) -> None:
        validator = self.job.validator
        if part.status_code != 206:
            etag = part.headers.get("etag") or part.headers.get("last-modified")
            why = (
                "the video changed on the server"
                if etag and etag != validator
                else "the server ignored a range"
            )
            changed = bool(etag and etag != validator)
            logger.warning(
                "%s: downloading %s on one connection",
                why,
                f"{self.job.target.name} again"
                if changed
                else f"the rest of {self.job.target.name}",
            )
            raise RangesFailed(why, changed=changed)
        expected = f"bytes {start}-{end - 1}/{self.total}"
        got = part.headers.get("content-range", "")
        if got != expected:
            logger.warning(
                "the server answered range %s with %r: downloading the rest of %s"
                " on one connection",
                expected,
                got,
                self.job.target.name,
            )
            raise RangesFailed(f"wrong Content-Range {got!r} for {expected!r}", changed=False)
        tag = part.headers.get("etag")
        if tag and validator and validator.startswith('"') and tag != validator:
            logger.warning(
                "the video changed on the server: downloading %s again on one connection",
                self.job.target.name,
            )
            raise RangesFailed("the validator changed", changed=True)

    def _retry_later(self, run: _Run, exc: Exception) -> None:
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
                run.part,
                RetryBudget(self.job.options.policy, f"part {run.part} of {self.job.target.name}"),
            )
            reason = f"HTTP {exc.status_code}" if isinstance(exc, APIStatusError) else str(exc)
            delay = budget.next_delay(reason, getattr(exc, "retry_after", None))
        if delay is None:
            raise exc
        self.job.options.policy.sleep(delay)
