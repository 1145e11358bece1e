"""``videos batch``: every request once, recorded, resumable, against the real emulator."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from modelgates import (
    AsyncModelGates,
    AuthenticationError,
    BatchLedgerError,
    BatchOutput,
    BatchResult,
    InvalidParameterError,
    ModelGates,
)
from modelgates._cli import main
from modelgates.batch._cli import BatchDisplay
from modelgates.batch._input import in_shard, load_requests, parse_shard
from modelgates.batch._ledger import LEDGER_NAME, Ledger
from modelgates.batch._manifest import read_manifest
from modelgates.batch._runner import BatchEvent
from modelgates.emulator import CreatePlan, Emulator, Faults, Output, StatusFault, demo_video
from tests.conftest import KEY
from tests.helpers import leftovers

MODEL = "emulator/video-1"
#: Polls every 50 ms: the emulator answers at once.
FAST = 0.05


def lines(n: int, prefix: str = "p", **extra: Any) -> list[dict[str, Any]]:
    return [
        {"model": MODEL, "prompt": f"{prefix}{i}", "name": f"{prefix}{i}", **extra}
        for i in range(n)
    ]


def write_jsonl(path: Path, requests: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in requests), encoding="utf-8")
    return path


def ledger_rows(directory: Path) -> dict[str, tuple[str, str | None, int]]:
    """name -> (state, job_id, attempt), read with plain sqlite3 (not the batch's code)."""
    conn = sqlite3.connect(directory / LEDGER_NAME)
    try:
        rows = conn.execute("SELECT name, state, job_id, attempt FROM requests").fetchall()
    finally:
        conn.close()
    return {name: (state, job_id, attempt) for name, state, job_id, attempt in rows}


def test_every_request_gets_one_job_and_every_output(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    outputs = (Output.generated(70_000, seed=5), Output.generated(30_000, seed=6))
    bodies: dict[str, dict[str, Any]] = {}

    def plan(body: dict[str, Any]) -> CreatePlan:
        bodies[body["prompt"]] = body
        return CreatePlan(
            outputs=outputs if body["prompt"] == "p1" else None, faults=Faults(drop_at=[20_000])
        )

    emulator.on_create = plan
    requests = [*lines(3), {"model": MODEL, "prompt": "no name", "resolution": "720p"}]
    requests[2]["future_field"] = {"x": 1}  # not typed by this release: sent in extra_body
    result = client.videos.batch(requests, tmp_path / "out", poll_interval=FAST)

    assert isinstance(result, BatchResult) and result.complete
    unnamed = hashlib.sha256(
        json.dumps(
            {"model": MODEL, "prompt": "no name", "resolution": "720p"},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
    ).hexdigest()[:12]
    assert [item.name for item in result.items] == ["p0", "p1", "p2", unnamed]
    out = tmp_path / "out"
    assert (out / "p0.mp4").read_bytes() == demo_video()
    assert hashlib.sha256((out / "p1-1.mp4").read_bytes()).hexdigest() == outputs[1].sha256
    assert (out / "p1.mp4").stat().st_size == 70_000
    assert (out / f"{unnamed}.mp4").is_file()
    for i in range(3):
        assert len(emulator.jobs_for(f"p{i}")) == 1
    assert bodies["no name"] == {"model": MODEL, "prompt": "no name", "resolution": "720p"}
    assert bodies["p2"] == {"model": MODEL, "prompt": "p2", "future_field": {"x": 1}}
    manifest = read_manifest(out / "manifest.jsonl")
    assert [m["name"] for m in manifest] == ["p0", "p1", "p2", unnamed]
    assert all(m["status"] == "completed" for m in manifest)
    p1 = manifest[1]
    assert p1["line"] == 2 and p1["job_id"] == emulator.jobs_for("p1")[0].id
    assert [o["bytes"] for o in p1["outputs"]] == [70_000, 30_000]
    assert p1["outputs"][1]["sha256"] == outputs[1].sha256
    assert leftovers(out) == []


def test_a_rerun_sends_nothing_again(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    client.videos.batch(lines(4), tmp_path, poll_interval=FAST)
    posts = len([r for r in emulator.requests_to() if r.method == "POST"])
    again = client.videos.batch(lines(4), tmp_path, poll_interval=FAST)
    assert again.complete
    assert len([r for r in emulator.requests_to() if r.method == "POST"]) == posts == 4


def test_csv_input_with_typed_cells(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("name,model,prompt,duration,generate_audio\nfox,m,1984,8,true\n,m,cat,,\n")
    fox, cat = load_requests(path)
    assert fox.name == "fox" and fox.line == 2
    assert fox.fields == {"model": "m", "prompt": "1984", "duration": 8, "generate_audio": True}
    assert cat.fields == {"model": "m", "prompt": "cat"} and len(cat.name) == 12


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"model": "m", "prompt": "a", "name": "x"}\n\n'
            '{"model": "m", "prompt": "b", "name": "x"}\n',
            "line 1 and line 3 both have the identity 'x'",
        ),
        (
            '{"model": "m", "prompt": "a"}\n{"prompt": "a", "model": "m"}\n',
            "line 1 and line 2 both",
        ),
        ('{"model": "m", "prompt": "a"}\nnot json\n', "line 2: not JSON"),
        ('{"prompt": "a"}\n', "line 1: 'model' must be a non-empty string"),
        ('{"model": "m", "name": "../x"}\n', "line 1: name '../x' must be"),
        ("[1]\n", "line 1: expected a JSON object"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    client: ModelGates, emulator: Emulator, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(text)
    with pytest.raises(
        InvalidParameterError, match=message.replace("(", r"\(").replace(".", r"\.")
    ):
        client.videos.batch(path, tmp_path / "out", poll_interval=FAST)
    assert [r for r in emulator.requests_to() if r.method == "POST"] == []


def test_bad_options_are_refused_by_name(client: ModelGates, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="max_jobs must be an int >= 1"):
        client.videos.batch(lines(1), tmp_path, max_jobs=0)
    with pytest.raises(InvalidParameterError, match="unknown batch option 'max_job'"):
        client.videos.batch(lines(1), tmp_path, max_job=2)  # type: ignore[call-arg]
    with pytest.raises(InvalidParameterError, match="shard '3/2' must be K/N"):
        client.videos.batch(lines(1), tmp_path, shard="3/2")


def test_a_second_process_on_the_ledger_is_refused_at_once(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from modelgates.batch._ledger import Ledger
                with Ledger(Path({str(tmp_path / LEDGER_NAME)!r})):
                    print("holding", flush=True)
                    sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        started = time.monotonic()
        with pytest.raises(BatchLedgerError, match="another modelgates batch is running"):
            client.videos.batch(lines(2), tmp_path, poll_interval=FAST)
        assert time.monotonic() - started < 30  # refused, not waiting for the other to end
        with Ledger(tmp_path / "other.sqlite"):  # another ledger is free
            pass
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        assert holder.stdout is not None
        holder.stdout.close()
    assert [r for r in emulator.requests_to() if r.method == "POST"] == []
    # In one process too: an open ledger refuses a batch on it.
    with Ledger(tmp_path / LEDGER_NAME), pytest.raises(BatchLedgerError):
        client.videos.batch(lines(2), tmp_path, poll_interval=FAST)
    assert client.videos.batch(lines(2), tmp_path, poll_interval=FAST).complete


def test_a_ledger_of_a_newer_schema_or_another_file_is_refused(
    client: ModelGates, tmp_path: Path
) -> None:
    client.videos.batch(lines(1), tmp_path, poll_interval=FAST)
    conn = sqlite3.connect(tmp_path / LEDGER_NAME)
    conn.execute("PRAGMA user_version=2")
    conn.close()
    with pytest.raises(
        BatchLedgerError, match="a newer schema version 2; this modelgates reads version 1"
    ):
        client.videos.batch(lines(1), tmp_path, poll_interval=FAST)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(BatchLedgerError, match="not a modelgates batch ledger"):
        client.videos.batch(lines(1), tmp_path / "o", ledger=other, poll_interval=FAST)


def test_a_changed_input(client: ModelGates, emulator: Emulator, tmp_path: Path) -> None:
    client.videos.batch(lines(3), tmp_path, poll_interval=FAST)
    changed = lines(3)
    changed[1]["prompt"] = "something else"
    with pytest.raises(InvalidParameterError, match=r"line 2 \('p1'\) differs from the request"):
        client.videos.batch(changed, tmp_path, poll_interval=FAST)
    grown = [*lines(3)[1:], *lines(2, prefix="new")]  # p0 gone, two new
    result = client.videos.batch(grown, tmp_path, poll_interval=FAST)
    assert result.missing == ("p0",)
    assert [item.name for item in result.items] == ["p1", "p2", "new0", "new1"]
    assert result.complete
    assert len(emulator.jobs_for("new0")) == len(emulator.jobs_for("p1")) == 1
    assert [m["name"] for m in read_manifest(tmp_path / "manifest.jsonl")] == [
        "p0",
        "p1",
        "p2",
        "new0",
        "new1",
    ]


def test_failed_requests_are_sent_again_only_with_retry_failed(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    requests = [*lines(2), {"model": MODEL, "prompt": "bad [fail]", "name": "bad"}]
    first = client.videos.batch(requests, tmp_path, poll_interval=FAST)
    assert not first.complete and [item.name for item in first.failed] == ["bad"]
    assert first.failed[0].error == "The provider rejected the prompt"
    assert "--retry-failed" in first.summary()
    client.videos.batch(requests, tmp_path, poll_interval=FAST)
    assert len(emulator.jobs_for("bad [fail]")) == 1
    old_job = emulator.jobs_for("bad [fail]")[0].id
    retried = client.videos.batch(requests, tmp_path, retry_failed=True, poll_interval=FAST)
    jobs = emulator.jobs_for("bad [fail]")
    assert len(jobs) == 2 and len(emulator.jobs_for("p0")) == 1
    (bad,) = retried.failed
    assert bad.attempt == 2 and bad.job_id != old_job
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        assert ledger.attempts("bad") == [
            (1, old_job, "failed", "The provider rejected the prompt")
        ]


def test_a_request_left_in_submitting_becomes_unknown(
    client: ModelGates,
    emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELGATES_API_KEY", KEY)
    client.videos.batch(lines(1), tmp_path, poll_interval=FAST)
    requests = lines(3)
    # A run that died right after sending p1's POST: the ledger says "submitting".
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        ledger.sync_input(load_requests(requests))
        ledger.submitting("p1")
    result = client.videos.batch(requests, tmp_path, poll_interval=FAST)
    assert result.unknown == ("p1",) and not result.complete
    assert emulator.jobs_for("p1") == [] and len(emulator.jobs_for("p2")) == 1
    assert "unknown (sent, answer never recorded, maybe billed): p1" in result.summary()
    assert "--resubmit-unknown" in result.summary()
    # Not sent again by a plain rerun, not reported as anything else.
    assert client.videos.batch(requests, tmp_path, poll_interval=FAST).unknown == ("p1",)
    assert emulator.jobs_for("p1") == []
    # The CLI names it and exits 15.
    path = write_jsonl(tmp_path / "in.jsonl", requests)
    code = main(
        [
            "videos",
            "batch",
            str(path),
            "-o",
            str(tmp_path),
            "--base-url",
            emulator.base_url,
            "--poll-interval",
            "0.05",
        ]
    )
    captured = capsys.readouterr()
    assert code == 15
    assert "p1: unknown" in captured.out and "--resubmit-unknown" in captured.err
    resubmitted = client.videos.batch(requests, tmp_path, resubmit_unknown=True, poll_interval=FAST)
    assert resubmitted.complete and len(emulator.jobs_for("p1")) == 1


def test_batch_status_reads_the_ledger_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requests = [*lines(2), {"model": MODEL, "prompt": "x [fail]", "name": "x"}]
    with Emulator() as emulator, ModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        client.videos.batch(requests, tmp_path, poll_interval=FAST)
    # The emulator is gone: no network is needed.
    assert main(["videos", "batch-status", str(tmp_path)]) == 15
    out = capsys.readouterr().out
    assert "x: failed (The provider rejected the prompt)" in out
    assert "2 of 3 completed and downloaded" in out and "--retry-failed" in out
    assert main(["videos", "batch-status", str(tmp_path), "--json"]) == 15
    data = json.loads(capsys.readouterr().out)
    assert data["counts"] == {"completed": 2, "failed": 1}
    assert [item["status"] for item in data["items"]] == ["completed", "completed", "failed"]
    assert main(["videos", "batch-status", str(tmp_path / "nothing")]) == 1
    assert "no batch ledger at" in capsys.readouterr().err


def test_shards_cover_the_input_exactly_once(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    requests = lines(12)
    names = [r["name"] for r in requests]
    slices = [[n for n in names if in_shard(n, (k, 3))] for k in (1, 2, 3)]
    assert sorted(n for names_of_k in slices for n in names_of_k) == sorted(names)
    assert all(slices)  # 12 names over 3 shards: none empty (deterministic hash)
    for k in (1, 2, 3):
        result = client.videos.batch(
            requests, tmp_path / f"machine{k}", shard=f"{k}/3", poll_interval=FAST
        )
        assert [item.name for item in result.items] == slices[k - 1] and result.complete
    assert all(len(emulator.jobs_for(f"p{i}")) == 1 for i in range(12))
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/3", "4/3", "x", "1-3"):
        with pytest.raises(InvalidParameterError, match="must be K/N"):
            parse_shard(bad)


def test_a_429_on_create_pauses_the_whole_batch(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    rejected: list[float] = []
    created: list[float] = []

    def plan(body: dict[str, Any]) -> CreatePlan | None:
        if len(rejected) < 2:
            rejected.append(time.monotonic())
            retry_after = "0.5" if len(rejected) == 1 else None
            return CreatePlan(reject=StatusFault(429, retry_after=retry_after))
        created.append(time.monotonic())
        return None

    emulator.on_create = plan
    emulator.fail("poll", StatusFault(429, retry_after="0.3"))
    result = client.videos.batch(lines(5), tmp_path, max_jobs=5, poll_interval=FAST)
    assert result.complete
    assert all(len(emulator.jobs_for(f"p{i}")) == 1 for i in range(5))
    assert emulator.posts_for("p0") == 3  # refused twice, sent again: still one job
    assert rejected[1] - rejected[0] >= 0.45  # Retry-After held every request back
    assert created[0] - rejected[1] >= 0.4  # no Retry-After: paused at least half of 1 s


def test_at_most_max_jobs_are_in_flight(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.on_create = lambda body: CreatePlan(seconds_to_complete=0.2)
    in_flight: set[str] = set()
    peak = 0

    def follow(event: BatchEvent) -> None:
        nonlocal peak
        if event.kind == "state" and event.name is not None:
            if event.state in {"submitting", "submitted", "running"}:
                in_flight.add(event.name)
            else:
                in_flight.discard(event.name)
            peak = max(peak, len(in_flight))

    assert client.videos.batch(
        lines(9), tmp_path, max_jobs=3, on_event=follow, poll_interval=FAST
    ).complete
    assert peak == 3


def test_a_rejected_key_stops_the_batch_and_sends_nothing_else(
    emulator: Emulator, tmp_path: Path
) -> None:
    with (
        ModelGates(api_key="sk-wrong", base_url=emulator.base_url) as client,
        pytest.raises(AuthenticationError),
    ):
        client.videos.batch(lines(3), tmp_path, poll_interval=FAST)
    assert len([r for r in emulator.requests_to() if r.method == "POST"]) == 1
    assert {state for state, _, _ in ledger_rows(tmp_path).values()} == {"planned"}


@pytest.mark.anyio
async def test_the_async_client_runs_the_same_batch(
    async_client: AsyncModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    result = await async_client.videos.batch(lines(3), tmp_path, poll_interval=FAST)
    assert result.complete
    assert (tmp_path / "p2.mp4").read_bytes() == demo_video()


def test_a_download_that_gives_up_is_fetched_by_the_rerun(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.on_create = lambda body: CreatePlan(
        faults=Faults(statuses=[404]) if body["prompt"] == "p0" else None
    )
    first = client.videos.batch(lines(2), tmp_path, poll_interval=FAST)
    assert not first.complete
    (p0,) = [item for item in first.items if item.name == "p0"]
    assert p0.status == "downloading" and p0.error is not None and "404" in p0.error
    assert "rerun the same command to continue" in first.summary()
    again = client.videos.batch(lines(2), tmp_path, poll_interval=FAST)
    assert again.complete and len(emulator.jobs_for("p0")) == 1


def test_the_cli_batch(emulator: Emulator, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl", [*lines(2), {"model": MODEL, "prompt": "x [fail]", "name": "x"}]
    )
    env = {**os.environ, "MODELGATES_API_KEY": KEY, "MODELGATES_BASE_URL": emulator.base_url}
    command = [
        sys.executable,
        "-m",
        "modelgates",
        "videos",
        "batch",
        str(path),
        "-o",
        str(tmp_path / "out"),
        "--poll-interval",
        "0.05",
    ]
    run = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 15, run.stderr
    data = json.loads(run.stdout)
    assert data["counts"] == {"completed": 2, "failed": 1} and data["complete"] is False
    assert "p0: submitted job-" in run.stderr and "p0: completed" in run.stderr
    assert "modelgates: error: batch of 3: 2 completed, 1 failed; --retry-failed" in run.stderr
    path.write_text("".join(json.dumps(r) + "\n" for r in lines(2)))
    ok = subprocess.run(
        [*command, "--no-progress"], env=env, capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0, ok.stderr
    assert "2 of 2 completed and downloaded" in ok.stdout and ok.stderr == ""


def test_the_cli_says_what_a_rerun_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["videos", "batch", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Rerunning the same command continues where the last run stopped" in text
    assert (
        "--resubmit-unknown" in text
        and "--shard K/N" in text
        and "15 a batch ended incomplete" in text
    )


def test_the_live_display_is_one_status_line() -> None:
    class Terminal:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> int:
            self.text += text
            return len(text)

        def flush(self) -> None:
            pass

    terminal = Terminal()
    display = BatchDisplay(terminal, live=True)  # type: ignore[arg-type]
    display(BatchEvent("state", name="a", state="submitted", at=time.time() - 75))
    display(BatchEvent("state", name="b", state="downloaded", cost=0.25))
    display(BatchEvent("bytes", name="b", bytes=3 * 2**20))
    display(BatchEvent("notice", message="rate limited (429): pausing 1.0 s"))
    line = display.status_line()
    assert line.startswith("1 completed 1 submitted | 3.0 MiB | $0.25 | slowest a 1:1")
    display.close()
    assert "rate limited (429): pausing 1.0 s\n" in terminal.text
    assert terminal.text.endswith("\n") and "\n" not in terminal.text.split("rate limited")[0]


def test_the_batch_is_built_on_the_public_api_only() -> None:
    """It shows users how to build on the facade: it imports only ``modelgates.__all__``."""
    import modelgates

    for module in Path(modelgates.__file__).parent.joinpath("batch").glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level == 0 or node.level > 1):
                if node.module is not None and node.module.startswith("modelgates"):
                    assert node.module == "modelgates", (module.name, node.module)
                    names = [alias.name for alias in node.names]
                    assert set(names) <= set(modelgates.__all__), (module.name, names)
                assert node.level <= 1, (module.name, node.module)


@pytest.mark.slow
def test_the_batch_bench_runs(tmp_path: Path) -> None:
    """tools/bench_batch.py (make bench) cannot rot; a small run, no timing asserted."""
    report = tmp_path / "batch.md"
    run = subprocess.run(
        [sys.executable, "tools/bench_batch.py", "--requests", "20", "--spread", "1",
         "--poll-interval", "0.2", "--out", str(report)],
        capture_output=True, text=True, timeout=300, check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    text = report.read_text(encoding="utf-8")
    assert "| requests | completions over | poll interval | wall | ideal |" in text
    assert "| 20 | 1 s | 0.2 s |" in text and "did NOT complete" not in text


@pytest.mark.parametrize("via", ["python", "cli"])
def test_checksum_and_connections_reach_every_download(
    client: ModelGates,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    via: str,
) -> None:
    """``checksum=False`` leaves the manifest's sha256 empty; ``connections=1`` sends each
    content request as one plain request, without the parallel probe's ``Range``."""
    if via == "python":
        result = client.videos.batch(
            lines(2), tmp_path, poll_interval=FAST, checksum=False, connections=1
        )
        assert result.complete
    else:
        monkeypatch.setenv("MODELGATES_API_KEY", KEY)
        source = write_jsonl(tmp_path / "in.jsonl", lines(2))
        argv = ["videos", "batch", str(source), "-o", str(tmp_path / "out"), "--base-url"]
        argv += [emulator.base_url, "--poll-interval", str(FAST), "--no-progress"]
        assert main([*argv, "--no-checksum", "--connections", "1", "--json"]) == 0
    manifest = read_manifest((tmp_path if via == "python" else tmp_path / "out") / "manifest.jsonl")
    outputs = [output for line in manifest for output in line["outputs"]]
    assert len(outputs) == 2 and all(output["sha256"] is None for output in outputs)
    contents = [r for r in emulator.requests_to("api") if r.path.endswith("/content")]
    assert contents and all("range" not in r.headers for r in contents)


def test_the_ledger_is_safe_to_call_from_several_threads_at_once(tmp_path: Path) -> None:
    """The runner serialises its ledger calls, but the ledger must not depend on that: a
    capacity limiter that over-grants (anyio on asyncio has had such bugs) must not turn
    into "cannot start a transaction within a transaction"."""
    requests = load_requests(lines(8))
    errors: list[BaseException] = []
    with Ledger(tmp_path / LEDGER_NAME) as ledger:
        ledger.sync_input(requests)
        start = threading.Barrier(len(requests))

        def churn(name: str) -> None:
            try:
                start.wait()
                for index in range(40):
                    ledger.running(name)
                    ledger.output(name, index, BatchOutput(tmp_path / name, index, None))
                    ledger.items()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=churn, args=(r.name,)) for r in requests]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert {len(item.outputs) for item in ledger.items()} == {40}
