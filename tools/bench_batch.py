"""``make bench``'s batch row: ``videos batch`` of 1,000 requests against the emulator.

Every job completes at a random moment spread over 30 s from the start (the emulator's
``on_create`` hook sets each one's completion time), each with one small output. The batch
runs in its own process (``ModelGates.videos.batch``, all jobs in flight at once), so its
CPU and peak RSS are its own; the emulator serves from this process and counts the polls.

Measured against the ideal: the last job's completion (or its creation, if the creates
could not be sent sooner) plus one download of its output. Reported: wall vs ideal, polls
per job, peak RSS (should stay flat, under 100 MiB) and CPU seconds. A benchmark, not a
test: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "facade"))

from modelgates import ModelGates  # noqa: E402
from modelgates.emulator import DEFAULT_API_KEY, CreatePlan, Emulator, Output  # noqa: E402

OUTPUT_BYTES = 256 * 1024

_CHILD = """
import json, resource, sys, time
from modelgates import ModelGates
source, directory, base_url, key, max_jobs, poll_interval = sys.argv[1:7]
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
c0, t0 = cpu(), time.time()
with ModelGates(api_key=key, base_url=base_url) as client:
    result = client.videos.batch(source, directory, max_jobs=int(max_jobs),
                                 max_downloads=8, poll_interval=float(poll_interval))
t1, c1 = time.time(), cpu()
print(json.dumps({"start": t0, "end": t1, "cpu": c1 - c0, "complete": result.complete,
                  "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def measure(requests: int, spread: float, poll_interval: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, Emulator() as emulator:
        directory = Path(tmp)
        source = directory / "requests.jsonl"
        source.write_text(
            "".join(
                json.dumps({"model": "emulator/video-1", "prompt": f"bench {i}", "name": f"v{i}"})
                + "\n"
                for i in range(requests)
            )
        )
        rng = random.Random(9)  # noqa: S311 - completion times, not secrets
        lock = threading.Lock()
        completes_at: dict[str, float] = {}
        created_at: dict[str, float] = {}
        start = time.time()

        def plan(body: dict[str, Any]) -> CreatePlan:
            prompt = str(body["prompt"])
            now = time.time()
            with lock:
                target = completes_at.setdefault(prompt, start + rng.uniform(0, spread))
                created_at[prompt] = now
            return CreatePlan(
                seconds_to_complete=max(0.0, target - now),
                outputs=(Output.generated(OUTPUT_BYTES, seed=1),),
            )

        emulator.on_create = plan
        one = emulator.add_job(outputs=[Output.generated(OUTPUT_BYTES, seed=2)])
        with ModelGates(api_key=DEFAULT_API_KEY, base_url=emulator.base_url) as client:
            t0 = time.perf_counter()
            client.videos.download(one.id, directory / "one.mp4")
            one_download = time.perf_counter() - t0
        start = time.time()
        run = subprocess.run(
            [sys.executable, "-c", _CHILD, str(source), str(directory / "out"),
             emulator.base_url, DEFAULT_API_KEY, str(requests), str(poll_interval)],
            capture_output=True, text=True, check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT / "facade")},
        )  # fmt: skip
        if run.returncode != 0:
            raise SystemExit(f"the batch failed: {run.stderr[-2000:]}")
        child = json.loads(run.stdout.strip().splitlines()[-1])
        polls = sum(
            1
            for r in emulator.requests_to()
            if r.method == "GET" and r.path.count("/") == 4 and "/videos/job-" in r.path
        )
        last = max(max(completes_at[p], created_at[p]) for p in completes_at)
        ideal = last + one_download - child["start"]
        return {
            "requests": requests,
            "spread": spread,
            "poll_interval": poll_interval,
            "wall": child["end"] - child["start"],
            "ideal": ideal,
            "polls_per_job": polls / requests,
            "rss_mib": child["rss_kib"] / 1024,
            "cpu": child["cpu"],
            "complete": child["complete"],
            "load": os.getloadavg()[0],
        }


def report(row: dict[str, Any]) -> str:
    return (
        "| requests | completions over | poll interval | wall | ideal | polls/job | "
        "peak RSS | CPU | load |\n|---|---|---|---|---|---|---|---|---|\n"
        f"| {row['requests']} | {row['spread']:.0f} s | {row['poll_interval']:g} s | "
        f"{row['wall']:.1f} s | {row['ideal']:.1f} s (+{row['wall'] - row['ideal']:.1f} s) | "
        f"{row['polls_per_job']:.1f} | {row['rss_mib']:.0f} MiB | {row['cpu']:.1f} s | "
        f"{row['load']:.1f} |\n\nGoal: peak RSS flat, under 100 MiB: "
        f"{'met' if row['rss_mib'] < 100 else 'missed'}."
        + ("" if row["complete"] else " The batch did NOT complete.")
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=30.0, help="seconds (default 30)")
    parser.add_argument("--poll-interval", type=float, default=3.0)
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    text = "## videos batch\n\n" + report(measure(args.requests, args.spread, args.poll_interval))
    sys.stdout.write(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
