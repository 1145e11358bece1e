"""What a new user meets first, through the real ``modelgates`` process (issue #14).

Every test here runs the installed command in a subprocess against the emulator: exit
codes, stdout and stderr are what a shell sees, and commands the CLI prints are run as
pasted (through a shell, with the venv's ``modelgates`` on PATH).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelgates._adapter import REQUIRED_CREATE_FIELDS
from modelgates._cli import EXIT_CODES
from modelgates.emulator import DEMO_JOB_ID, Emulator, Faults, Job, Output, demo_video
from tests.conftest import KEY

BIN = Path(sys.executable).parent
MODEL = "emulator/video-1"


@pytest.fixture
def env(emulator: Emulator) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MODELGATES_API_KEY": KEY,
        "MODELGATES_BASE_URL": emulator.base_url,
        "PYTHONFAULTHANDLER": "1",
    }


@pytest.fixture
def run(env: dict[str, str], tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    def run(*argv: str, **changes: str | None) -> subprocess.CompletedProcess[bytes]:
        environ = {k: v for k, v in {**env, **changes}.items() if v is not None}
        return subprocess.run(
            [sys.executable, "-m", "modelgates", *argv],
            capture_output=True, env=environ, cwd=tmp_path, check=False, timeout=60,
        )  # fmt: skip

    return run


def _pasted(line: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run a command exactly as the CLI printed it, through a shell."""
    assert line.startswith("modelgates "), line
    return subprocess.run(  # noqa: S602 - the point: what a user pastes into a shell
        line, shell=True, capture_output=True, env=env, cwd=cwd, check=False, timeout=60
    )


def _continue_commands(stderr: str) -> list[str]:
    """The commands of the 'continue it with: A, then B' note."""
    match = re.search(r"continue it with: (.*)$", stderr, re.MULTILINE)
    assert match, stderr
    return match.group(1).split(", then ")


def _error_line(result: subprocess.CompletedProcess[bytes]) -> str:
    err = result.stderr.decode()
    assert "Traceback" not in err and "internal error" not in err, err
    assert KEY not in err
    return err.splitlines()[0]


# -- Crashes and lost work ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["create", "generate"])
@pytest.mark.parametrize("field", REQUIRED_CREATE_FIELDS)
def test_each_required_field_left_out_is_named_before_any_request(
    run: Callable[..., subprocess.CompletedProcess[bytes]],
    emulator: Emulator,
    command: str,
    field: str,
) -> None:
    given = {"model": MODEL, "prompt": "a cat"}
    assert set(REQUIRED_CREATE_FIELDS) <= set(given), "a new required field needs a flag here"
    argv = [arg for name, value in given.items() if name != field for arg in (f"--{name}", value)]
    result = run("videos", command, *argv)
    assert result.returncode == 2
    flag = "--" + field.replace("_", "-")
    assert f"the following arguments are required: {flag}" in result.stderr.decode()
    assert "internal error" not in result.stderr.decode()
    assert emulator.requests_to("api") == []


def test_generate_timeout_prints_the_job_and_commands_that_finish_it(
    run: Callable[..., subprocess.CompletedProcess[bytes]],
    emulator: Emulator,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    emulator.polls_to_complete = 3
    result = run(
        "videos", "generate", "--model", MODEL, "--prompt", "p", "-o", "out dir/",
        "--poll-interval", "0.01", "--timeout", "0",
    )  # fmt: skip
    assert result.returncode == 14
    err = result.stderr.decode()
    (job,) = _created(emulator)
    job_id = job.id
    assert job_id in _error_line(result)
    assert f"modelgates videos status {job_id}" in err  # not videos.get(...)
    wait, download = _continue_commands(err)
    assert wait == f"modelgates videos wait {job_id}"
    assert download == f"modelgates videos download {job_id} -o 'out dir/'"
    finished = _pasted(wait + " --poll-interval 0.01", env, tmp_path)
    assert finished.returncode == 0, finished.stderr
    fetched = _pasted(download, env, tmp_path)
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "out dir" / f"{job_id}.mp4").read_bytes() == demo_video()


def test_generate_continue_commands_carry_the_base_url_flag(
    run: Callable[..., subprocess.CompletedProcess[bytes]],
    emulator: Emulator,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    emulator.polls_to_complete = 1
    result = run(
        "videos", "generate", "--model", MODEL, "--prompt", "p", "--timeout", "0",
        "--base-url", emulator.base_url, MODELGATES_BASE_URL=None,
    )  # fmt: skip
    assert result.returncode == 14
    wait, download = _continue_commands(result.stderr.decode())
    assert wait.endswith(f"--base-url {emulator.base_url}")
    no_env = {k: v for k, v in env.items() if k != "MODELGATES_BASE_URL"}
    assert _pasted(wait, no_env, tmp_path).returncode == 0
    assert _pasted(download, no_env, tmp_path).returncode == 0


def _created(emulator: Emulator) -> list[Job]:
    """The jobs made by ``POST /videos`` (the emulator starts with the demo job)."""
    with emulator.lock:
        return [job for job in emulator.jobs.values() if job.id != DEMO_JOB_ID]


def _parts(directory: Path) -> int:
    """Bytes in the temporary files of downloads under way in ``directory``."""
    return sum(p.stat().st_size for p in directory.glob(".*.part"))


def _interrupt(proc: subprocess.Popen[bytes]) -> str:
    """Ctrl-C: the process must end at once with 130; its stderr. A hang fails with every
    thread's stack (PYTHONFAULTHANDLER dumps them on SIGABRT)."""
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        raise AssertionError("no exit after Ctrl-C:\n" + proc.communicate()[1].decode()) from None
    assert proc.returncode == 130, err
    return err.decode()


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def started(
    env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*argv: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelgates", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path,
        )  # fmt: skip
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_ctrl_c_while_generate_waits_prints_the_job_and_how_to_continue(
    started: Callable[..., subprocess.Popen[bytes]],
    emulator: Emulator,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    emulator.polls_to_complete = 10**6
    proc = started(
        "videos", "generate", "--model", MODEL, "--prompt", "p", "--poll-interval", "0.05"
    )
    _wait_for(lambda: any(job.polls for job in _created(emulator)), "a poll")
    err = _interrupt(proc)
    (job,) = _created(emulator)
    assert err.startswith("modelgates: error: interrupted\n")
    wait, download = _continue_commands(err)
    assert wait == f"modelgates videos wait {job.id}"
    with emulator.lock:
        job.polls_to_complete = 0
    assert _pasted(wait, env, tmp_path).returncode == 0
    assert _pasted(download, env, tmp_path).returncode == 0
    assert (tmp_path / f"{job.id}.mp4").read_bytes() == demo_video()


def test_ctrl_c_while_generate_downloads_keeps_the_bytes_and_the_command_resumes(
    started: Callable[..., subprocess.Popen[bytes]],
    emulator: Emulator,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    size = 2 * 1024 * 1024
    emulator.polls_to_complete = 10**6
    proc = started(
        "videos", "generate", "--model", MODEL, "--prompt", "p", "--poll-interval", "0.05"
    )
    _wait_for(lambda: bool(_created(emulator)), "the job")
    (job,) = _created(emulator)
    with emulator.lock:
        job.outputs = [Output.generated(size)]
        job.faults = Faults(stall_at=size // 2, stall_seconds=5)
        job.polls_to_complete = 0
    _wait_for(lambda: _parts(tmp_path) >= size // 2, "half the body on disk")
    err = _interrupt(proc)
    assert re.search(rf"kept \d+ bytes of '{job.id}.mp4'", err), err
    (download,) = _continue_commands(err)
    assert download == f"modelgates videos download {job.id} -o ."
    resumed = _pasted(download, env, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / f"{job.id}.mp4").stat().st_size == size
    ranges = [r.headers.get("range") for r in emulator.requests_to("api") if "content" in r.path]
    assert any(r and r != "bytes=0-" for r in ranges), ranges


def test_ctrl_c_during_download_says_what_was_kept(
    started: Callable[..., subprocess.Popen[bytes]],
    emulator: Emulator,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    size = 2 * 1024 * 1024
    job = emulator.add_job(
        outputs=[Output.generated(size)], faults=Faults(stall_at=size // 2, stall_seconds=5)
    )
    proc = started("videos", "download", job.id, "-o", "v.mp4")
    _wait_for(lambda: _parts(tmp_path) >= size // 2, "half the body on disk")
    lines = _interrupt(proc).splitlines()
    assert lines[0] == "modelgates: error: interrupted"
    assert re.fullmatch(
        rf"modelgates: kept \d+ bytes of 'v.mp4'; modelgates videos download {job.id} -o v.mp4 "
        "continues from there",
        lines[1],
    ), lines
    again = _pasted(lines[1].split("; ", 1)[1].removesuffix(" continues from there"), env, tmp_path)
    assert again.returncode == 0 and (tmp_path / "v.mp4").stat().st_size == size


def test_json_results_carry_the_job_id(
    run: Callable[..., subprocess.CompletedProcess[bytes]], tmp_path: Path
) -> None:
    import json

    made = run("videos", "generate", "--model", MODEL, "--prompt", "p", "--poll-interval", "0.01",
               "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    result = json.loads(made.stdout)
    assert Path(tmp_path / result["path"]).name == f"{result['job_id']}.mp4"
    fetched = json.loads(run("videos", "download", DEMO_JOB_ID, "-o", "d.mp4", "--json").stdout)
    assert fetched["job_id"] == DEMO_JOB_ID


# -- Messages in the caller's language ---------------------------------------------------


def test_messages_name_flags_never_python_parameters(
    run: Callable[..., subprocess.CompletedProcess[bytes]], emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "job-demo.mp4").write_bytes(b"mine")
    cases = [
        (["videos", "download", DEMO_JOB_ID], 11, "pass --overwrite to replace it"),
        (["videos", "status", DEMO_JOB_ID, "--base-url", "http://example.com/v1"], 3,
         "pass --allow-insecure-http"),
        (["videos", "wait", DEMO_JOB_ID, "--poll-interval", "0"], 2, "--poll-interval must be > 0"),
        (["videos", "download", ".."], 2, "JOB_ID '..' is a path dot segment"),
        (["videos", "status", DEMO_JOB_ID], 3, "set MODELGATES_API_KEY"),
    ]  # fmt: skip
    python_words = re.compile(r"\w+=True|\w+\.\w+\(|api_key=|poll_interval|job_id\b")
    for argv, code, words in cases:
        changes = {"MODELGATES_API_KEY": None} if code == 3 and "set" in words else {}
        result = run(*argv, **changes)
        line = _error_line(result)
        assert result.returncode == code, (argv, line)
        assert words in line, (argv, line)
        assert not python_words.search(line), (argv, line)


def test_blank_key_is_called_blank(run: Callable[..., subprocess.CompletedProcess[bytes]]) -> None:
    result = run("videos", "status", DEMO_JOB_ID, MODELGATES_API_KEY="   ")
    assert result.returncode == 3
    assert _error_line(result).startswith("modelgates: error: MODELGATES_API_KEY is set but blank")


def test_connection_errors_name_the_url_and_where_it_came_from(
    run: Callable[..., subprocess.CompletedProcess[bytes]],
) -> None:
    dead = "http://127.0.0.1:9/api/v1"
    by_env = _error_line(run("videos", "status", DEMO_JOB_ID, MODELGATES_BASE_URL=dead))
    assert f"GET {dead}/videos/job-demo (base URL from MODELGATES_BASE_URL)" in by_env
    by_flag = run("videos", "status", DEMO_JOB_ID, "--base-url", dead)
    assert by_flag.returncode == 10
    assert f"GET {dead}/videos/job-demo (base URL from --base-url)" in _error_line(by_flag)


def test_exit_codes_match_their_help(
    run: Callable[..., subprocess.CompletedProcess[bytes]], tmp_path: Path
) -> None:
    bad_url = run("videos", "status", DEMO_JOB_ID, "--base-url", "htp://x")
    assert bad_url.returncode == 3
    assert _error_line(bad_url) == (
        "modelgates: error: --base-url 'htp://x' is not an absolute http:// or https:// URL"
    )
    (tmp_path / "f").write_bytes(b"a file")
    in_the_way = run("videos", "download", DEMO_JOB_ID, "-o", "f/x.mp4")
    assert in_the_way.returncode == 11
    assert _error_line(in_the_way) == (
        "modelgates: error: cannot write 'f/x.mp4': a file is in the way where a directory "
        "is needed"
    )
    helped = run("--help").stdout.decode()
    listed = [int(code) for code in re.findall(r"^  (\d+) ", helped.split("exit codes:")[1], re.M)]
    assert listed == sorted({0} | {code for _, code, _ in EXIT_CODES})  # each once, in order


# -- What a curl, hf or openai user reaches for -----------------------------------------


def test_dash_o_dash_writes_the_video_to_stdout(
    run: Callable[..., subprocess.CompletedProcess[bytes]], tmp_path: Path
) -> None:
    result = run("videos", "download", DEMO_JOB_ID, "-o", "-")
    assert result.returncode == 0 and result.stdout == demo_video()
    assert result.stderr == b"" and not (tmp_path / "-").exists()
    generated = run("videos", "generate", "--model", MODEL, "--prompt", "p", "-o", "-",
                    "--poll-interval", "0.01")  # fmt: skip
    assert generated.returncode == 0 and generated.stdout == demo_video()
    assert list(tmp_path.iterdir()) == []
    refused = run("videos", "download", DEMO_JOB_ID, "-o", "-", "--json")
    assert refused.returncode == 2 and "-o -" in _error_line(refused)


def test_one_destination_rule_creates_missing_parents(
    run: Callable[..., subprocess.CompletedProcess[bytes]], tmp_path: Path
) -> None:
    assert run("videos", "download", DEMO_JOB_ID, "-o", "new/").returncode == 0
    assert run("videos", "download", DEMO_JOB_ID, "-o", "other/x.mp4").returncode == 0
    assert (tmp_path / "new" / "job-demo.mp4").read_bytes() == demo_video()
    assert (tmp_path / "other" / "x.mp4").read_bytes() == demo_video()


def test_verbose_after_the_subcommand_logs_each_request(
    run: Callable[..., subprocess.CompletedProcess[bytes]], emulator: Emulator
) -> None:
    flaky = emulator.add_job(faults=Faults(statuses=[503]))
    result = run("videos", "download", flaky.id, "-o", "x.mp4", "-v")
    assert result.returncode == 0
    err = result.stderr.decode()
    url = f"{emulator.base_url}/videos/{flaky.id}/content?index=0"
    assert re.search(rf"^modelgates: GET {re.escape(url)} -> 503 Service Unavailable \(\d+ ms\)$",
                     err, re.M), err  # fmt: skip
    assert "retrying" in err
    assert re.search(
        rf"^modelgates: GET {re.escape(url)} -> 20[06] (OK|Partial Content) \(\d+ ms\)$", err, re.M
    ), err
    assert KEY not in err
    before = run("-v", "videos", "status", DEMO_JOB_ID)
    assert "GET " in before.stderr.decode()


def test_download_all_writes_every_output(
    run: Callable[..., subprocess.CompletedProcess[bytes]], emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.demo(), Output.generated(4096), Output.generated(10)])
    result = run("videos", "download", job.id, "--all", "-o", "all")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "all").iterdir())
    assert names == [f"{job.id}-1.mp4", f"{job.id}-2.mp4", f"{job.id}.mp4"]
    assert result.stdout.decode().count("path ") == 3
    both = run("videos", "download", job.id, "--all", "--index", "1")
    assert both.returncode == 2


def test_printed_commands_quote_what_a_shell_would_split(tmp_path: Path) -> None:
    from modelgates._cli import CLIWording, build_parser

    parser = build_parser()
    args = parser.parse_args(["videos", "download", "j", "--base-url", "http://h/a b"])
    line = CLIWording(args.command_parser, args).call("download", "j", dest="my dir/x.mp4")
    assert shlex.split(line) == [
        "modelgates", "videos", "download", "j", "-o", "my dir/x.mp4", "--base-url", "http://h/a b"
    ]  # fmt: skip
