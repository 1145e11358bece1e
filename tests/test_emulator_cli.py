"""``modelgates emulator`` as a user runs it: a real process, driven by the real CLI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from modelgates.emulator import DEFAULT_API_KEY, DEMO_JOB_ID, Output, demo_video
from tests.helpers import mp4_top_level_boxes

MODELGATES = [sys.executable, "-m", "modelgates"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATES_")}
    return {**env, "MODELGATES_API_KEY": DEFAULT_API_KEY}


@contextmanager
def running_emulator(*flags: str) -> Iterator[str]:
    """``modelgates emulator --port 0 FLAGS`` in a child process; yields its base URL."""
    process = subprocess.Popen(
        [*MODELGATES, "emulator", "--port", "0", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("base_url="), first + (
            process.stderr.read() if process.stderr else ""
        )
        yield first.removeprefix("base_url=")
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MODELGATES, *args], capture_output=True, text=True, env=_env(), cwd=cwd, timeout=60,
        check=False,
    )  # fmt: skip


def test_help_shows_the_defaults_the_key_and_how_to_make_a_job_fail() -> None:
    run = cli("emulator", "--help")
    assert run.returncode == 0
    text = " ".join(run.stdout.split())  # argparse wraps lines
    assert "(default: 8080;" in text and "(default: 127.0.0.1;" in text
    assert "before a new job finishes (default: 2)" in text
    assert DEFAULT_API_KEY in text and DEMO_JOB_ID in text
    assert "put [fail] in its prompt" in text and "--fail" in text
    for flag in ("--video-size", "--outputs", "--drop-at", "--rate-limit"):
        assert flag in text


def test_port_0_picks_a_free_port_prints_the_url_and_the_cli_downloads_from_it(
    tmp_path: Path,
) -> None:
    with running_emulator() as base_url:
        port = int(base_url.split(":")[2].split("/")[0])
        assert port > 0 and base_url == f"http://127.0.0.1:{port}/api/v1"
        run = cli("videos", "download", DEMO_JOB_ID, "--base-url", base_url, "-o", ".", "--json",
                  cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["sha256"] == hashlib.sha256(demo_video()).hexdigest()


def test_a_port_in_use_is_one_line_naming_the_port_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [*MODELGATES, "emulator", "--port", str(port)],
            capture_output=True, text=True, env=_env(), timeout=30, check=False,
        )  # fmt: skip
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1, run.stderr
    assert f"--port {port}: 127.0.0.1:{port} is already in use" in run.stderr
    assert "--port 0" in run.stderr  # and what to do instead


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--port", "70000"], "argument --port: 70000 is not a TCP port"),
        (["--video-size", "100"], "argument --video-size: 100 bytes is too small"),
        (["--video-size", "big"], "argument --video-size: 'big' is not a size"),
        (["--outputs", "0"], "argument --outputs: must be at least 1"),
        (["--fail", "maybe"], "argument --fail: invalid choice: 'maybe'"),
    ],
)
def test_bad_options_are_refused_by_name(flags: list[str], named: str) -> None:
    run = cli("emulator", *flags)
    assert run.returncode == 2
    assert named in run.stderr


def test_host_0000_prints_a_url_the_cli_accepts() -> None:
    every_interface = "0.0.0.0"  # noqa: S104 - the point of the test
    with running_emulator("--host", every_interface) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        run = cli("videos", "status", DEMO_JOB_ID, "--base-url", base_url, "--json")
    assert run.returncode == 0, run.stderr
    job = json.loads(run.stdout)
    # The job's own URLs point where a client can go, too.
    assert job["unsigned_urls"][0].startswith(base_url + "/videos/")


def _ffprobe() -> str | None:
    """ffprobe, or None; where CI promises it (.ci/run installs ffmpeg) its absence fails."""
    found = shutil.which("ffprobe")
    if found is None and os.environ.get("MODELGATES_REQUIRE_FFPROBE"):
        pytest.fail("ffprobe is missing: apt-get install ffmpeg")
    return found


@pytest.mark.slow
def test_video_size_serves_playable_mp4s_that_survive_dropped_connections(
    tmp_path: Path,
) -> None:
    size = 3 * 2**20
    with running_emulator("--video-size", "3M", "--outputs", "2", "--drop-at", "1M") as url:
        runs = [
            cli("-v", "videos", "download", DEMO_JOB_ID, "--index", str(i), "--base-url", url,
                "-o", ".", "--json", cwd=tmp_path)
            for i in (0, 1)
        ]  # fmt: skip
    for run in runs:
        assert run.returncode == 0, run.stderr
    # The job's one drop hit the first download, which continued from there.
    assert "received 1048576 bytes" in runs[0].stderr
    assert "retrying" not in runs[1].stderr
    paths = [tmp_path / f"{DEMO_JOB_ID}.mp4", tmp_path / f"{DEMO_JOB_ID}-1.mp4"]
    videos = [p.read_bytes() for p in paths]
    assert [len(v) for v in videos] == [size, size]
    assert videos[0] != videos[1]  # several outputs are several videos
    for video in videos:
        assert video.startswith(demo_video())
        assert mp4_top_level_boxes(video) == ["ftyp", "moov", "free", "mdat", "free"]
    ffprobe = _ffprobe()
    if ffprobe is None:
        pytest.skip("ffprobe is not installed (apt-get install ffmpeg); the boxes were checked")
    for path in paths:
        probe = subprocess.run(
            [ffprobe, "-v", "error", "-show_entries", "stream=codec_type:format=duration",
             "-of", "json", str(path)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        info = json.loads(probe.stdout)
        assert "video" in {s["codec_type"] for s in info["streams"]}
        assert 2.5 < float(info["format"]["duration"]) < 3.5


def test_playable_outputs_past_4_gib_use_a_64_bit_box_and_any_range_is_a_slice() -> None:
    demo = len(demo_video())
    big = Output.playable_video(5 * 2**30)
    header = b"".join(big.chunks(demo, demo + 16))
    assert struct.unpack(">I4sQ", header) == (1, b"free", 5 * 2**30 - demo)
    small = Output.playable_video(demo + 3 * 2**20 + 5)
    whole = b"".join(small.chunks(0, small.size))
    assert len(whole) == small.size
    assert mp4_top_level_boxes(whole)[-1] == "free"
    for start, end in [(0, 10), (demo - 3, demo + 20), (demo + 8, demo + 9), (2**20, small.size)]:
        assert b"".join(small.chunks(start, end)) == whole[start:end]
    with pytest.raises(ValueError, match="at least"):
        Output.playable_video(demo + 7)


def test_fail_makes_every_new_job_end_in_that_status(tmp_path: Path) -> None:
    with running_emulator("--fail", "expired", "--polls", "1") as url:
        run = cli(
            "videos", "generate", "--model", "emulator/video-1", "--prompt", "a fox",
            "--poll-interval", "0.05", "-o", ".", "--base-url", url, cwd=tmp_path,
        )  # fmt: skip
        demo = cli("videos", "status", DEMO_JOB_ID, "--base-url", url)
    assert run.returncode == 13, run.stderr
    assert "expired" in run.stderr
    assert list(tmp_path.iterdir()) == []
    assert "completed" in demo.stdout  # the demo job is still there to download


def test_rate_limit_answers_429s_that_the_client_retries_then_reports(tmp_path: Path) -> None:
    with running_emulator("--rate-limit", "3") as url:
        run = cli("-v", "videos", "download", DEMO_JOB_ID, "--base-url", url, "-o", ".",
                  cwd=tmp_path)  # fmt: skip
    assert run.returncode == 7, run.stderr  # rate limited: 2 retries, then the third 429
    assert run.stderr.count("429") >= 3
    assert list(tmp_path.iterdir()) == []
