"""The download fast path (``_fastbody``): when it applies, what it falls back from, what it
leaves behind (no pooled connection), ``checksum=``, and a test that fails by name when an
httpx/httpcore upgrade moves what it relies on."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelgates import AsyncModelGates, InvalidParameterError, ModelGates, _fastbody
from modelgates._cli import main
from modelgates._stream import open_async_stream, open_stream
from modelgates.emulator import Emulator, Output
from tests.conftest import KEY
from tests.helpers import parked

MiB = 1024 * 1024


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Why each body of the test did not take the fast path (None: it did)."""
    reasons: list[str | None] = []
    real = _fastbody.open_body

    def open_body(response: httpx.Response) -> _fastbody.FastBody | None:
        reasons.append(_fastbody.why_not(response))
        return real(response)

    monkeypatch.setattr(_fastbody, "open_body", open_body)
    return reasons


def test_the_fast_path_applies_to_the_facades_own_connections(client: ModelGates) -> None:
    """Fails when an httpx/httpcore/h11 upgrade moves what the fast path relies on, and
    says what moved (e.g. "httpcore PoolByteStream has no attribute '_stream'") instead of
    letting downloads silently take the slower general path."""
    with open_stream(client._http, "job-demo", 0) as video:
        reason = _fastbody.why_not(video.response)
    assert reason is None, f"the download fast path does not apply any more: {reason}"


@pytest.mark.anyio
async def test_the_fast_path_applies_to_the_async_client(async_client: AsyncModelGates) -> None:
    async with open_async_stream(async_client._http, "job-demo", 0) as video:
        reason = _fastbody.why_not(video.response)
    assert reason is None, f"the async download fast path does not apply any more: {reason}"


def test_a_moved_internal_is_named(client: ModelGates) -> None:
    with open_stream(client._http, "job-demo", 0) as video:
        stream: Any = video.response.stream
        pool_stream = stream._stream._httpcore_stream
        inner = pool_stream.__dict__.pop("_stream")
        try:
            reason = _fastbody.why_not(video.response)
        finally:
            pool_stream._stream = inner
    assert reason == (
        "the download fast path no longer applies: "
        "httpcore PoolByteStream has no attribute '_stream'"
    )


def _response(
    headers: dict[str, str], url: str = "http://127.0.0.1/v", **extensions: object
) -> httpx.Response:
    return httpx.Response(
        200, headers=headers, request=httpx.Request("GET", url), extensions=extensions
    )


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (_response({"transfer-encoding": "chunked"}), "Transfer-Encoding: chunked (chunked)"),
        (
            _response({"content-encoding": "gzip", "content-length": "9"}),
            "Content-Encoding: gzip (compressed)",
        ),
        (_response({"content-length": "9"}, url="https://example.com/v"), "TLS (https)"),
        (_response({"content-length": "9"}, http_version=b"HTTP/2"), "HTTP/2, not HTTP/1.1"),
        (_response({}), "no Content-Length"),
    ],
)
def test_why_not_names_the_reason(response: httpx.Response, reason: str) -> None:
    assert _fastbody.why_not(response) == reason
    assert _fastbody.open_body(response) is None


def test_a_body_already_started_is_not_taken(client: ModelGates) -> None:
    with open_stream(client._http, "job-demo", 0) as video:
        next(video.response.iter_raw(1024))
        assert _fastbody.why_not(video.response) == "the body was already started"


def _pool_connections(client: ModelGates | AsyncModelGates) -> list[object]:
    """The connections of the facade's own pool, under its wrapping transports."""
    transport: Any = client._http._transport
    while not hasattr(transport, "_pool"):
        transport = transport._inner
    return list(transport._pool.connections)


def test_a_fast_body_connection_is_closed_never_pooled(
    client: ModelGates, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = emulator.add_job(outputs=[Output.generated(4 * MiB, seed=1)])
    result = client.videos.download(job.id, tmp_path / "a.mp4")
    assert result.sha256 == job.outputs[0].sha256
    assert _pool_connections(client) == []  # httpcore never saw the body: not reusable
    # The general path reads through h11, which knows the exchange ended: it keeps its
    # connection for the next request.
    monkeypatch.setattr(_fastbody, "open_body", lambda response: None)
    client.videos.download(job.id, tmp_path / "b.mp4")
    assert len(_pool_connections(client)) == 1


def test_another_transport_takes_the_general_path(
    emulator: Emulator, tmp_path: Path, opened: list[str | None]
) -> None:
    job = emulator.add_job(outputs=[Output.generated(2 * MiB, seed=2)])
    with ModelGates(
        api_key=KEY, base_url=emulator.base_url, transport=httpx.HTTPTransport()
    ) as client:
        result = client.videos.download(job.id, tmp_path)
    assert result.sha256 == job.outputs[0].sha256
    assert opened == ["another connection pool (SyncStream, not the facade's own)"]


@pytest.mark.anyio
async def test_another_async_transport_takes_the_general_path(
    emulator: Emulator, tmp_path: Path, opened: list[str | None]
) -> None:
    job = emulator.add_job(outputs=[Output.generated(2 * MiB, seed=6)])
    async with AsyncModelGates(
        api_key=KEY, base_url=emulator.base_url, transport=httpx.AsyncHTTPTransport()
    ) as client:
        result = await client.videos.download(job.id, tmp_path)
    assert result.sha256 == job.outputs[0].sha256
    assert opened == ["another connection pool (AnyIOStream, not the facade's own)"]


class _ChunkedVideo(http.server.BaseHTTPRequestHandler):
    """A real HTTP/1.1 server sending the video with chunked transfer encoding."""

    protocol_version = "HTTP/1.1"
    body = bytes(range(256)) * 8192  # 2 MiB

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(self.body), 300_000):
            piece = self.body[start : start + 300_000]
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def chunked_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ChunkedVideo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    server.shutdown()
    server.server_close()


def test_a_chunked_body_takes_the_general_path(
    chunked_server: str, tmp_path: Path, opened: list[str | None]
) -> None:
    with ModelGates(api_key=KEY, base_url=chunked_server) as client:
        result = client.videos.download("job-chunked", tmp_path)
    assert opened == ["Transfer-Encoding: chunked (chunked)"]
    assert result.sha256 == hashlib.sha256(_ChunkedVideo.body).hexdigest()
    assert result.path.read_bytes() == _ChunkedVideo.body


@pytest.mark.anyio
async def test_the_async_client_reads_through_the_fast_path(
    async_client: AsyncModelGates, emulator: Emulator, tmp_path: Path, opened: list[str | None]
) -> None:
    job = emulator.add_job(outputs=[Output.generated(8 * MiB, seed=3)])
    result = await async_client.videos.download(job.id, tmp_path)
    assert opened == [None]
    assert result.sha256 == job.outputs[0].sha256
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == result.sha256
    assert _pool_connections(async_client) == []


# -- checksum= ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("body_path")
def test_checksum_false_skips_the_hash(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(3 * MiB + 7, seed=4)])
    result = client.videos.download(job.id, tmp_path, checksum=False)
    assert result.sha256 is None
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == job.outputs[0].sha256
    # expected_sha256 needs the hash: it is computed (and checked) whatever checksum says.
    checked = client.videos.download(
        job.id, tmp_path / "b.mp4", checksum=False, expected_sha256=job.outputs[0].sha256
    )
    assert checked.sha256 == job.outputs[0].sha256


@pytest.mark.parametrize(("first", "second"), [(False, True), (True, False)])
def test_resume_works_with_and_without_a_checksum(
    client: ModelGates, emulator: Emulator, tmp_path: Path, first: bool, second: bool
) -> None:
    from modelgates.emulator import Faults

    job = emulator.add_job(
        outputs=[Output.generated(6 * MiB, seed=5)], faults=Faults(drop_at=[2 * MiB])
    )
    dest = tmp_path / "v.mp4"
    with pytest.raises(Exception, match="peer closed"):
        client.videos.download(job.id, dest, max_retries=0, checksum=first)
    assert parked(tmp_path)
    result = client.videos.download(job.id, dest, checksum=second)
    assert emulator.requests_to("api")[-1].headers["range"] == f"bytes={2 * MiB}-"
    # A part saved unhashed is hashed from disk when the resume wants a checksum.
    assert result.sha256 == (job.outputs[0].sha256 if second else None)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == job.outputs[0].sha256


@pytest.mark.anyio
async def test_checksum_reaches_async_download_all(
    async_client: AsyncModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(MiB, seed=i) for i in range(3)])
    results = await async_client.videos.download_all(job.id, tmp_path, checksum=False)
    assert [r.sha256 for r in results] == [None, None, None]
    hashed = await async_client.videos.download_all(job.id, tmp_path / "h", checksum=True)
    assert [r.sha256 for r in hashed] == [o.sha256 for o in job.outputs]


def test_checksum_reaches_sync_download_all_and_generate(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(MiB, seed=i) for i in range(2)])
    assert [r.sha256 for r in client.videos.download_all(job.id, tmp_path, checksum=False)] == [
        None,
        None,
    ]
    made = client.videos.generate(
        model="emulator/video-1", prompt="a cat", dest=tmp_path / "g.mp4", poll_interval=0.01,
        checksum=False,
    )  # fmt: skip
    assert made.sha256 is None and made.bytes_written > 0


def test_checksum_must_be_a_bool(client: ModelGates, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="checksum must be True or False"):
        client.videos.download("job-demo", tmp_path, checksum="no")  # type: ignore[arg-type]


def test_cli_no_checksum(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MODELGATES_API_KEY", KEY)
    argv = ["videos", "download", "job-demo", "--base-url", emulator.base_url, "--no-checksum"]
    assert main([*argv, "-o", str(tmp_path / "a.mp4")]) == 0
    assert "sha256        not computed (--no-checksum)" in capsys.readouterr().out
    assert main([*argv, "-o", str(tmp_path / "b.mp4"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sha256"] is None
