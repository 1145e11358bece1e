"""What a download leaves on disk: the finished file's mode, private temporaries, and the
temporaries of a process killed with SIGKILL swept by the next download (never a live one's).
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelgates import ModelGates, ModelGatesError
from modelgates._files import STALE_AFTER
from modelgates.emulator import Emulator, Faults, Output, demo_video
from tests.conftest import KEY
from tests.helpers import leftovers, parked

MiB = 2**20

#: A real download in another process, to the destination in argv[3].
DOWNLOADER = """
import sys
from modelgates import ModelGates
with ModelGates(api_key=sys.argv[1], base_url=sys.argv[2], max_retries=0) as client:
    client.videos.download(sys.argv[4], sys.argv[3])
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("umask")
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_a_finished_file_gets_the_mode_of_any_new_file(
    client: ModelGates, tmp_path: Path, mask: int
) -> None:
    os.umask(mask)
    seen: list[int] = []

    def on_progress(done: int, total: int | None) -> None:
        seen.extend(mode(p) for p in tmp_path.iterdir() if p.name.endswith(".part"))

    result = client.videos.download("job-demo", tmp_path / "v.mp4", on_progress=on_progress)
    assert mode(result.path) == 0o666 & ~mask
    assert seen and set(seen) == {0o600}  # the temporary stays private while it grows


def test_the_parked_partial_stays_private(
    client: ModelGates, emulator: Emulator, tmp_path: Path, umask: None
) -> None:
    job = emulator.add_job(outputs=[Output.generated(2 * MiB)], faults=Faults(drop_at=[MiB]))
    with pytest.raises(ModelGatesError):
        client.videos.download(job.id, tmp_path / "v.mp4", max_retries=0)
    (name,) = parked(tmp_path)
    assert mode(tmp_path / name) == 0o600
    assert mode(client.videos.download(job.id, tmp_path / "v.mp4").path) == 0o644


def start_download(emulator: Emulator, job_id: str, dest: Path) -> subprocess.Popen[bytes]:
    """A download in another process, stalled by the emulator once its temporary holds 1 MiB."""
    process = subprocess.Popen(
        [sys.executable, "-c", DOWNLOADER, KEY, emulator.base_url, str(dest), job_id],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not any((dest.parent / n).stat().st_size >= MiB for n in leftovers(dest.parent)):
        assert process.poll() is None and time.monotonic() < deadline, "the download never began"
        time.sleep(0.02)
    return process


def age(path: Path, seconds: float) -> None:
    """As if nothing had been written to ``path`` for ``seconds``."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def stalled_job(emulator: Emulator) -> str:
    faults = Faults(stall_at=MiB, stall_seconds=20)
    return emulator.add_job(outputs=[Output.generated(4 * MiB)], faults=faults).id


@pytest.mark.slow
def test_a_killed_downloads_temporary_is_swept_by_the_next_download(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    dest = tmp_path / "v.mp4"
    process = start_download(emulator, stalled_job(emulator), dest)
    (abandoned,) = leftovers(tmp_path)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    age(tmp_path / abandoned, STALE_AFTER + 1)

    result = client.videos.download("job-demo", dest)
    assert result.path.read_bytes() == demo_video()
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_a_live_downloads_temporary_is_never_swept(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    dest = tmp_path / "v.mp4"
    process = start_download(emulator, stalled_job(emulator), dest)
    try:
        (live,) = leftovers(tmp_path)
        age(tmp_path / live, STALE_AFTER + 60)  # stalled for long, but its writer holds it
        client.videos.download("job-demo", dest)
        assert leftovers(tmp_path) == [live] and process.poll() is None
    finally:
        process.kill()
        process.wait(timeout=10)


def test_only_idle_unlocked_temporaries_of_the_same_destination_are_swept(
    client: ModelGates, tmp_path: Path
) -> None:
    fresh = tmp_path / ".v.mp4.fresh123.part"  # unlocked, but written a moment ago
    old = tmp_path / ".v.mp4.old45678.part"
    other = tmp_path / ".v.mp4.x.mp4.other123.part"  # another destination's ("v.mp4.x.mp4")
    for path in (fresh, old, other):
        path.write_bytes(b"x")
    age(old, STALE_AFTER + 1)
    age(other, STALE_AFTER + 1)
    client.videos.download("job-demo", tmp_path / "v.mp4")
    assert leftovers(tmp_path) == sorted([fresh.name, other.name])
