"""The emulator speaks HTTP as the API does: auth, job progress, ranges, validators."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelgates import ModelGates
from modelgates.emulator import DEFAULT_API_KEY, DEMO_JOB_ID, Emulator, Output, demo_video
from modelgates.emulator._content import PERIOD, generated_chunks
from modelgates.emulator._server import _parse_range

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


@pytest.fixture
def http(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, headers=AUTH, timeout=10) as client:
        yield client


def test_parse_range() -> None:
    assert _parse_range("bytes=0-9", 100) == (0, 10)
    assert _parse_range("bytes=90-", 100) == (90, 100)
    assert _parse_range("bytes=-10", 100) == (90, 100)
    assert _parse_range("bytes=50-500", 100) == (50, 100)
    assert _parse_range("bytes=100-", 100) == "unsatisfiable"
    assert _parse_range("bytes=0-1,5-6", 100) is None
    assert _parse_range("items=0-1", 100) is None
    assert _parse_range("bytes=x-y", 100) is None


def test_generated_bodies_are_deterministic_and_aperiodic_in_mib() -> None:
    a = b"".join(generated_chunks(3, 0, 3 * 1024 * 1024))
    b = b"".join(generated_chunks(3, 1000, 2 * 1024 * 1024))
    assert a[1000 : 2 * 1024 * 1024] == b
    assert a[: 1024 * 1024] != a[1024 * 1024 : 2 * 1024 * 1024]
    assert a[:100] == a[PERIOD : PERIOD + 100]


@pytest.mark.off_document("requests without the Authorization header the document requires")
def test_auth_required(emulator: Emulator) -> None:
    response = httpx.get(f"{emulator.base_url}/videos/{DEMO_JOB_ID}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401
    assert response.headers["x-request-id"].startswith("req_")


def test_job_progresses_with_polls(http: httpx.Client) -> None:
    created = http.post("/videos", json={"model": "emulator/video-1", "prompt": "a cat"})
    assert created.status_code == 202
    job = created.json()
    assert job["status"] == "pending" and job["polling_url"].endswith(job["id"])
    statuses = [http.get(f"/videos/{job['id']}").json()["status"] for _ in range(4)]
    assert statuses == ["pending", "in_progress", "completed", "completed"]
    assert http.get(f"/videos/{job['id']}/content").content == demo_video()


@pytest.mark.off_document("sends a create request without the required prompt")
def test_failed_job_and_bad_requests(http: httpx.Client, emulator: Emulator) -> None:
    job = emulator.add_job(final_status="failed", error="The provider rejected the prompt")
    body = http.get(f"/videos/{job.id}").json()
    assert body["status"] == "failed" and body["error"] == "The provider rejected the prompt"
    assert http.post("/videos", json={"model": "emulator/video-1"}).status_code == 400
    assert http.post("/videos", json={"model": "nope", "prompt": "x"}).status_code == 400
    pending = emulator.add_job(polls_to_complete=5)
    assert http.get(f"/videos/{pending.id}/content").status_code == 400


def test_ranges_and_validators(http: httpx.Client, emulator: Emulator) -> None:
    job = emulator.add_job(outputs=[Output.generated(5000, seed=2)])
    full = http.get(f"/videos/{job.id}/content")
    assert full.headers["accept-ranges"] == "bytes"
    etag, last_modified = full.headers["etag"], full.headers["last-modified"]
    part = http.get(f"/videos/{job.id}/content", headers={"Range": "bytes=1000-", "If-Range": etag})
    assert part.status_code == 206
    assert part.headers["content-range"] == "bytes 1000-4999/5000"
    assert part.content == full.content[1000:]
    by_date = http.get(
        f"/videos/{job.id}/content", headers={"Range": "bytes=10-19", "If-Range": last_modified}
    )
    assert by_date.status_code == 206 and by_date.content == full.content[10:20]
    assert hashlib.sha256(full.content).hexdigest() == job.outputs[0].sha256
    job.outputs[0].version += 1  # the video changed upstream: new bytes, new validators
    stale = http.get(
        f"/videos/{job.id}/content", headers={"Range": "bytes=1000-", "If-Range": etag}
    )
    assert stale.status_code == 200 and stale.headers["etag"] != etag
    assert stale.content != full.content
    assert hashlib.sha256(stale.content).hexdigest() == job.outputs[0].sha256
    assert (
        http.get(f"/videos/{job.id}/content", headers={"Range": "bytes=6000-"}).status_code == 416
    )
    head = http.head(f"/videos/{job.id}/content")
    assert head.headers["content-length"] == "5000" and head.content == b""


def test_plugin_client_fixture_talks_to_the_plugin_emulator(
    modelgates_client: ModelGates, modelgates_emulator: Emulator, tmp_path: Path
) -> None:
    result = modelgates_client.videos.download(DEMO_JOB_ID, tmp_path)
    assert result.bytes_written == len(demo_video())
    assert modelgates_client.base_url == modelgates_emulator.base_url


def test_a_client_that_resets_its_connection_prints_no_traceback(
    emulator: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    """Downloads close connections whose body they read themselves: the emulator must not
    print a traceback for each (it did, hundreds of lines per test run)."""
    import socket
    import struct
    import time

    sock = socket.create_connection(("127.0.0.1", emulator.port))
    request = f"GET /api/v1/videos/{DEMO_JOB_ID} HTTP/1.1\r\nHost: x\r\n"
    sock.sendall(f"{request}Authorization: Bearer {DEFAULT_API_KEY}\r\n\r\n".encode())
    sock.recv(65536)  # the answer; the server now waits for the next request line
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # a reset, not a FIN
    time.sleep(0.3)
    assert "Traceback" not in capfd.readouterr().err
