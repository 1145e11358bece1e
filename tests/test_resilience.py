"""Downloads that survive the network, against the emulator's faults over real sockets:
drops, retryable statuses, Range ignored, a video replaced mid-way, stalls, Ctrl-C."""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelgates import (
    AuthenticationError,
    BadGatewayError,
    DownloadIntegrityError,
    ModelGates,
    NotFoundError,
    RetryPolicy,
)
from modelgates.emulator import Emulator, Faults, Output, StatusFault
from tests.conftest import KEY
from tests.helpers import leftovers, parked

MiB = 1024 * 1024
#: Every test here runs on both body paths (conftest.body_path).
pytestmark = pytest.mark.usefixtures("body_path")
#: Reads from a socket are at most this big (httpcore's read size): the slack the bound allows.
ONE_READ = 64 * 1024


class Sleeps:
    """An injected sleep: records each delay and returns at once."""

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


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 * MiB):
            digest.update(block)
    return digest.hexdigest()


@pytest.mark.slow
def test_a_drop_at_any_of_100_seeded_offsets_resumes_to_identical_bytes(
    resilient: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    size = 64 * MiB
    expected = Output.generated(size, seed=64).sha256
    offsets = random.Random(20261123).sample(range(1, size), 100)
    for offset in offsets:
        job = emulator.add_job(
            outputs=[Output.generated(size, seed=64)], faults=Faults(drop_at=[offset])
        )
        result = resilient.videos.download(job.id, tmp_path / "out.mp4", overwrite=True)
        assert result.sha256 == expected, f"drop at {offset}"
        assert _file_sha256(result.path) == expected, f"drop at {offset}"
        assert job.faults.drop_at == [], f"the drop at {offset} did not happen"
        assert size <= job.bytes_served <= size + ONE_READ, f"drop at {offset}"
    assert leftovers(tmp_path) == [] and parked(tmp_path) == []


def test_many_drops_in_one_download(
    resilient: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    size = 16 * MiB
    drops = sorted(random.Random(7).sample(range(1, size), 3))
    job = emulator.add_job(outputs=[Output.generated(size, seed=3)], faults=Faults(drop_at=drops))
    result = resilient.videos.download(job.id, tmp_path)
    assert result.sha256 == job.outputs[0].sha256
    assert job.bytes_served == size  # each resume asked only for the rest


def test_502_twice_then_success(
    resilient: ModelGates, emulator: Emulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    job = emulator.add_job(faults=Faults(statuses=[502, 502]))
    result = resilient.videos.download(job.id, tmp_path)
    assert result.sha256 == job.outputs[0].sha256
    assert len(sleeps.delays) == 2
    assert all(0 <= d <= 30 for d in sleeps.delays)
    assert len(emulator.requests_to("api")) == 3


def test_retries_stop_at_max_retries(
    resilient: ModelGates, emulator: Emulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    job = emulator.add_job(faults=Faults(statuses=[StatusFault(502, body="html")] * 10))
    with pytest.raises(BadGatewayError):
        resilient.videos.download(job.id, tmp_path)
    assert len(sleeps.delays) == 3 and len(emulator.requests_to("api")) == 4
    with pytest.raises(BadGatewayError):
        resilient.videos.download(job.id, tmp_path, max_retries=0)
    assert len(sleeps.delays) == 3 and len(emulator.requests_to("api")) == 5


def test_429_retry_after_is_honoured(
    resilient: ModelGates, emulator: Emulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    job = emulator.add_job(faults=Faults(statuses=[StatusFault(429, retry_after="1")]))
    resilient.videos.download(job.id, tmp_path)
    assert sleeps.delays == [1.0]


def test_retry_after_is_capped(emulator: Emulator, sleeps: Sleeps, tmp_path: Path) -> None:
    policy = RetryPolicy(sleep=sleeps, max_retry_after=5.0)
    job = emulator.add_job(faults=Faults(statuses=[StatusFault(503, retry_after="3600")]))
    with ModelGates(api_key=KEY, base_url=emulator.base_url, retry=policy) as client:
        client.videos.download(job.id, tmp_path)
    assert sleeps.delays == [5.0]


def test_deadline_bounds_the_time_spent_failing(emulator: Emulator, tmp_path: Path) -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    policy = RetryPolicy(max_retries=100, deadline=10.0, sleep=sleep, clock=lambda: now[0])
    job = emulator.add_job(faults=Faults(statuses=[StatusFault(500, retry_after="4")] * 100))
    with ModelGates(api_key=KEY, base_url=emulator.base_url, retry=policy) as client:
        with pytest.raises(BadGatewayError.__mro__[1]):  # InternalServerError
            client.videos.download(job.id, tmp_path)
    assert now[0] == 8.0  # two waits of 4 s fit in 10 s; a third would not


@pytest.mark.parametrize(("status", "cls"), [(401, AuthenticationError), (404, NotFoundError)])
def test_401_and_404_are_not_retried(
    resilient: ModelGates,
    emulator: Emulator,
    sleeps: Sleeps,
    tmp_path: Path,
    status: int,
    cls: type[Exception],
) -> None:
    job = emulator.add_job(faults=Faults(statuses=[status] * 5))
    with pytest.raises(cls):
        resilient.videos.download(job.id, tmp_path)
    assert sleeps.delays == []
    assert len(emulator.requests_to("api")) == 1


def test_range_ignored_restarts_with_the_right_result(
    resilient: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    size = 8 * MiB
    job = emulator.add_job(
        outputs=[Output.generated(size, seed=11)],
        faults=Faults(drop_at=[3 * MiB], ignore_range=True),
    )
    progress: list[int] = []
    result = resilient.videos.download(
        job.id, tmp_path, on_progress=lambda d, t: progress.append(d)
    )
    assert result.sha256 == job.outputs[0].sha256
    assert job.bytes_served == 3 * MiB + size  # the second response was the whole video
    requests = emulator.requests_to("api")
    assert requests[1].headers["range"] == f"bytes={3 * MiB}-"
    assert progress == sorted(progress) and progress[-1] == size  # never backwards


def test_changed_validator_restarts_with_the_new_video(
    resilient: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    size = 8 * MiB
    job = emulator.add_job(
        outputs=[Output.generated(size, seed=12)],
        faults=Faults(drop_at=[2 * MiB], change_on_drop=True),
    )
    old_sha = job.outputs[0].sha256
    result = resilient.videos.download(job.id, tmp_path)
    assert job.outputs[0].version == 2
    assert result.sha256 == job.outputs[0].sha256 != old_sha
    assert _file_sha256(result.path) == result.sha256
    _, second = emulator.requests_to("api")
    assert second.headers["if-range"] != ""
    assert job.bytes_served == 2 * MiB + size


def test_stall_times_out_then_resumes(
    emulator: Emulator, sleeps: Sleeps, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="modelgates")
    size = 4 * MiB
    job = emulator.add_job(
        outputs=[Output.generated(size, seed=13)],
        faults=Faults(stall_at=MiB, stall_seconds=3.0),
    )
    policy = RetryPolicy(sleep=sleeps)
    timeout = httpx.Timeout(5.0, read=0.5)
    with ModelGates(
        api_key=KEY, base_url=emulator.base_url, retry=policy, timeout=timeout
    ) as client:
        result = client.videos.download(job.id, tmp_path)
    assert result.sha256 == job.outputs[0].sha256
    assert emulator.requests_to("api")[1].headers["range"].startswith("bytes=")
    (retry,) = [r for r in caplog.records if r.getMessage().startswith("retrying")]
    assert "timed out" in retry.getMessage() and KEY not in retry.getMessage()


def test_interrupted_download_resumes_on_the_next_call(
    resilient: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    size = 32 * MiB
    # The pause lets a throttled progress report arrive mid-stream, past 4 MiB.
    job = emulator.add_job(
        outputs=[Output.generated(size, seed=14)],
        faults=Faults(stall_at=4 * MiB, stall_seconds=0.3),
    )
    dest = tmp_path / "out.mp4"

    def interrupt(done: int, total: int | None) -> None:
        if done >= 4 * MiB:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        resilient.videos.download(job.id, dest, on_progress=interrupt)
    assert not dest.exists()
    assert leftovers(tmp_path) == []
    assert parked(tmp_path) == [".out.mp4.modelgates-partial"]
    served_before = job.bytes_served
    kept = (tmp_path / ".out.mp4.modelgates-partial").stat().st_size  # with its small trailer
    assert 4 * MiB <= kept < size

    progress: list[tuple[int, int | None]] = []
    result = resilient.videos.download(
        job.id, dest, on_progress=lambda d, t: progress.append((d, t))
    )
    assert result.sha256 == job.outputs[0].sha256
    assert _file_sha256(dest) == result.sha256
    second = emulator.requests_to("api")[-1]
    start = int(second.headers["range"].removeprefix("bytes=").rstrip("-"))
    assert start >= 4 * MiB
    assert job.bytes_served - served_before == size - start  # only the rest
    assert progress[0][0] >= start and progress[-1] == (size, size)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_a_parked_download_of_another_video_is_not_continued(
    resilient: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    first = emulator.add_job(
        outputs=[Output.generated(8 * MiB, seed=1)], faults=Faults(drop_at=[MiB])
    )
    other = emulator.add_job(outputs=[Output.generated(8 * MiB, seed=2)])
    with pytest.raises(Exception, match="peer closed"):
        resilient.videos.download(first.id, tmp_path / "v.mp4", max_retries=0)
    assert parked(tmp_path)
    result = resilient.videos.download(other.id, tmp_path / "v.mp4")
    assert result.sha256 == other.outputs[0].sha256
    last = emulator.requests_to("api")[-1].headers
    assert last.get("range", "bytes=0-") == "bytes=0-" and "if-range" not in last  # from 0


def test_expected_sha256_mismatch_leaves_nothing(
    resilient: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(MiB, seed=15)])
    with pytest.raises(DownloadIntegrityError, match="expected 0000"):
        resilient.videos.download(job.id, tmp_path, expected_sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []
    result = resilient.videos.download(
        job.id, tmp_path, expected_sha256=job.outputs[0].sha256.upper()
    )
    assert result.sha256 == job.outputs[0].sha256


def test_concurrent_downloads_to_one_destination_do_not_corrupt(
    emulator: Emulator, tmp_path: Path
) -> None:
    size = 16 * MiB
    job = emulator.add_job(
        outputs=[Output.generated(size, seed=16)], faults=Faults(drop_at=[MiB, 2 * MiB, 5 * MiB])
    )
    dest = tmp_path / "same.mp4"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with ModelGates(api_key=KEY, base_url=emulator.base_url) as client:
                client.videos.download(job.id, dest, overwrite=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _file_sha256(dest) == job.outputs[0].sha256
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.mp4"]


def test_json_calls_through_raw_are_retried(
    resilient: ModelGates, emulator: Emulator, sleeps: Sleeps
) -> None:
    from modelgates_api.api.videos import get_video, list_video_models

    emulator.fail("poll", 502, StatusFault(429, retry_after="2"))
    emulator.fail("models", 503)
    assert get_video.sync_detailed("job-demo", client=resilient.raw).status_code == 200
    assert list_video_models.sync_detailed(client=resilient.raw).status_code == 200
    assert len(sleeps.delays) == 3 and sleeps.delays[1] == 2.0


def test_per_call_timeout(emulator: Emulator, sleeps: Sleeps, tmp_path: Path) -> None:
    job = emulator.add_job(
        outputs=[Output.generated(2 * MiB, seed=17)], faults=Faults(stall_at=MiB, stall_seconds=2)
    )
    with ModelGates(
        api_key=KEY, base_url=emulator.base_url, retry=RetryPolicy(sleep=sleeps)
    ) as client:
        result = client.videos.download(job.id, tmp_path, timeout=0.3)
    assert result.sha256 == job.outputs[0].sha256
    assert len(sleeps.delays) == 1  # the client's 60 s read timeout would have waited it out


def test_a_parked_download_starts_over_when_the_video_changed(
    resilient: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(
        outputs=[Output.generated(8 * MiB, seed=18)], faults=Faults(drop_at=[3 * MiB])
    )
    with pytest.raises(Exception, match="peer closed"):
        resilient.videos.download(job.id, tmp_path, max_retries=0)
    assert parked(tmp_path)
    job.outputs[0].version += 1  # regenerated upstream meanwhile
    result = resilient.videos.download(job.id, tmp_path)
    assert result.sha256 == job.outputs[0].sha256
    assert _file_sha256(result.path) == result.sha256
    last = emulator.requests_to("api")[-1]
    assert last.headers["range"] == f"bytes={3 * MiB}-"  # it asked to continue...
    assert job.bytes_served == 3 * MiB + 8 * MiB  # ...and got, and kept, the whole new video
    assert parked(tmp_path) == []
