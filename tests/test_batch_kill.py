"""The batch's promise under SIGKILL: nothing lost, nothing paid twice.

The real ``modelgates videos batch`` process is killed at seeded random moments (22 kills)
across a 50-request batch whose jobs take a varying number of polls, have one or two
outputs, drop their downloads mid-body, answer 429 on create and on poll, and fail for
five requests. It is rerun until it exits by itself. Then, against the emulator's own
record: every request has exactly one job (at most one for those reported unknown), every
video is byte-identical to the emulator's, and the manifest says what the ledger says.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

from modelgates.batch._result import status_of
from modelgates.emulator import CreatePlan, Emulator, Faults, Output, StatusFault
from tests.conftest import KEY
from tests.helpers import leftovers, parked

pytestmark = pytest.mark.slow

REQUESTS = 50
KILLS = 22
FAILING = {3, 14, 25, 36, 47}
SEED = 20261202


def _plan_for(rejects: random.Random) -> Any:
    """The emulator's answer to each create: seeded per prompt (the same job whichever
    run sends it), 429s from one seeded stream."""
    lock = threading.Lock()

    def plan(body: dict[str, Any]) -> CreatePlan:
        prompt = str(body["prompt"])
        with lock:
            if rejects.random() < 0.12:
                retry_after = "0.2" if rejects.random() < 0.5 else None
                return CreatePlan(reject=StatusFault(429, retry_after=retry_after))
        rng = random.Random(prompt)
        index = int(prompt.rsplit("r", 1)[1])
        outputs = tuple(
            Output.generated(rng.randint(40_000, 300_000), seed=rng.randint(1, 10**6))
            for _ in range(rng.choice((1, 1, 2)))
        )
        drops = [outputs[0].size // 2] if rng.random() < 0.4 else []
        return CreatePlan(
            polls_to_complete=rng.randint(3, 12),
            outputs=outputs,
            faults=Faults(drop_at=drops),
            fail="The provider rejected the prompt" if index in FAILING else None,
        )

    return plan


def _drain(stream: IO[str], into: list[str], first: threading.Event) -> None:
    for line in stream:
        into.append(line)
        first.set()
    first.set()


def _ledger(directory: Path) -> tuple[dict[str, tuple[str, str | None]], dict[str, list[Any]]]:
    conn = sqlite3.connect(directory / ".modelgates-batch.sqlite")
    try:
        rows = {n: (s, j) for n, s, j in conn.execute("SELECT name, state, job_id FROM requests")}
        outputs: dict[str, list[Any]] = {}
        for name, path, size, sha in conn.execute(
            "SELECT name, path, bytes, sha256 FROM outputs ORDER BY name, idx"
        ):
            outputs.setdefault(name, []).append({"path": path, "bytes": size, "sha256": sha})
    finally:
        conn.close()
    return rows, outputs


def test_sigkill_at_any_moment_loses_nothing_and_pays_nothing_twice(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    source = tmp_path / "requests.jsonl"
    names = [f"r{i:02d}" for i in range(REQUESTS)]
    source.write_text(
        "".join(
            json.dumps({"name": n, "model": "emulator/video-1", "prompt": f"kill test {n}"}) + "\n"
            for n in names
        )
    )
    out = tmp_path / "out"
    with Emulator() as emulator:
        emulator.on_create = _plan_for(random.Random(SEED + 1))
        env = {**os.environ, "MODELGATES_API_KEY": KEY, "MODELGATES_BASE_URL": emulator.base_url}
        command = [
            sys.executable,
            "-m",
            "modelgates",
            "videos",
            "batch",
            str(source),
            "-o",
            str(out),
            "--poll-interval",
            "0.1",
            "--max-jobs",
            "4",
            "--max-downloads",
            "2",
        ]
        kills = runs = 0
        while True:
            runs += 1
            assert runs < 80, "the batch never finished"
            emulator.fail("poll", StatusFault(429, retry_after="0.1"))
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            assert process.stdout is not None and process.stderr is not None
            err: list[str] = []
            first = threading.Event()
            drainer = threading.Thread(target=_drain, args=(process.stderr, err, first))
            drainer.start()
            if kills < KILLS:
                first.wait(timeout=60)  # the runner is up and reading its ledger
                time.sleep(rng.uniform(0.0, 0.6))
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    process.wait(timeout=30)
                    kills += 1
                    drainer.join(timeout=30)
                    process.stdout.close()
                    process.stderr.close()
                    continue
            stdout = process.stdout.read()
            code = process.wait(timeout=120)
            drainer.join(timeout=30)
            process.stdout.close()
            process.stderr.close()
            break

        rows, outputs = _ledger(out)
        assert kills >= 20, f"only {kills} kills landed before the batch finished"
        assert code == 15, "".join(err)  # the five failing requests
        unknown = {n for n, (state, _) in rows.items() if state == "unknown"}
        for name in unknown:
            assert f"{name}: unknown" in stdout
        assert set(rows) == set(names)
        for i, name in enumerate(names):
            state, job_id = rows[name]
            jobs = emulator.jobs_for(f"kill test {name}")
            if name in unknown:
                assert len(jobs) <= 1, name
                continue
            assert len(jobs) == 1, (name, len(jobs))  # never paid twice, never lost
            assert job_id == jobs[0].id
            if i in FAILING:
                assert state == "failed", name
                continue
            assert state == "downloaded", (name, state)
            files = [out / f"{name}.mp4"] + [
                out / f"{name}-{k}.mp4" for k in range(1, len(jobs[0].outputs))
            ]
            for path, output in zip(files, jobs[0].outputs, strict=True):
                data = path.read_bytes()
                assert len(data) == output.size
                assert hashlib.sha256(data).hexdigest() == output.sha256, path.name
        manifest = {
            line["name"]: line
            for line in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())
        }
        assert set(manifest) == set(rows)
        for name, (state, job_id) in rows.items():
            entry = manifest[name]
            assert (entry["status"], entry["job_id"]) == (status_of(state), job_id), name
            assert entry["outputs"] == outputs.get(name, []), name
        assert leftovers(out) == [] and parked(out) == []
