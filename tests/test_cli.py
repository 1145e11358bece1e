"""The modelgates command: results on stdout, one error line on stderr, exit codes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelgates._cli import EXIT_CODES, main
from modelgates.emulator import DEMO_JOB_ID, Emulator, Faults, StatusFault, demo_video
from tests.conftest import KEY


@pytest.fixture
def cli(emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Emulator:
    monkeypatch.setenv("MODELGATES_API_KEY", KEY)
    monkeypatch.setenv("MODELGATES_BASE_URL", emulator.base_url)
    monkeypatch.chdir(tmp_path)
    return emulator


def test_download_prints_the_result(
    cli: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["videos", "download", DEMO_JOB_ID, "-o", "out/"]) == 0
    out, err = capsys.readouterr()
    assert (tmp_path / "out" / "job-demo.mp4").read_bytes() == demo_video()
    assert "path          out/job-demo.mp4" in out
    assert f"size          {len(demo_video())} bytes" in out
    assert "content type  application/octet-stream" in out
    assert err == ""  # not a terminal: no progress bar


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelgates: error: "), err
    assert "Traceback" not in err
    return code, lines[0]


def test_exit_codes_per_error_class(
    cli: Emulator,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _fails(["videos", "download", "missing"], capsys)[0] == 6
    failing = cli.add_job(faults=Faults(statuses=[StatusFault(502)] * 10))
    assert _fails(["videos", "download", failing.id], capsys)[0] == 8
    teapot = cli.add_job(faults=Faults(statuses=[StatusFault(400)]))
    assert _fails(["videos", "download", teapot.id], capsys)[0] == 9
    html = cli.add_job(faults=Faults(ok_body="html"))
    assert _fails(["videos", "download", html.id], capsys)[0] == 12
    assert _fails(["videos", "download", ".."], capsys)[0] == 2
    (tmp_path / "job-demo.mp4").write_bytes(b"mine")
    code, line = _fails(["videos", "download", DEMO_JOB_ID], capsys)
    assert code == 11 and "pass --overwrite to replace it" in line
    assert main(["videos", "download", DEMO_JOB_ID, "--overwrite", "--no-progress"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("MODELGATES_API_KEY", "sk-wrong")
    assert _fails(["videos", "download", DEMO_JOB_ID, "-o", "x.mp4"], capsys)[0] == 4
    monkeypatch.delenv("MODELGATES_API_KEY")
    code, line = _fails(["videos", "download", DEMO_JOB_ID], capsys)
    assert code == 3 and "MODELGATES_API_KEY" in line
    monkeypatch.setenv("MODELGATES_API_KEY", KEY)
    code, line = _fails(
        ["videos", "download", DEMO_JOB_ID, "--base-url", "http://example.com/v1"], capsys
    )
    assert code == 3 and "pass --allow-insecure-http" in line
    refused = [
        "videos",
        "download",
        DEMO_JOB_ID,
        "-o",
        "y.mp4",
        "--base-url",
        "http://127.0.0.1:9/v1",
    ]
    assert _fails(refused, capsys)[0] == 10


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["videos", "download"], ["videos", "download", "j", "--index", "-1"], ["nope"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    capsys.readouterr()


def test_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["videos", "download", "--help"])
    out = capsys.readouterr().out
    for _, code, meaning in EXIT_CODES:
        assert f"{code:<4} {meaning}" in out


def test_python_dash_m_and_no_traceback(emulator: Emulator, tmp_path: Path) -> None:
    env = {**os.environ, "MODELGATES_API_KEY": KEY, "MODELGATES_BASE_URL": emulator.base_url}
    command = [sys.executable, "-m", "modelgates", "videos", "download"]
    ok = subprocess.run(
        [*command, DEMO_JOB_ID, "-o", str(tmp_path)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "job-demo.mp4").exists()
    bad = subprocess.run(
        [*command, "missing", "-o", str(tmp_path)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert bad.returncode == 6
    assert (
        bad.stderr.startswith("modelgates: error: 404 Not Found") and "Traceback" not in bad.stderr
    )
    assert KEY not in bad.stderr + ok.stderr + ok.stdout


def test_progress_bar_line() -> None:
    import io

    from modelgates._cli import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar(5 * 1024 * 1024, 10 * 1024 * 1024)
    bar(10 * 1024 * 1024, 10 * 1024 * 1024)
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\r5.0 MiB / 10.0 MiB   50%  ")
    assert "/s  ETA " in text
    assert "\r10.0 MiB / 10.0 MiB  100%" in text
    assert text.endswith("\n")
    unknown = io.StringIO()
    ProgressBar(unknown)(2048, None)
    assert unknown.getvalue().startswith("\r2.0 KiB  ") and "ETA" not in unknown.getvalue()


def _json_out(argv: list[str], capsys: pytest.CaptureFixture[str]) -> object:
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)


def test_workflow_commands_with_json(
    cli: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    created = _json_out(
        ["videos", "create", "--model", "emulator/video-1", "--prompt", "a cat",
         "--resolution", "720p", "--field", "generate_audio=true", "--field", "note=hello"],
        capsys,
    )  # fmt: skip
    assert isinstance(created, dict) and created["status"] == "pending"
    assert json.loads(cli.last_body) == {
        "model": "emulator/video-1", "prompt": "a cat", "resolution": "720p",
        "generate_audio": True, "note": "hello",
    }  # fmt: skip
    job_id = created["id"]
    status = _json_out(["videos", "status", job_id], capsys)
    assert isinstance(status, dict) and status["id"] == job_id
    done = _json_out(["videos", "wait", job_id, "--poll-interval", "0.01"], capsys)
    assert isinstance(done, dict) and done["status"] == "completed"
    models = _json_out(["videos", "models"], capsys)
    assert isinstance(models, list) and models[0]["id"] == "emulator/video-1"
    result = _json_out(
        ["videos", "generate", "--model", "emulator/video-1", "--prompt", "x", "-o", "gen/",
         "--poll-interval", "0.01"],
        capsys,
    )  # fmt: skip
    assert isinstance(result, dict)
    assert Path(result["path"]).read_bytes() == demo_video()
    assert result["sha256"] == hashlib.sha256(demo_video()).hexdigest()
    download = _json_out(["videos", "download", DEMO_JOB_ID, "-o", "d.mp4"], capsys)
    assert isinstance(download, dict) and download["bytes_written"] == len(demo_video())


def test_workflow_commands_for_people(cli: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["videos", "status", DEMO_JOB_ID]) == 0
    out = capsys.readouterr().out
    assert "status        completed" in out and "output        http" in out
    assert main(["videos", "models"]) == 0
    assert "emulator/video-1\n  resolutions: 480p, 720p, 1080p" in capsys.readouterr().out


def test_workflow_exit_codes(cli: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    failing = cli.add_job(final_status="failed", error="provider exploded")
    code, line = _fails(["videos", "wait", failing.id, "--poll-interval", "0.01"], capsys)
    assert code == 13 and "provider exploded" in line
    slow = cli.add_job(polls_to_complete=10_000)
    code, line = _fails(
        ["videos", "wait", slow.id, "--poll-interval", "0.01", "--timeout", "0.05"], capsys
    )
    assert code == 14 and "may still finish" in line
    code, line = _fails(
        [
            "videos",
            "create",
            "--model",
            "emulator/video-1",
            "--prompt",
            "p",
            "--resolution",
            "4K",
            "--check",
        ],
        capsys,
    )
    assert code == 2 and "--resolution '4K' is not accepted" in line
    code, _ = _fails(["videos", "create", "--model", "x/y", "--prompt", "p"], capsys)
    assert code == 9  # 400 from the API
    code, line = _fails(
        ["videos", "create", "--model", "emulator/video-1", "--prompt", "p", "--field", "novalue"],
        capsys,
    )
    assert code == 2 and "KEY=VALUE" in line


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_waiting_shows_status_and_downloading_a_bar(
    cli: Emulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code = main(
        ["videos", "generate", "--model", "emulator/video-1", "--prompt", "x", "-o", "t/",
         "--poll-interval", "0.01"]
    )  # fmt: skip
    assert code == 0
    shown = terminal.getvalue()
    assert ": pending " in shown and ": completed " in shown  # the job's status line
    assert "47.6 KiB / 47.6 KiB  100%" in shown  # the download's bar
    assert capsys.readouterr().out.startswith("job           job-")
