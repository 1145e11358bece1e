"""create, get, wait, models, generate, download_all: the whole workflow against the emulator."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelgates import (
    AsyncModelGates,
    BadRequestError,
    InvalidParameterError,
    ModelGates,
    NotFoundError,
    RetryPolicy,
    VideoJob,
    VideoJobFailedError,
    VideoJobTimeoutError,
)
from modelgates.emulator import Emulator, Output, StatusFault, demo_video
from tests.conftest import KEY


class FakeTime:
    """An injected clock and sleep: waits take no wall time and are recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(sleep=self.sleep, async_sleep=self.async_sleep, clock=self.clock)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def wf(emulator: Emulator, fake_time: FakeTime) -> Iterator[ModelGates]:
    with ModelGates(api_key=KEY, base_url=emulator.base_url, retry=fake_time.policy()) as client:
        yield client


def test_create_get_wait_download(
    wf: ModelGates, emulator: Emulator, fake_time: FakeTime, tmp_path: Path
) -> None:
    job = wf.videos.create(model="emulator/video-1", prompt="a cat", resolution="720p", duration=8)
    assert isinstance(job, VideoJob)
    assert job.status == "pending" and job.polling_url and job.polling_url.endswith(job.id)
    sent = emulator.requests_to("api")[0]
    assert sent.method == "POST"
    updates: list[str] = []
    done = wf.videos.wait(job.id, poll_interval=5, on_update=lambda j: updates.append(j.status))
    assert done.status == "completed" and done.is_terminal
    assert updates == ["pending", "in_progress", "completed"]
    assert fake_time.sleeps == [5, 5]
    assert done.unsigned_urls and done.cost == 0.0
    result = wf.videos.download(job.id, tmp_path)
    assert result.bytes_written == len(demo_video())


@pytest.mark.off_document("sends a resolution the document does not list yet")
def test_create_sends_fields_as_given(wf: ModelGates, emulator: Emulator) -> None:
    import json

    wf.videos.create(
        model="emulator/video-1", prompt="p", resolution="8K", extra_body={"new_field": {"a": 1}}
    )
    body = emulator.last_body
    assert json.loads(body) == {
        "model": "emulator/video-1",
        "prompt": "p",
        "resolution": "8K",
        "new_field": {"a": 1},
    }


def test_failed_job_raises_with_its_error(wf: ModelGates) -> None:
    job = wf.videos.create(model="emulator/video-1", prompt="[fail] a dog")
    with pytest.raises(VideoJobFailedError, match="The provider rejected the prompt") as info:
        wf.videos.wait(job.id, poll_interval=1)
    assert info.value.job.status == "failed" and info.value.job.id == job.id


@pytest.mark.parametrize("status", ["cancelled", "expired"])
def test_cancelled_and_expired_raise(wf: ModelGates, emulator: Emulator, status: str) -> None:
    job = emulator.add_job(final_status=status, error=None)
    with pytest.raises(VideoJobFailedError, match=status):
        wf.videos.wait(job.id)


def test_wait_timeout_says_the_job_may_still_finish(
    wf: ModelGates, emulator: Emulator, fake_time: FakeTime
) -> None:
    job = emulator.add_job(polls_to_complete=1000)
    with pytest.raises(VideoJobTimeoutError, match="may still finish") as info:
        wf.videos.wait(job.id, timeout=60, poll_interval=25)
    assert info.value.job.status == "in_progress"
    assert fake_time.sleeps == [25, 25, 10]  # never sleeps past the deadline
    assert isinstance(info.value, TimeoutError)


@pytest.mark.off_document("answers statuses a newer API added")
def test_unknown_status_and_fields_pass_through(wf: ModelGates, emulator: Emulator) -> None:
    job = emulator.add_job(
        polls_to_complete=2, progress=("queued", "rendering"), extra={"eta_seconds": 12}
    )
    seen = [wf.videos.get(job.id).status for _ in range(3)]
    assert seen == ["queued", "rendering", "completed"]
    assert wf.videos.get(job.id).raw["eta_seconds"] == 12
    assert not VideoJob(id="x", status="queued").is_terminal


def test_models(wf: ModelGates) -> None:
    models = wf.videos.models()
    assert [m.id for m in models] == [
        "emulator/video-1",
        "emulator/video-lite",
        "google/veo-3.1",
        "openai/sora-2",
        "bytedance/seedance-2.0",
    ]
    first, lite, *_ = models
    assert first.supported_resolutions == ("480p", "720p", "1080p")
    assert first.supported_durations == (4, 8)
    assert first.pricing_skus == {"per_second": "0.01"}
    assert lite.supported_sizes is None and lite.generate_audio is None


def test_capability_check_names_the_value(wf: ModelGates, emulator: Emulator) -> None:
    with pytest.raises(
        InvalidParameterError,
        match=r"resolution='4K' is not accepted by emulator/video-1; it accepts 480p, 720p, 1080p",
    ):
        wf.videos.create(model="emulator/video-1", prompt="p", resolution="4K", check=True)
    with pytest.raises(InvalidParameterError, match="duration=5"):
        wf.videos.create(model="emulator/video-1", prompt="p", duration=5, check=True)
    with pytest.raises(InvalidParameterError, match="not a video model"):
        wf.videos.create(model="nope/nope", prompt="p", check=True)
    assert [r.method for r in emulator.requests_to("api")] == ["GET"]  # models, once, cached
    job = wf.videos.create(model="emulator/video-1", prompt="p", resolution="720p", check=True)
    assert job.status == "pending"


def test_api_errors_from_create_and_get(
    wf: ModelGates, emulator: Emulator, fake_time: FakeTime
) -> None:
    with pytest.raises(BadRequestError, match="does not support video generation"):
        wf.videos.create(model="unknown/model", prompt="p")
    with pytest.raises(NotFoundError):
        wf.videos.get("missing")
    emulator.fail("create", 502)
    with pytest.raises(Exception, match="502"):
        wf.videos.create(model="emulator/video-1", prompt="p")  # a POST: never retried on 5xx
    assert fake_time.sleeps == []
    emulator.fail("poll", StatusFault(502, body="html"))
    assert wf.videos.get("job-demo").status == "completed"  # a GET: retried
    assert len(fake_time.sleeps) == 1


def test_generate(wf: ModelGates, tmp_path: Path) -> None:
    updates: list[str] = []
    result = wf.videos.generate(
        model="emulator/video-1",
        prompt="a cat",
        dest=tmp_path,
        poll_interval=1,
        on_update=lambda j: updates.append(j.status),
    )
    assert result.path.parent == tmp_path and result.path.read_bytes() == demo_video()
    assert updates[-1] == "completed"


def test_download_all(wf: ModelGates, emulator: Emulator, tmp_path: Path) -> None:
    outputs = [Output.generated(3 * 1024 * 1024, seed=s) for s in range(8)]
    job = emulator.add_job(outputs=outputs)
    results = wf.videos.download_all(job.id, tmp_path / "all", max_concurrency=3)
    assert [r.path.name for r in results] == [f"{job.id}.mp4"] + [
        f"{job.id}-{i}.mp4" for i in range(1, 8)
    ]
    for result, output in zip(results, outputs, strict=True):
        assert hashlib.sha256(result.path.read_bytes()).hexdigest() == output.sha256
    pending = emulator.add_job(polls_to_complete=9)
    with pytest.raises(InvalidParameterError, match="not completed"):
        wf.videos.download_all(pending.id, tmp_path)


@pytest.mark.anyio
async def test_async_workflow(emulator: Emulator, fake_time: FakeTime, tmp_path: Path) -> None:
    async with AsyncModelGates(
        api_key=KEY, base_url=emulator.base_url, retry=fake_time.policy()
    ) as client:
        job = await client.videos.create(model="emulator/video-1", prompt="a cat")
        done = await client.videos.wait(job.id, poll_interval=2)
        assert done.status == "completed" and fake_time.sleeps == [2, 2]
        assert next(m.id for m in await client.videos.models()) == "emulator/video-1"
        result = await client.videos.generate(
            model="emulator/video-1", prompt="x", dest=tmp_path, poll_interval=1
        )
        assert result.bytes_written == len(demo_video())
        failing = await client.videos.create(model="emulator/video-1", prompt="[fail]")
        with pytest.raises(VideoJobFailedError):
            await client.videos.wait(failing.id, poll_interval=1)
        many = emulator.add_job(outputs=[Output.generated(1024 * 1024, seed=s) for s in range(5)])
        results = await client.videos.download_all(many.id, tmp_path / "many", max_concurrency=2)
        assert [r.sha256 for r in results] == [o.sha256 for o in many.outputs]
        with pytest.raises(InvalidParameterError):
            await client.videos.create(
                model="emulator/video-1", prompt="p", resolution="4K", check=True
            )
