"""make demo: emulator up, the CLI downloads the demo job, the result is a real MP4."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelgates.emulator import demo_video
from tests._spec import ROOT
from tests.helpers import mp4_top_level_boxes

pytestmark = pytest.mark.slow


def test_demo_downloads_a_valid_mp4_without_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATES_")}
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "demo.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    video = tmp_path / "demo-output" / "job-demo.mp4"
    data = video.read_bytes()
    fields = dict(
        line.split(None, 1)
        for line in run.stdout.splitlines()
        if line.startswith(("path", "sha256", "size"))
    )
    assert fields["path"].strip() == "demo-output/job-demo.mp4"
    assert fields["sha256"].strip() == hashlib.sha256(data).hexdigest()
    assert fields["size"].startswith(f"{len(data)} bytes")
    assert "content type  application/octet-stream" in run.stdout
    assert "emulator stopped" in run.stdout
    _the_echoed_commands_run_as_pasted(run.stdout, tmp_path / "pasted", env)
    boxes = mp4_top_level_boxes(data)
    assert boxes[0] == "ftyp" and "moov" in boxes and "mdat" in boxes
    assert data[8:12] in {b"isom", b"mp42", b"mp41", b"iso2", b"avc1"}  # a video major brand
    ffprobe = shutil.which("ffprobe")
    if ffprobe:  # a decoder's word too, where the machine has one
        probe = subprocess.run(
            [ffprobe, "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
             str(video)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert "video" in probe.stdout.split()


def _the_echoed_commands_run_as_pasted(stdout: str, cwd: Path, env: dict[str, str]) -> None:
    """The two ``$`` lines the demo printed, each given to a shell as a person pastes them:
    the emulator (in the background) and then the download, with its key and base URL."""
    serve, download = (line[2:] for line in stdout.splitlines() if line.startswith("$ "))
    assert " emulator --port " in serve and "MODELGATES_API_KEY=" in download
    cwd.mkdir()
    emulator = subprocess.Popen(
        ["bash", "-c", f"exec {serve}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, env=env,
    )  # fmt: skip
    try:
        assert emulator.stdout is not None
        assert emulator.stdout.readline().startswith("base_url=")
        pasted = subprocess.run(
            ["bash", "-c", download], cwd=cwd, env=env, capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
        if emulator.stdout is not None:
            emulator.stdout.close()
    assert pasted.returncode == 0, pasted.stderr
    assert (cwd / "demo-output" / "job-demo.mp4").read_bytes() == demo_video()
