"""The same faults through AsyncModelGates, and through the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from modelgates import AsyncModelGates, NotFoundError, RetryPolicy
from modelgates._cli import main
from modelgates.emulator import Emulator, Faults, Output, StatusFault
from tests.conftest import KEY
from tests.helpers import leftovers, parked
from tests.test_resilience import Sleeps

MiB = 1024 * 1024
#: Every test here runs on both body paths (conftest.body_path).
pytestmark = pytest.mark.usefixtures("body_path")


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def resilient(emulator: Emulator, sleeps: Sleeps) -> AsyncIterator[AsyncModelGates]:
    policy = RetryPolicy(max_retries=3, sleep=sleeps, async_sleep=sleeps.async_sleep)
    async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url, retry=policy) as client:
        yield client


@pytest.mark.anyio
async def test_drops_and_statuses(
    resilient: AsyncModelGates, emulator: Emulator, sleeps: Sleeps, tmp_path: Path
) -> None:
    size = 16 * MiB
    job = emulator.add_job(
        outputs=[Output.generated(size, seed=21)],
        faults=Faults(
            statuses=[502, StatusFault(429, retry_after="1")], drop_at=[3 * MiB, 9 * MiB]
        ),
    )
    result = await resilient.videos.download(job.id, tmp_path)
    assert result.sha256 == job.outputs[0].sha256
    assert job.bytes_served <= size + 2 * 1024 * 1024  # batches in flight are re-fetched
    assert sleeps.delays[1] == 1.0 and len(sleeps.delays) == 4


@pytest.mark.anyio
async def test_404_not_retried(resilient: AsyncModelGates, sleeps: Sleeps, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        await resilient.videos.download("missing", tmp_path)
    assert sleeps.delays == []


@pytest.mark.anyio
async def test_range_ignored_and_changed_video(
    resilient: AsyncModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    ignored = emulator.add_job(
        outputs=[Output.generated(4 * MiB, seed=22)],
        faults=Faults(drop_at=[MiB], ignore_range=True),
    )
    changed = emulator.add_job(
        outputs=[Output.generated(4 * MiB, seed=23)],
        faults=Faults(drop_at=[MiB], change_on_drop=True),
    )
    for job in (ignored, changed):
        result = await resilient.videos.download(job.id, tmp_path)
        assert result.sha256 == job.outputs[0].sha256


@pytest.mark.anyio
async def test_stall_then_resume(emulator: Emulator, sleeps: Sleeps, tmp_path: Path) -> None:
    job = emulator.add_job(
        outputs=[Output.generated(4 * MiB, seed=24)], faults=Faults(stall_at=MiB, stall_seconds=3)
    )
    policy = RetryPolicy(async_sleep=sleeps.async_sleep)
    async with AsyncModelGates(
        api_key=KEY, base_url=emulator.base_url, retry=policy, timeout=0.5
    ) as client:
        result = await client.videos.download(job.id, tmp_path)
    assert result.sha256 == job.outputs[0].sha256
    assert len(sleeps.delays) == 1


@pytest.mark.anyio
async def test_cancelled_download_resumes_on_the_next_call(
    resilient: AsyncModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    size = 16 * MiB
    job = emulator.add_job(
        outputs=[Output.generated(size, seed=25)], faults=Faults(stall_at=6 * MiB, stall_seconds=2)
    )
    dest = tmp_path / "out.mp4"
    with anyio.move_on_after(0.5):
        await resilient.videos.download(job.id, dest)
    assert not dest.exists() and leftovers(tmp_path) == []
    assert parked(tmp_path) == [".out.mp4.modelgates-partial"]
    served = job.bytes_served
    result = await resilient.videos.download(job.id, dest)
    assert result.sha256 == job.outputs[0].sha256
    start = int(emulator.requests_to("api")[-1].headers["range"][6:-1])
    assert start > 0 and job.bytes_served - served == size - start


def test_cli_survives_faults_and_logs_one_line_per_retry(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MODELGATES_API_KEY", KEY)
    job = emulator.add_job(
        outputs=[Output.generated(8 * MiB, seed=26)],
        faults=Faults(statuses=[502, 503], drop_at=[2 * MiB]),
    )
    code = main(
        ["-v", "videos", "download", job.id, "-o", str(tmp_path), "--base-url", emulator.base_url]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert job.outputs[0].sha256 in out
    retries = [line for line in err.splitlines() if line.startswith("modelgates: retrying")]
    assert len(retries) == 3, err
    assert "HTTP 502" in retries[0] and "HTTP 503" in retries[1] and "peer closed" in retries[2]
    assert KEY not in err
    capsys.readouterr()
    quiet = emulator.add_job(outputs=[Output.generated(MiB)], faults=Faults(statuses=[502]))
    assert (
        main(["videos", "download", quiet.id, "-o", str(tmp_path), "--base-url", emulator.base_url])
        == 0
    )
    assert capsys.readouterr().err == ""
