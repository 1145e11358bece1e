"""Parallel ranges (``_parallel``) against the emulator over real sockets: parts with If-Range,
every fallback, resume of only the missing parts (after an interruption and after SIGKILL),
a video replaced mid-download, the async driver, and the ``connections`` knobs."""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import itertools
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import anyio
import pytest

from modelgates import (
    APIStatusError,
    AsyncModelGates,
    DownloadResult,
    InvalidParameterError,
    ModelGates,
    RetryPolicy,
)
from modelgates._cli import main as cli_main
from modelgates._parallel import journal_path, parked_path
from modelgates.emulator import Emulator, Faults, Job, Output, StatusFault
from tests.conftest import KEY
from tests.helpers import leftovers

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from linkemu import LinkEmulator

MiB = 1024 * 1024
SIZE = 8 * MiB
#: connections=4 on 8 MiB: parts of 256 KiB, requests of up to 4 parts.
PART = 256 * 1024


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def resilient(emulator: Emulator, sleeps: Sleeps) -> Iterator[ModelGates]:
    policy = RetryPolicy(max_retries=3, sleep=sleeps, async_sleep=sleeps.async_sleep)
    with ModelGates(api_key=KEY, base_url=emulator.base_url, retry=policy) as client:
        yield client


@pytest.fixture
def slow_link(emulator: Emulator, sleeps: Sleeps) -> Iterator[ModelGates]:
    """A client reaching the emulator at 8 MB/s per connection: parts are still to be asked
    for when a test changes the server's behaviour at the first progress report."""
    policy = RetryPolicy(max_retries=3, sleep=sleeps, async_sleep=sleeps.async_sleep)
    with (
        LinkEmulator(("127.0.0.1", emulator.port), conn_rate=8e6) as link,
        ModelGates(api_key=KEY, base_url=f"http://127.0.0.1:{link.port}/api/v1", retry=policy) as c,
    ):
        yield c


@pytest.fixture
def small_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """One part per request: most requests go out after the test's first progress report,
    whatever the machine's load (each connection asks for its runs one at a time)."""
    from modelgates import _parallel

    monkeypatch.setattr(_parallel, "RUN_BYTES", PART)


def _content_requests(emulator: Emulator) -> list[dict[str, str]]:
    return [dict(r.headers) for r in emulator.requests_to("api") if r.path.endswith("/content")]


def _ranges(requests: list[dict[str, str]]) -> list[tuple[int, int]]:
    """(start, end exclusive) of every closed range asked for (not the open probe)."""
    out = []
    for headers in requests:
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", headers.get("range", ""))
        if match:
            out.append((int(match.group(1)), int(match.group(2)) + 1))
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_parts_over_four_connections_each_with_if_range(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=11)])
    progress: list[tuple[int, int | None]] = []
    result = client.videos.download(
        job.id, tmp_path / "v.mp4", connections=4, on_progress=lambda d, t: progress.append((d, t))
    )
    etag = job.outputs[0].etag(job.id, 0)
    assert result.sha256 == job.outputs[0].sha256 == _sha256(tmp_path / "v.mp4")
    assert result.bytes_written == SIZE
    requests = _content_requests(emulator)
    assert requests[0]["range"] == "bytes=0-" and "if-range" not in requests[0]
    assert len(requests) > 2  # the probe and the parts
    assert all(r["if-range"] == etag for r in requests[1:])
    ranges = sorted(_ranges(requests))
    # The probe's connection carried the first of five even shares (7 of 32 parts), beside
    # four new ones; the ranges cover the rest (a connection that finished early took half
    # of another's tail, maybe the probe's: those overlap).
    share = -(-SIZE // PART // 5) * PART
    assert share in {start for start, _ in ranges} and ranges[-1][1] == SIZE
    assert share // 2 <= ranges[0][0] <= share
    assert all(b[0] <= a[1] for a, b in itertools.pairwise(ranges))
    assert all(start % PART == 0 for start, _ in ranges)
    dones = [d for d, _ in progress]
    assert dones == sorted(dones) and progress[-1] == (SIZE, SIZE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_connections_1_is_exactly_one_request_without_range(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=12)])
    client.videos.download(job.id, tmp_path, connections=1)
    [request] = _content_requests(emulator)
    assert "range" not in request


def test_automatic_mode_keeps_a_small_body_on_one_connection(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(4 * MiB, seed=13)])
    result = client.videos.download(job.id, tmp_path)
    assert result.sha256 == job.outputs[0].sha256
    [request] = _content_requests(emulator)
    assert request["range"] == "bytes=0-"  # no extra round trip to learn about ranges


def test_automatic_mode_goes_parallel_only_when_one_connection_is_slow(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelgates import _parallel

    monkeypatch.setattr(_parallel, "MIN_PARALLEL", 2 * MiB)
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=14)])
    with (
        LinkEmulator(("127.0.0.1", emulator.port), conn_rate=8e6) as link,
        ModelGates(api_key=KEY, base_url=f"http://127.0.0.1:{link.port}/api/v1") as slow,
    ):
        monkeypatch.setattr(_parallel, "PROBE_BYTES", MiB)
        result = slow.videos.download(job.id, tmp_path / "slow.mp4")
        assert result.sha256 == job.outputs[0].sha256
        assert link.connections > 1
    # The same decision on a fast link: the probe is fast enough, one connection.
    monkeypatch.setattr(_parallel, "FAST_SINGLE", 1.0)
    before = len(_content_requests(emulator))
    with ModelGates(api_key=KEY, base_url=emulator.base_url) as fast:
        fast.videos.download(job.id, tmp_path / "fast.mp4")
    assert len(_content_requests(emulator)) == before + 1


def test_a_server_without_ranges_is_read_on_one_connection(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(
        outputs=[Output.generated(SIZE, seed=15)], faults=Faults(ignore_range=True)
    )
    result = client.videos.download(job.id, tmp_path, connections=4)
    assert result.sha256 == job.outputs[0].sha256
    assert len(_content_requests(emulator)) == 1


def _after_first_progress(action: object) -> object:
    fired = threading.Event()

    def on_progress(done: int, total: int | None) -> None:
        if not fired.is_set():
            fired.set()
            action()  # type: ignore[operator]

    return on_progress


def test_a_part_answered_200_falls_back_to_one_connection(
    small_runs: None,
    slow_link: ModelGates,
    emulator: Emulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=16)])

    def ignore_ranges() -> None:
        job.faults.ignore_range = True

    with caplog.at_level(logging.INFO, logger="modelgates"):
        result = slow_link.videos.download(
            job.id,
            tmp_path / "v.mp4",
            connections=4,
            on_progress=_after_first_progress(ignore_ranges),  # type: ignore[arg-type]
        )
    assert result.sha256 == job.outputs[0].sha256 == _sha256(tmp_path / "v.mp4")
    # The rest on exactly one connection: from the parts' contiguous start, with If-Range;
    # the emulator ignores ranges by now, so its 200 starts the file over.
    assert "the server ignored a range: downloading the rest of v.mp4 on one" in caplog.text
    last = _content_requests(emulator)[-1]  # one open-ended stream, not a part
    etag = job.outputs[0].etag(job.id, 0)
    assert "range" not in last or (
        re.fullmatch(r"bytes=\d+-", last["range"]) and last["if-range"] == etag
    )
    assert leftovers(tmp_path) == [] and not journal_path(tmp_path / "v.mp4").exists()


def test_a_video_replaced_mid_download_is_never_spliced(
    small_runs: None,
    slow_link: ModelGates,
    emulator: Emulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=17)])
    old = job.outputs[0].sha256

    def replace() -> None:
        job.outputs[0].version += 1

    with caplog.at_level(logging.INFO, logger="modelgates"):
        result = slow_link.videos.download(
            job.id,
            tmp_path / "v.mp4",
            connections=4,
            on_progress=_after_first_progress(replace),  # type: ignore[arg-type]
        )
    assert result.sha256 == job.outputs[0].sha256 != old
    assert _sha256(tmp_path / "v.mp4") == result.sha256
    assert "the video changed on the server" in caplog.text


def test_429_on_parts_halves_the_connections(
    small_runs: None,
    slow_link: ModelGates,
    emulator: Emulator,
    sleeps: Sleeps,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=18)])

    def rate_limit() -> None:
        job.faults.statuses.extend([StatusFault(429, retry_after="1")] * 2)

    with caplog.at_level(logging.INFO, logger="modelgates"):
        result = slow_link.videos.download(
            job.id,
            tmp_path / "v.mp4",
            connections=4,
            on_progress=_after_first_progress(rate_limit),  # type: ignore[arg-type]
        )
    assert result.sha256 == job.outputs[0].sha256
    assert "HTTP 429 on a part of v.mp4: continuing on 2 connections" in caplog.text
    assert 1.0 in sleeps.delays  # Retry-After honoured, with the client's policy


class _WrongRangeHandler(BaseHTTPRequestHandler):
    """Serves BODY; answers every range that does not start at 0 one byte off (with
    ``closed_only``: only closed ranges, after ``closed_delay`` seconds)."""

    body = b""
    closed_only = False
    closed_delay = 0.0

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        size = len(self.body)
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        start, end = 0, size
        if match:
            start = int(match.group(1))
            end = int(match.group(2)) + 1 if match.group(2) else size
            shift = 1 if start and (match.group(2) or not self.closed_only) else 0
            if match.group(2):
                time.sleep(self.closed_delay)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start + shift}-{end - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(end - start))
        self.send_header("ETag", '"fixed"')
        self.send_header("Last-Modified", email.utils.formatdate(0, usegmt=True))
        self.end_headers()
        self.wfile.write(self.body[start:end])


def _download_from(
    handler: type[BaseHTTPRequestHandler],
    dest: Path,
    caplog: pytest.LogCaptureFixture | None,
    retry: RetryPolicy | None = None,
) -> DownloadResult:
    """``dest`` downloaded over 4 connections from a local server running ``handler``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/api/v1"
        with (
            ModelGates(api_key=KEY, base_url=base, retry=retry) as client,
            caplog.at_level(logging.INFO, logger="modelgates")
            if caplog is not None
            else contextlib.nullcontext(),
        ):
            return client.videos.download("job-x", dest, connections=4)
    finally:
        server.shutdown()
        server.server_close()


def _asked(handler: BaseHTTPRequestHandler, size: int) -> tuple[bool, bool, int, int]:
    """A request's ``Range``: whether it has one, whether it is closed, its start and end
    (exclusive) in a body of ``size``."""
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", handler.headers.get("Range", ""))
    if match is None:
        return False, False, 0, size
    start, last = int(match.group(1)), match.group(2)
    return True, bool(last), start, int(last) + 1 if last else size


def _answer(
    handler: BaseHTTPRequestHandler,
    body: bytes,
    asked: tuple[bool, bool, int, int],
    sent: int | None = None,
    close: bool = False,
) -> None:
    """``body``'s bytes ``asked`` for (206, else 200), only up to ``sent`` when given (with
    a ``Content-Length`` to match, the ``Content-Range`` still the whole range); ``close``
    says ``Connection: close``."""
    ranged, _, start, end = asked
    sent = end if sent is None else sent
    handler.send_response(206 if ranged else 200)
    if ranged:
        handler.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(body)}")
    handler.send_header("Content-Type", "video/mp4")
    handler.send_header("Content-Length", str(sent - start))
    handler.send_header("ETag", '"fixed"')
    if close:
        handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body[start:sent])


class _FlakyPartHandler(BaseHTTPRequestHandler):
    """Serves BODY with ranges, but answers the closed range from ``flaky_start`` with 503
    ``flaky_times`` times."""

    body = b""
    flaky_start = MiB
    flaky_times = 0
    lock = threading.Lock()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        asked = _asked(self, len(self.body))
        _, closed, start, _ = asked
        with self.lock:
            if closed and start == self.flaky_start and _FlakyPartHandler.flaky_times > 0:
                _FlakyPartHandler.flaky_times -= 1
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        _answer(self, self.body, asked)


def test_a_part_out_of_retries_ends_the_download_and_never_lands_a_wrong_file(
    tmp_path: Path, sleeps: Sleeps
) -> None:
    # The part from 1 MiB is answered 503 on its first try and its 3 retries: its budget is
    # spent, so the download fails. (It used to go on with a second round of retries, as
    # one stream from the parts' contiguous start, appended where the writer's own file
    # stood: a file of the right length and reported sha256, with the wrong bytes.)
    _FlakyPartHandler.body = os.urandom(2 * MiB)
    _FlakyPartHandler.flaky_times = 4
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyPartHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    policy = RetryPolicy(max_retries=3, sleep=sleeps, async_sleep=sleeps.async_sleep)
    dest = tmp_path / "v.mp4"
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/api/v1"
        with ModelGates(api_key=KEY, base_url=base, retry=policy) as client:
            with pytest.raises(APIStatusError, match="503"):
                client.videos.download("job-x", dest, connections=4)
            assert not dest.exists() and leftovers(tmp_path) == []
            assert _FlakyPartHandler.flaky_times == 0
            result = client.videos.download("job-x", dest, connections=4)
    finally:
        server.shutdown()
        server.server_close()
    assert dest.read_bytes() == _FlakyPartHandler.body
    assert result.sha256 == hashlib.sha256(_FlakyPartHandler.body).hexdigest()


class _OneAnswerPerConnectionHandler(_FlakyPartHandler):
    """HTTP/1.1 without ``Connection: close`` that closes each connection after one
    answer anyway: a request written ahead on it is never answered."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        super().do_GET()
        self.close_connection = True


def test_a_server_that_never_answers_a_second_request_gets_one_at_a_time(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    sleeps: Sleeps,
) -> None:
    from modelgates import _parallel

    monkeypatch.setattr(_parallel, "RUN_BYTES", MiB)  # several runs per connection
    _OneAnswerPerConnectionHandler.body = os.urandom(8 * MiB)
    _OneAnswerPerConnectionHandler.flaky_times = 0
    # A socket reused before the server's close reached it fails too (as with httpx alone):
    # retries enough for those.
    policy = RetryPolicy(max_retries=8, sleep=sleeps, async_sleep=sleeps.async_sleep)
    result = _download_from(_OneAnswerPerConnectionHandler, tmp_path / "v.mp4", caplog, policy)
    assert (tmp_path / "v.mp4").read_bytes() == _OneAnswerPerConnectionHandler.body
    assert result.sha256 == hashlib.sha256(_OneAnswerPerConnectionHandler.body).hexdigest()
    assert caplog.text.count("one range at a time on each connection from now on") == 1


class _Http11Handler(BaseHTTPRequestHandler):
    """Serves ``body`` with ranges on HTTP/1.1 keep-alive (the fast body's, and
    pipelining's, ground). The first closed range from ``short_start`` on is answered once
    with half its bytes (the right ``Content-Range``, a ``Content-Length`` of half), the
    connection kept open; ``announce_close`` says ``Connection: close`` on every answer,
    and closes."""

    protocol_version = "HTTP/1.1"
    body = b""
    short_start = -1
    announce_close = False

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        asked = _asked(self, len(self.body))
        _, closed, start, end = asked
        sent = end
        if closed and start >= _Http11Handler.short_start >= 0:
            _Http11Handler.short_start = -1
            sent = start + (end - start) // 2
        if self.announce_close:
            self.close_connection = True
        _answer(self, self.body, asked, sent, close=self.announce_close)


def _download_in_time(handler: type[_Http11Handler], dest: Path) -> DownloadResult:
    """``_download_from`` in a thread that must end within 60 s (a hang fails the test)."""
    results: list[DownloadResult] = []
    caplog_free = threading.Thread(
        target=lambda: results.append(_download_from(handler, dest, None)), daemon=True
    )
    caplog_free.start()
    caplog_free.join(60)
    assert results, "the download did not end"
    return results[0]


def test_a_body_shorter_than_its_run_is_asked_for_again_never_left_hanging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelgates import _parallel

    monkeypatch.setattr(_parallel, "RUN_BYTES", MiB)
    _Http11Handler.body = os.urandom(8 * MiB)
    monkeypatch.setattr(_Http11Handler, "short_start", 3 * MiB)  # the first run from there
    result = _download_in_time(_Http11Handler, tmp_path / "v.mp4")
    assert _Http11Handler.short_start == -1, "no answer was short"
    assert (tmp_path / "v.mp4").read_bytes() == _Http11Handler.body
    assert result.sha256 == hashlib.sha256(_Http11Handler.body).hexdigest()


def test_a_server_that_closes_after_each_answer_gets_no_request_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from modelgates import _parallel

    monkeypatch.setattr(_parallel, "RUN_BYTES", MiB)
    monkeypatch.setattr(_Http11Handler, "announce_close", True)
    _Http11Handler.body = os.urandom(8 * MiB)
    result = _download_from(_Http11Handler, tmp_path / "v.mp4", caplog)
    assert (tmp_path / "v.mp4").read_bytes() == _Http11Handler.body
    assert result.sha256 == hashlib.sha256(_Http11Handler.body).hexdigest()
    assert "one range at a time" not in caplog.text and "retrying" not in caplog.text


def test_a_wrong_content_range_falls_back_to_one_connection(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _WrongRangeHandler.body = os.urandom(2 * MiB)
    result = _download_from(_WrongRangeHandler, tmp_path / "v.mp4", caplog)
    assert (tmp_path / "v.mp4").read_bytes() == _WrongRangeHandler.body
    assert result.sha256 == hashlib.sha256(_WrongRangeHandler.body).hexdigest()
    assert "with 'bytes " in caplog.text and "the rest of v.mp4 on one connection" in caplog.text


def _interrupted_in_parts(
    client: ModelGates, emulator: Emulator, dest: Path, seed: int
) -> tuple[Job, set[int]]:
    """A job whose download over 4 connections breaks at 600 KiB (``client`` must not
    retry), and the parts its journal records as complete."""
    job = emulator.add_job(
        outputs=[Output.generated(SIZE, seed=seed)], faults=Faults(drop_at=[600 * 1024])
    )
    with pytest.raises(Exception, match=r"peer closed|ended|connection"):
        client.videos.download(job.id, dest, connections=4)
    journal = json.loads(journal_path(dest).read_text())
    return job, {p for a, b in journal["done"] for p in range(a, b)}


def test_an_interrupted_parallel_download_continues_only_the_missing_parts(
    emulator: Emulator, tmp_path: Path
) -> None:
    dest = tmp_path / "v.mp4"
    with ModelGates(api_key=KEY, base_url=emulator.base_url, max_retries=0) as client:
        job, done = _interrupted_in_parts(client, emulator, dest, seed=19)
        assert not dest.exists() and leftovers(tmp_path) == []
        assert parked_path(dest).exists() and journal_path(dest).exists()
        assert done, "no part was complete when the download stopped"
        first_call = len(_content_requests(emulator))
        result = client.videos.download(job.id, dest, connections=4)
    assert result.sha256 == job.outputs[0].sha256 == _sha256(dest)
    second = _content_requests(emulator)[first_call:]
    assert second[0]["if-range"] == job.outputs[0].etag(job.id, 0)
    fetched = {p for a, b in _ranges(second) for p in range(a // PART, -(-b // PART))}
    assert fetched.isdisjoint(done)  # nothing complete was fetched again
    assert fetched | done == set(range(SIZE // PART))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


_KILLED_CHILD = """
import sys
from modelgates import ModelGates
with ModelGates(api_key=sys.argv[1], base_url=sys.argv[2]) as client:
    client.videos.download(sys.argv[3], sys.argv[4], connections=4)
"""


@pytest.mark.slow
def test_sigkill_mid_download_then_only_the_missing_parts(
    emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=20)])
    dest = tmp_path / "v.mp4"
    with LinkEmulator(("127.0.0.1", emulator.port), conn_rate=1.5e6) as link:
        child = subprocess.Popen(
            [sys.executable, "-c", _KILLED_CHILD, KEY, f"http://127.0.0.1:{link.port}/api/v1",
             job.id, str(dest)]
        )  # fmt: skip
        deadline = time.monotonic() + 30
        done: set[int] = set()
        while time.monotonic() < deadline and len(done) < 4:
            time.sleep(0.1)
            try:
                journal = json.loads(journal_path(dest).read_text())
            except (OSError, ValueError):
                continue
            done = {p for a, b in journal["done"] for p in range(a, b)}
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert 4 <= len(done) < SIZE // PART, "the child did not get part-way in time"
    assert not dest.exists()
    journal = json.loads(journal_path(dest).read_text())
    done = {p for a, b in journal["done"] for p in range(a, b)}
    first_call = len(_content_requests(emulator))
    with ModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        result = client.videos.download(job.id, dest, connections=4)
    assert result.sha256 == job.outputs[0].sha256 == _sha256(dest)
    fetched = {
        p
        for a, b in _ranges(_content_requests(emulator)[first_call:])
        for p in range(a // PART, -(-b // PART))
    }
    assert fetched.isdisjoint(done) and fetched | done == set(range(SIZE // PART))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


@pytest.mark.anyio
async def test_async_parts_through_the_async_pool(emulator: Emulator, tmp_path: Path) -> None:
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=21)])
    async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        result = await client.videos.download(job.id, tmp_path / "v.mp4", connections=4)
    assert result.sha256 == job.outputs[0].sha256 == _sha256(tmp_path / "v.mp4")
    requests = _content_requests(emulator)
    assert len(requests) > 2 and all("if-range" in r for r in requests[1:])


@pytest.mark.anyio
async def test_async_parts_reuse_their_sockets_on_loopback_without_a_failure(
    small_runs: None,
    emulator: Emulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On loopback anyio reads ahead past an answer's headers: a fast body that takes those
    # bytes must leave anyio waiting for new ones, or the next answer on that socket reads
    # as the server gone ("Server disconnected without sending a response").
    from modelgates import _parallel

    monkeypatch.setattr(_parallel, "PIPELINE_AHEAD", 0)  # every run through httpx
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=23)])
    with caplog.at_level(logging.INFO, logger="modelgates"):
        async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url) as client:
            result = await client.videos.download(job.id, tmp_path / "v.mp4", connections=4)
    assert result.sha256 == job.outputs[0].sha256 == _sha256(tmp_path / "v.mp4")
    assert len(_content_requests(emulator)) > 8  # one part per request: sockets reused
    assert "retrying" not in caplog.text


@pytest.mark.anyio
async def test_async_cancellation_parks_the_parts_and_leaves_dest_untouched(
    emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=22)])
    dest = tmp_path / "v.mp4"
    with LinkEmulator(("127.0.0.1", emulator.port), conn_rate=0.5e6) as link:
        base = f"http://127.0.0.1:{link.port}/api/v1"
        async with AsyncModelGates(api_key=KEY, base_url=base) as client:
            started = time.monotonic()
            with anyio.move_on_after(1.5) as scope:
                await client.videos.download(job.id, dest, connections=4)
            assert scope.cancelled_caught
            assert time.monotonic() - started < 5  # the connections stopped promptly
    assert not dest.exists() and leftovers(tmp_path) == []
    assert parked_path(dest).exists() and journal_path(dest).exists()
    async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        result = await client.videos.download(job.id, dest, connections=4)
    assert result.sha256 == job.outputs[0].sha256 == _sha256(dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_connections_reaches_download_all_and_generate(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(
        outputs=[Output.generated(SIZE, seed=23), Output.generated(SIZE, seed=24)]
    )
    results = client.videos.download_all(job.id, tmp_path / "all", connections=4)
    assert [r.sha256 for r in results] == [o.sha256 for o in job.outputs]
    assert len(_content_requests(emulator)) > 2
    before = len(_content_requests(emulator))
    client.videos.generate(
        model="emulator/video-1",
        prompt="x",
        dest=tmp_path / "g.mp4",
        connections=1,
        poll_interval=0.01,
    )
    assert all("range" not in r for r in _content_requests(emulator)[before:])


@pytest.mark.parametrize("bad", [0, 33, -1, True, "4", 2.0])
def test_bad_connections_are_refused_by_name(
    client: ModelGates, bad: object, tmp_path: Path
) -> None:
    with pytest.raises(InvalidParameterError, match="connections must be"):
        client.videos.download("job-demo", tmp_path, connections=bad)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_cli_connections_flag(
    emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELGATES_API_KEY", KEY)
    monkeypatch.setenv("MODELGATES_BASE_URL", emulator.base_url)
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=25)])
    with pytest.raises(SystemExit) as exited:
        cli_main(
            ["videos", "download", job.id, "-o", str(tmp_path / "x.mp4"), "--connections", "0"]
        )
    assert exited.value.code == 2
    assert "--connections" in capsys.readouterr().err
    argv = ["videos", "download", job.id, "-o", str(tmp_path / "v.mp4"), "--connections", "4"]
    assert cli_main([*argv, "--no-progress"]) == 0
    assert _sha256(tmp_path / "v.mp4") == job.outputs[0].sha256
    assert len(_content_requests(emulator)) > 2


def test_a_journal_naming_another_file_is_never_followed(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=26)])
    dest = tmp_path / "v.mp4"
    (tmp_path / "other.mp4").write_bytes(b"mine")
    for data in ("../other.mp4", "other.mp4", "v.mp4"):
        meta = {"job_id": job.id, "index": 0, "validator": job.outputs[0].etag(job.id, 0),
                "total": SIZE, "content_type": None, "part_size": PART, "data": data,
                "done": [[0, 32]]}  # fmt: skip
        journal_path(dest).write_text(json.dumps(meta))
        result = client.videos.download(job.id, dest, connections=4, overwrite=True)
        assert result.sha256 == job.outputs[0].sha256 == _sha256(dest)
    assert (tmp_path / "other.mp4").read_bytes() == b"mine"


def test_every_part_carries_the_calls_extra_headers_and_query(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=27)])
    client.videos.download(
        job.id, tmp_path, connections=4, extra_headers={"X-Trace": "t1"}, extra_query={"q": "1"}
    )
    content = [r for r in emulator.requests_to("api") if r.path.endswith("/content")]
    assert len(content) > 2
    assert all(r.headers.get("x-trace") == "t1" and "q=1" in r.query for r in content)


@pytest.fixture
def fast_bytes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes each fast body moved (``_fastbody.FastBody.take_moved``), for a test to add up."""
    from modelgates import _fastbody

    moved: list[int] = []
    real = _fastbody.FastBody.take_moved

    def take_moved(self: _fastbody.FastBody) -> int:
        n = real(self)
        moved.append(n)
        return n

    monkeypatch.setattr(_fastbody.FastBody, "take_moved", take_moved)
    return moved


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_automatic_mode_on_a_fast_link_reads_every_byte_through_the_fast_body(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_bytes: list[int],
    driver: str,
) -> None:
    """The probe of automatic mode reads through the fast body and, staying on one
    connection, goes on with the same body: parallel never slows a fast loopback download."""
    from modelgates import _parallel

    monkeypatch.setattr(_parallel, "MIN_PARALLEL", 2 * MiB)
    monkeypatch.setattr(_parallel, "PROBE_BYTES", MiB)
    monkeypatch.setattr(_parallel, "FAST_SINGLE", 1.0)  # any rate is fast enough
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=31)])
    before = len(_content_requests(emulator))
    if driver == "sync":
        with ModelGates(api_key=KEY, base_url=emulator.base_url) as client:
            result = client.videos.download(job.id, tmp_path / "v.mp4")
    else:

        async def go() -> DownloadResult:
            async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url) as client:
                return await client.videos.download(job.id, tmp_path / "v.mp4")

        result = anyio.run(go)
    assert result.sha256 == job.outputs[0].sha256
    assert len(_content_requests(emulator)) == before + 1
    assert sum(fast_bytes) == SIZE  # not one byte through httpx


def test_async_automatic_mode_goes_parallel_on_a_slow_link_after_a_fast_body_probe(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_bytes: list[int],
) -> None:
    from modelgates import _parallel

    monkeypatch.setattr(_parallel, "MIN_PARALLEL", 2 * MiB)
    monkeypatch.setattr(_parallel, "PROBE_BYTES", MiB)
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=32)])

    async def go(port: int) -> DownloadResult:
        base_url = f"http://127.0.0.1:{port}/api/v1"
        async with AsyncModelGates(api_key=KEY, base_url=base_url) as client:
            return await client.videos.download(job.id, tmp_path / "v.mp4")

    with LinkEmulator(("127.0.0.1", emulator.port), conn_rate=8e6) as link:
        result = anyio.run(go, link.port)
        assert link.connections > 1
    assert result.sha256 == job.outputs[0].sha256
    digest = hashlib.sha256((tmp_path / "v.mp4").read_bytes()).hexdigest()
    assert digest == job.outputs[0].sha256
    assert sum(fast_bytes) > 0  # the probe went through the fast body


def test_a_fallback_continues_from_the_contiguous_start_of_the_parts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that gets closed ranges wrong but open-ended ones right: after the fallback
    one stream continues from what the parts fetched contiguously, not from byte 0."""
    requests: list[str] = []

    class Handler(_WrongRangeHandler):
        body = os.urandom(2 * MiB)
        closed_only = True
        closed_delay = 0.3

        def do_GET(self) -> None:
            requests.append(self.headers.get("Range", ""))
            super().do_GET()

    handler = Handler
    result = _download_from(handler, tmp_path / "v.mp4", caplog)
    assert (tmp_path / "v.mp4").read_bytes() == handler.body
    assert result.sha256 == hashlib.sha256(handler.body).hexdigest()
    assert "the rest of v.mp4 on one connection" in caplog.text
    # The probe's connection had its share (2 parts of 256 KiB) before the wrong answers.
    assert requests[-1] == f"bytes={2 * PART}-"
    assert leftovers(tmp_path) == [] and not journal_path(tmp_path / "v.mp4").exists()


class _SocketCountingHandler(_Http11Handler):
    """``_Http11Handler`` that counts the sockets opened, and holds the probe's answer
    (announced whole) after its first part until five were, for 2 s at most."""

    lock = threading.Lock()
    opened = 0
    opened_at_release = 0
    requests: ClassVar[list[tuple[int, str]]] = []

    def setup(self) -> None:
        super().setup()
        with self.lock:
            _SocketCountingHandler.opened += 1

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self.requests.append((self.client_address[1], self.headers.get("Range", "")))
        asked = _asked(self, len(self.body))
        if asked[1]:
            _answer(self, self.body, asked)
            return
        self.send_response(206)
        self.send_header("Content-Range", f"bytes 0-{len(self.body) - 1}/{len(self.body)}")
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("ETag", '"fixed"')
        self.end_headers()
        self.wfile.write(self.body[:PART])  # less than what steals can leave the probe
        deadline = time.monotonic() + 2
        while _SocketCountingHandler.opened < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        _SocketCountingHandler.opened_at_release = _SocketCountingHandler.opened
        with contextlib.suppress(OSError):  # cut short by the client at its run's end
            self.wfile.write(self.body[PART:])


def test_the_probes_connection_reads_its_first_run_beside_n_new_ones_then_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its answer (bytes=0-) is cut short at the end of its run: a socket that cannot carry
    # another answer. Beside N new connections it ends there, rather than being replaced
    # by a new socket that starts slow while the others run warm.
    from modelgates import _parallel

    retried: list[str] = []
    monkeypatch.setattr(
        _parallel._Engine, "_retry_later", lambda self, run, exc: retried.append(str(exc))
    )
    handler = _SocketCountingHandler
    handler.body = random.Random(41).randbytes(SIZE)
    handler.requests, handler.opened, handler.opened_at_release = [], 0, 0
    result = _download_from(handler, tmp_path / "v.mp4", None)
    assert (tmp_path / "v.mp4").read_bytes() == handler.body
    assert result.sha256 == hashlib.sha256(handler.body).hexdigest()
    assert retried == []  # nothing failed: every range below is a planned one
    # While the probe's answer was held: connections=4 new ones beside it (before, 3 and
    # the probe's, which then made a new socket for its next run).
    assert handler.opened_at_release >= 5
    [(probe_port, _)] = [(port, r) for port, r in handler.requests if r == "bytes=0-"]
    assert [r for port, r in handler.requests if port == probe_port] == ["bytes=0-"]
    # N + 1 even shares: the first new connection starts where the probe's fifth ends (7
    # of 32 parts; with N shares the probe's run would have been 8 parts).
    starts = {int(r[6:].split("-")[0]) for port, r in handler.requests if r != "bytes=0-"}
    assert -(-SIZE // PART // 5) * PART in starts


def test_a_dropped_part_continues_from_the_byte_it_reached(
    resilient: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    drop = 600 * 1024 + 123  # inside the third part of the first connection's share
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=34)], faults=Faults(drop_at=[drop]))
    result = resilient.videos.download(job.id, tmp_path / "v.mp4", connections=4)
    assert result.sha256 == job.outputs[0].sha256 == _sha256(tmp_path / "v.mp4")
    # Asked again from the exact byte, not from the start of its part: nothing re-sent (to
    # the end of the probe's share, or of the part of it another connection did not take).
    assert drop in {start for start, _ in _ranges(_content_requests(emulator))}


def test_connections_1_continues_a_parallel_download_from_its_contiguous_start(
    emulator: Emulator, tmp_path: Path
) -> None:
    dest = tmp_path / "v.mp4"
    with ModelGates(api_key=KEY, base_url=emulator.base_url, max_retries=0) as client:
        job, done = _interrupted_in_parts(client, emulator, dest, seed=35)
        start = next(p for p in itertools.count() if p not in done) * PART
        assert start, "the first part was not complete when the download stopped"
        first_call = len(_content_requests(emulator))
        result = client.videos.download(job.id, dest, connections=1)
    assert result.sha256 == job.outputs[0].sha256 == _sha256(dest)
    [request] = _content_requests(emulator)[first_call:]
    assert request["range"] == f"bytes={start}-"
    assert request["if-range"] == job.outputs[0].etag(job.id, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_claims_are_even_shares_then_halves_of_the_longest_tail() -> None:
    from types import SimpleNamespace

    from modelgates._parallel import _Engine

    job = SimpleNamespace(writer=SimpleNamespace(temp=Path("unused")), target=Path("v.mp4"))
    engine = _Engine(job, None, 32 * PART, PART, 4, None, None)  # type: ignore[arg-type]
    engine._lock.acquire()  # what the connections hold when they claim
    runs = [engine._claim(worker) for worker in range(4)]
    assert [(r.offset // PART, r.end // PART) for r in runs if r] == [
        (0, 8), (8, 16), (16, 24), (24, 32),
    ]  # fmt: skip
    first, second, third, fourth = (r for r in runs if r)
    for run, offset in ((first, 7 * PART), (second, 16 * PART), (fourth, 25 * PART + 10)):
        run.offset = offset
        engine._complete_parts(run)
    engine._runs.remove(second)  # the second connection is done
    # Tails after the part being written: 0, 7 (the third, not started) and 6 parts.
    stolen = engine._claim(1)
    assert stolen is not None and (stolen.offset // PART, stolen.end // PART) == (21, 24)
    assert third.end == 21 * PART
    for run in (first, third, stolen, fourth):
        run.offset = run.end - 1
        engine._complete_parts(run)
    engine._runs.remove(stolen)
    assert engine._claim(1) is None  # every tail is within one part: nothing worth taking


def test_a_run_asked_for_ahead_is_half_an_even_share_so_runs_end_in_claim_order() -> None:
    # The sha256 follows the contiguous start, which moves only as fast as the oldest run
    # in flight: a run asked for ahead as a whole share would still be going when the
    # smaller runs claimed after it had ended, and what lies between would be hashed after
    # the last byte. Asked for ahead, a run is half a share; asked for now, a whole one.
    from types import SimpleNamespace

    from modelgates._parallel import AHEAD_SHARES, _Engine

    assert AHEAD_SHARES == 2
    job = SimpleNamespace(writer=SimpleNamespace(temp=Path("unused")), target=Path("v.mp4"))
    engine = _Engine(job, None, 64 * PART, PART, 4, None, None)  # type: ignore[arg-type]
    engine._lock.acquire()
    first, second = engine._claim(0), engine._claim(1)
    assert first is not None and second is not None
    assert [(r.offset // PART, r.end // PART) for r in (first, second)] == [(0, 16), (16, 32)]
    ahead = engine._claim(0, ahead=True)  # 32 parts missing among 4 connections
    assert ahead is not None and (ahead.offset // PART, ahead.end // PART) == (32, 36)
    ahead.ahead = True  # as its connection marks it
    now = engine._claim(2)  # 28 missing, 2 connections without a run
    assert now is not None and (now.offset // PART, now.end // PART) == (36, 50)


def test_checksum_false_in_parts_counts_without_reading_back(
    client: ModelGates, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No hash to feed: the parts are counted as the contiguous start grows, never read back.
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=37)])
    read_back: list[int] = []
    real = os.preadv

    def preadv(fd: int, buffers: list[memoryview], offset: int) -> int:
        read_back.append(offset)
        return real(fd, buffers, offset)

    monkeypatch.setattr(os, "preadv", preadv)
    result = client.videos.download(job.id, tmp_path / "v.mp4", connections=4, checksum=False)
    assert result.sha256 is None and result.bytes_written == SIZE
    assert _sha256(tmp_path / "v.mp4") == job.outputs[0].sha256
    assert read_back == []
    result = client.videos.download(job.id, tmp_path / "w.mp4", connections=4)
    assert result.sha256 == job.outputs[0].sha256 and read_back  # with the hash: read back


def test_a_connection_without_an_open_socket_takes_only_a_long_tail() -> None:
    # Its next request opens a new socket, which starts slow: a tail of 7 parts of 256 KiB
    # is worth a warm connection's round trip, not a cold one's slow start.
    from types import SimpleNamespace

    from modelgates._parallel import MIN_COLD_STEAL, _Engine

    job = SimpleNamespace(writer=SimpleNamespace(temp=Path("unused")), target=Path("v.mp4"))
    engine = _Engine(job, None, 16 * PART, PART, 2, None, None)  # type: ignore[arg-type]
    engine._lock.acquire()
    first, second = engine._claim(0), engine._claim(1)
    assert first is not None and second is not None and second.end - second.offset == 8 * PART
    first.offset = first.end
    engine._complete_parts(first)
    engine._runs.remove(first)
    assert 7 * PART < MIN_COLD_STEAL
    engine._cold.add(0)
    assert engine._claim(0) is None and second.end == 16 * PART
    engine._cold.discard(0)
    stolen = engine._claim(0)
    assert stolen is not None and (stolen.offset // PART, stolen.end // PART) == (13, 16)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_runs_go_in_file_order_each_connection_asking_for_its_next_one_on_the_same_socket(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    asynchronous: bool,
) -> None:
    """Runs in file order keep the hashed start close behind the newest byte; a connection
    asks for its next run on a socket already open (its window open), not on a new one:
    each part's fast body hands its connection back to the pool (sync, and async through
    the portal: anyio's read-ahead state reset too, else the next answer reads as EOF)."""
    from modelgates import _parallel

    monkeypatch.setattr(_parallel, "RUN_BYTES", 3 * MiB)  # three reads of 1 MiB each
    claimed: list[int] = []  # offsets of the runs claimed from the missing parts, in order
    stolen: set[int] = set()  # the runs that are tails taken from another connection
    real_claim, real_steal = _parallel._Engine._claim, _parallel._Engine._steal

    def claim(
        self: _parallel._Engine, worker: int, offset: int = 0, ahead: bool = False
    ) -> _parallel._Run | None:
        run = real_claim(self, worker, offset, ahead)
        if run is not None and id(run) not in stolen:
            claimed.append(run.offset)
        return run

    def steal(self: _parallel._Engine, cold: bool = False) -> _parallel._Run | None:
        run = real_steal(self, cold)
        if run is not None:
            stolen.add(id(run))
        return run

    monkeypatch.setattr(_parallel._Engine, "_claim", claim)
    monkeypatch.setattr(_parallel._Engine, "_steal", steal)
    size = 24 * MiB
    job = emulator.add_job(outputs=[Output.generated(size, seed=36)])
    caplog.set_level(logging.INFO, logger="modelgates")
    with LinkEmulator(("127.0.0.1", emulator.port), conn_rate=8e6) as link:
        base = f"http://127.0.0.1:{link.port}/api/v1"
        if asynchronous:

            async def download() -> DownloadResult:
                async with AsyncModelGates(api_key=KEY, base_url=base) as client:
                    return await client.videos.download(job.id, tmp_path / "v.mp4", connections=2)

            result = anyio.run(download)
        else:
            with ModelGates(api_key=KEY, base_url=base) as client:
                result = client.videos.download(job.id, tmp_path / "v.mp4", connections=2)
        sockets = link.connections
    assert result.sha256 == job.outputs[0].sha256 == _sha256(tmp_path / "v.mp4")
    assert claimed == sorted(claimed) and len(claimed) >= size // (3 * MiB) - 1
    # A socket for the first answer (``bytes=0-``: it ends with the first run, open-ended),
    # then one per connection; a tail taken from a connection ends its answer early, and
    # with it its socket.
    assert sockets <= 3 + len(stolen), (sockets, len(claimed), len(stolen))
    # Most runs were asked for before the previous one ended, on the same socket and not
    # through httpx (``_fastbody.NextAnswer``: no log line of its own), each with the key
    # (the emulator answers 401 without it: that run would be asked for again), a range
    # and If-Range.
    requests = _content_requests(emulator)
    through_httpx = [r for r in caplog.records if "-> 206 Partial Content" in r.getMessage()]
    assert len(requests) - len(through_httpx) >= len(claimed) // 2, (
        len(requests),
        len(through_httpx),
    )
    assert all(r.get("authorization") == f"Bearer {KEY}" for r in requests)
    assert all("if-range" in r for r in requests[1:])


def test_automatic_mode_stops_probing_once_the_first_mib_can_no_longer_come_fast_enough(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 8 MB/s the first MiB takes 130 ms; the probe gives up when it can no longer come
    at ``FAST_SINGLE`` (8 ms), and the other connections start then, not after it."""
    from modelgates import _parallel

    monkeypatch.setattr(_parallel, "MIN_PARALLEL", 2 * MiB)
    probed: list[int] = []
    real_run = _parallel._Engine.run

    def run(self: _parallel._Engine) -> None:
        probed.append(self.job.writer.bytes_written)
        real_run(self)

    monkeypatch.setattr(_parallel._Engine, "run", run)
    job = emulator.add_job(outputs=[Output.generated(SIZE, seed=37)])
    with (
        LinkEmulator(("127.0.0.1", emulator.port), conn_rate=8e6) as link,
        ModelGates(api_key=KEY, base_url=f"http://127.0.0.1:{link.port}/api/v1") as client,
    ):
        result = client.videos.download(job.id, tmp_path / "v.mp4")
    assert result.sha256 == job.outputs[0].sha256 == _sha256(tmp_path / "v.mp4")
    assert len(probed) == 1 and 0 < probed[0] < _parallel.PROBE_BYTES


def test_download_all_shares_the_automatic_connections_among_the_downloads_at_once() -> None:
    from modelgates._parallel import DEFAULT_CONNECTIONS, shared_out

    assert [shared_out(n) for n in (1, 2, 3, 4, 8, 16)] == [8, 4, 2, 2, 1, 1]
    assert shared_out(1) == DEFAULT_CONNECTIONS


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_download_all_of_as_many_outputs_as_connections_splits_none_of_them(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, driver: str
) -> None:
    """Eight downloads at once already fill what eight connections would: none is split,
    where the same body alone is (split ones ran at half the speed on a fast link)."""
    from modelgates import _parallel

    monkeypatch.setattr(_parallel, "MIN_PARALLEL", 2 * MiB)
    job = emulator.add_job(outputs=[Output.generated(4 * MiB, seed=50 + i) for i in range(8)])
    with (
        LinkEmulator(("127.0.0.1", emulator.port), conn_rate=8e6) as link,
        ModelGates(api_key=KEY, base_url=f"http://127.0.0.1:{link.port}/api/v1") as client,
    ):
        base_url = f"http://127.0.0.1:{link.port}/api/v1"
        before = len(_content_requests(emulator))
        client.videos.download(job.id, tmp_path / "alone.mp4", index=3)
        alone = len(_content_requests(emulator)) - before
        before += alone
        if driver == "sync":
            results = client.videos.download_all(job.id, tmp_path / "all", max_concurrency=8)
        else:

            async def go() -> list[DownloadResult]:
                async with AsyncModelGates(api_key=KEY, base_url=base_url) as aclient:
                    return await aclient.videos.download_all(
                        job.id, tmp_path / "all", max_concurrency=8
                    )

            results = anyio.run(go)
    assert alone > 1  # alone, the body is split
    assert len(_content_requests(emulator)) - before == 8  # one request per output
    assert [r.sha256 for r in results] == [o.sha256 for o in job.outputs]


class _StallThenForbidHandler(BaseHTTPRequestHandler):
    """Serves BODY to ``bytes=0-``; the first closed range gets its headers and a few bytes,
    then nothing for ``stall`` seconds; every later one a 403 (which no retry helps)."""

    body = b""
    stall = 30.0
    lock = threading.Lock()
    stalled = False

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        size = len(self.body)
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        assert match is not None
        start = int(match.group(1))
        end = int(match.group(2)) + 1 if match.group(2) else size
        with self.lock:
            first_closed = bool(match.group(2)) and not _StallThenForbidHandler.stalled
            if first_closed:
                _StallThenForbidHandler.stalled = True
        if match.group(2) and not first_closed:
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.send_header("Content-Length", str(end - start))
        self.send_header("ETag", '"fixed"')
        self.end_headers()
        if first_closed:
            self.wfile.write(self.body[start : start + 1024])
            self.wfile.flush()
            time.sleep(self.stall)
            return
        self.wfile.write(self.body[start:end])


@pytest.mark.anyio
async def test_async_failure_with_a_part_stalled_mid_body_ends_the_download(
    tmp_path: Path,
) -> None:
    """A part that fails for good while another waits for bytes of a stalled link ends the
    download with that failure, at once: the stalled read in the portal is cancelled
    (leaving the portal used to wait for it, and then for ever)."""

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        block_on_close = False

    _StallThenForbidHandler.body = os.urandom(2 * MiB)
    _StallThenForbidHandler.stalled = False
    server = Server(("127.0.0.1", 0), _StallThenForbidHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    try:
        with anyio.fail_after(15):  # a guard: the stall is 30 s
            async with AsyncModelGates(api_key=KEY, base_url=base) as client:
                with pytest.raises(APIStatusError) as raised:
                    await client.videos.download("job-x", tmp_path / "v.mp4", connections=4)
    finally:
        server.shutdown()
        server.server_close()
    assert raised.value.status_code == 403
    assert not (tmp_path / "v.mp4").exists()
