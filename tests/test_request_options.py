"""openai-python's per-call and per-client options: extra_headers/extra_query/timeout on every
method that sends a request, ``with_options`` on the same pool, and ``http_client=``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from modelgates import (
    AsyncModelGates,
    InternalServerError,
    InvalidParameterError,
    ModelGates,
    NotFoundError,
    RetryPolicy,
)
from modelgates.emulator import DEMO_JOB_ID, Emulator, Output
from tests.conftest import KEY

MODEL = "emulator/video-1"
EXTRA = {"extra_headers": {"X-Trace": "t-1"}, "extra_query": {"trace": "q-1"}}


def _traced(emulator: Emulator) -> list[tuple[str, str | None, list[str] | None]]:
    """(path, X-Trace, trace=) of every request the emulator saw."""
    return [
        (r.path, r.headers.get("x-trace"), parse_qs(r.query).get("trace"))
        for r in emulator.requests
    ]


def test_extras_reach_every_request_of_every_method(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.polls_to_complete = 0
    many = emulator.add_job(outputs=[Output.generated(1000, seed=s) for s in range(2)])
    job = client.videos.create(model=MODEL, prompt="p", **EXTRA)  # type: ignore[arg-type]
    client.videos.get(job.id, **EXTRA)  # type: ignore[arg-type]
    client.videos.wait(job.id, **EXTRA)  # type: ignore[arg-type]
    client.videos.models(**EXTRA)  # type: ignore[arg-type]
    client.videos.download(job.id, tmp_path / "a.mp4", **EXTRA)  # type: ignore[arg-type]
    client.videos.download_all(many.id, tmp_path / "all", **EXTRA)  # type: ignore[arg-type]
    with client.videos.stream(job.id, **EXTRA) as video:  # type: ignore[arg-type]
        b"".join(video.iter_bytes())
    client.videos.generate(model=MODEL, prompt="p", dest=tmp_path / "g.mp4", **EXTRA)  # type: ignore[arg-type]
    seen = _traced(emulator)
    assert len(seen) == 12  # generate: create, poll, download; download_all: get + 2
    assert all((header, query) == ("t-1", ["q-1"]) for _, header, query in seen), seen


def test_extra_query_never_overrides_the_operations_own_parameters(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    many = emulator.add_job(outputs=[Output.generated(1000, seed=s) for s in range(2)])
    result = client.videos.download(
        many.id, tmp_path / "one.mp4", index=1, extra_query={"index": "0"}
    )
    assert result.sha256 == many.outputs[1].sha256


def test_extras_are_checked_by_name(client: ModelGates, emulator: Emulator) -> None:
    with pytest.raises(InvalidParameterError, match="extra_headers must be a mapping"):
        client.videos.get(DEMO_JOB_ID, extra_headers=[("a", "b")])  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="extra_headers must map str to str"):
        client.videos.get(DEMO_JOB_ID, extra_headers={"X-N": 1})  # type: ignore[dict-item]
    with pytest.raises(InvalidParameterError, match="extra_query must be a mapping"):
        client.videos.models(extra_query="a=b")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match=r"^request_timeout must be seconds > 0"):
        client.videos.wait(DEMO_JOB_ID, request_timeout=-1)
    with pytest.raises(InvalidParameterError, match=r"^timeout must be seconds > 0"):
        client.videos.get(DEMO_JOB_ID, timeout="soon")  # type: ignore[arg-type]
    assert emulator.requests_to("api") == []


class Recorder(httpx.BaseTransport):
    """Answers every request as the emulator would not need to: records its timeout."""

    def __init__(self) -> None:
        self.timeouts: list[dict[str, Any]] = []
        self.closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.timeouts.append(request.extensions["timeout"])
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": []})
        return httpx.Response(200, json={"id": "job-1", "status": "pending", "polling_url": "u"})

    def close(self) -> None:
        self.closed = True


def test_per_call_timeout_and_with_options(tmp_path: Path) -> None:
    recorder = Recorder()
    client = ModelGates(api_key=KEY, base_url="http://127.0.0.1:9/api/v1", transport=recorder)
    client.videos.get("job-1")
    client.videos.get("job-1", timeout=2.5)
    client.videos.get("job-1", timeout=httpx.Timeout(7.0))
    quick = client.with_options(timeout=4.0, max_retries=7)
    quick.videos.models()
    quick.videos.models(timeout=1.0)
    reads = [t["read"] for t in recorder.timeouts]
    assert reads == [60.0, 2.5, 7.0, 4.0, 1.0]
    assert (quick.timeout.read, quick.max_retries) == (4.0, 7)
    assert (client.timeout.read, client.max_retries) == (60.0, 2)
    quick.close()
    assert not recorder.closed  # the copy does not own the connections
    client.videos.get("job-1")
    client.close()
    assert recorder.closed


def test_with_options_shares_the_connection_pool(emulator: Emulator) -> None:
    with ModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        client.videos.get(DEMO_JOB_ID)
        copy = client.with_options(timeout=30)
        copy.videos.get(DEMO_JOB_ID)
        assert copy._pool is client._pool
        pool = client._pool.direct._pool  # type: ignore[union-attr]
        assert len(pool.connections) == 1  # the copy's request reused the same connection
    with pytest.raises(InvalidParameterError, match="max_retries must be an int"):
        client.with_options(max_retries=-1)


def test_with_options_max_retries_applies_to_the_copy_only(emulator: Emulator) -> None:
    policy = RetryPolicy(max_retries=3, sleep=lambda _: None)
    with ModelGates(api_key=KEY, base_url=emulator.base_url, retry=policy) as client:
        emulator.fail("poll", 503)
        assert client.videos.get(DEMO_JOB_ID).id == DEMO_JOB_ID
        emulator.fail("poll", 503)
        with pytest.raises(InternalServerError):
            client.with_options(max_retries=0).videos.get(DEMO_JOB_ID)


@pytest.mark.anyio
async def test_async_with_options_and_extras(emulator: Emulator) -> None:
    async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        copy = client.with_options(max_retries=0)
        await copy.videos.get(DEMO_JOB_ID, **EXTRA)  # type: ignore[arg-type]
        await copy.close()
        await client.videos.models(**EXTRA)  # type: ignore[arg-type]
    assert [(header, query) for _, header, query in _traced(emulator)] == [("t-1", ["q-1"])] * 2


@pytest.fixture
def hooked() -> Iterator[tuple[httpx.Client, list[str]]]:
    seen: list[str] = []

    def hook(request: httpx.Request) -> None:
        seen.append(f"{request.method} {request.url.path} {request.headers.get('x-team')}")

    with httpx.Client(headers={"X-Team": "video"}, event_hooks={"request": [hook]}) as http:
        yield http, seen


def test_http_client_keeps_the_facades_key_retries_and_errors(
    emulator: Emulator, hooked: tuple[httpx.Client, list[str]], tmp_path: Path
) -> None:
    http, seen = hooked
    policy = RetryPolicy(max_retries=2, sleep=lambda _: None)
    with ModelGates(
        api_key=KEY, base_url=emulator.base_url, http_client=http, retry=policy
    ) as client:
        emulator.fail("poll", 503)
        assert client.videos.get(DEMO_JOB_ID).id == DEMO_JOB_ID
        with pytest.raises(NotFoundError):
            client.videos.get("job-missing")
        assert client.raw is not None
    assert not http.is_closed
    path = f"/api/v1/videos/{DEMO_JOB_ID}"
    assert seen == [
        f"GET {path} video",
        f"GET {path} video",
        "GET /api/v1/videos/job-missing video",
    ]
    assert {r.authorization for r in emulator.requests_to("api")} == {f"Bearer {KEY}"}


@pytest.mark.anyio
async def test_async_http_client(emulator: Emulator) -> None:
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async with httpx.AsyncClient(event_hooks={"request": [hook]}) as http:
        async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url, http_client=http) as c:
            await c.videos.get(DEMO_JOB_ID)
        assert not http.is_closed
    assert seen == [f"/api/v1/videos/{DEMO_JOB_ID}"]


def test_http_client_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match=r"http_client must be an httpx\.Client"):
        ModelGates(api_key=KEY, http_client=httpx.AsyncClient())  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="transport= or http_client=, not both"):
        ModelGates(api_key=KEY, http_client=httpx.Client(), transport=httpx.HTTPTransport())
