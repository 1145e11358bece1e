"""Downloads over an emulated real link: modelgates vs aria2c and curl (part of ``make bench``).

nginx (installed from Debian when missing) serves one random file on loopback; every client
reaches it through ``tools/linkemu.py`` in its own process: 40 ms round trip, 25 MB/s per
connection, 200 MB/s for the whole link (what a CDN's per-connection cap behind a fast
access link looks like). Rows, each a ratio from the same run (never a timed test):

- capped link: modelgates (automatic) vs aria2c with 8 connections (goal >= 0.9x) and curl;
- the same link with no per-connection cap: automatic vs one connection (goal >= 1.0x, within
  noise);
- a server without ranges (nginx ``max_ranges 0``): automatic vs one connection (goal >= 1.0x);
- drops (a reset every ~64 MiB on average): byte-identical, and at most one part re-sent per
  drop (bytes nginx sent beyond the file / drops <= the part size);
- CPU seconds per GiB next to curl's, and peak RSS of each modelgates run.

``python tools/bench_links.py [--size MiB] [--out docs/benchmarks-links.md]``; aria2c and curl
are installed from Debian when missing (as root), else their rows are skipped and say so.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench
from bench import GiB, MiB

JOB = "job-links"
RTT = 0.040
CONN_RATE = 25e6
TOTAL_RATE = 200e6

_CHILD = (
    "import sys\n"
    "from modelgates import ModelGates\n"
    "base, dest, connections = sys.argv[1], sys.argv[2], sys.argv[3]\n"
    "with ModelGates(base_url=base, api_key='bench-key') as client:\n"
    f"    client.videos.download({JOB!r}, dest, overwrite=True,\n"
    "        connections=None if connections == 'auto' else int(connections))\n"
)


def _ensure(tool: str, package: str) -> str | None:
    found = shutil.which(tool)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print(f"bench_links: installing {package} from Debian's packages", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-qq", package], env=env, capture_output=True)
    if not shutil.which(tool):
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], env=env, capture_output=True)
    return shutil.which(tool)


class Origin(bench.NginxServer):
    """nginx serving ``/api/v1/videos/job-links/content`` (ranges on or off) from
    ``root/content``, with an access log of the bytes of every response (what the link
    carried from it)."""

    def __init__(self, nginx: str, root: Path, size: int, ranges: bool) -> None:
        self.data = root / "content"
        if not self.data.exists():
            bench._write_random(self.data, size)
        location = f"""
            location = /api/v1/videos/{JOB}/content {{
              types {{ }} default_type video/mp4;
              alias {self.data};
            }}
            """
        super().__init__(nginx, root, location, ranges=ranges, access_log=True)


class Link:
    """``tools/linkemu.py`` in its own process (its CPU is not the client's)."""

    def __init__(self, upstream: int, conn_rate: float | None, drop_every: int | None) -> None:
        argv = [
            sys.executable,
            str(Path(__file__).with_name("linkemu.py")),
            "--upstream",
            f"127.0.0.1:{upstream}",
            "--delay-ms",
            str(RTT / 2 * 1000),
            "--total-rate",
            str(TOTAL_RATE),
        ]
        if conn_rate:
            argv += ["--conn-rate", str(conn_rate)]
        if drop_every:
            argv += ["--drop-every", str(drop_every), "--seed", "64"]
        self._process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+) ->", line)
        if match is None:
            raise SystemExit(f"bench_links: linkemu did not start: {line!r}")
        self.port = int(match.group(1))
        self.stats: dict[str, Any] = {}

    def stop(self) -> None:
        self._process.terminate()
        out, _ = self._process.communicate(timeout=10)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        self.stats = json.loads(lines[-1]) if lines else {}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 * MiB):
            digest.update(block)
    return digest.hexdigest()


def run_client(client: str, port: int, dest: Path) -> dict[str, float]:
    """One download through the link: wall seconds, CPU seconds, peak RSS (MiB)."""
    url = f"http://127.0.0.1:{port}/api/v1/videos/{JOB}/content"
    if dest.exists():
        dest.unlink()
    if client == "curl":
        argv = ["curl", "-s", "-o", str(dest), url]
    elif client == "aria2c":
        argv = [
            "aria2c", "-q", "-x8", "-s8", "-k1M", "--file-allocation=none",
            "--allow-overwrite=true", "--auto-file-renaming=false",
            "-d", str(dest.parent), "-o", dest.name, url,
        ]  # fmt: skip
    else:
        connections = client.removeprefix("modelgates-")
        argv = [sys.executable, "-c", _CHILD, f"http://127.0.0.1:{port}/api/v1", str(dest)]
        argv.append(connections)
    seconds, cpu, rss_kib, _ = bench._run_child(argv)
    return {"seconds": seconds, "cpu": cpu, "rss": rss_kib / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="MiB (default 512)")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks-links.md"))
    args = parser.parse_args(argv)
    size = args.size * MiB
    nginx = bench._ensure_nginx()
    if nginx is None:
        print("bench_links: nginx is missing and cannot be installed here", file=sys.stderr)
        return bench.NO_NGINX
    have = {tool: _ensure(tool, pkg) for tool, pkg in (("aria2c", "aria2"), ("curl", "curl"))}
    rows: list[str] = []
    goals: list[str] = []
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-links-") as tmp:
        root = Path(tmp) / "srv"
        dest = Path(tmp) / "out" / "video.mp4"
        dest.parent.mkdir()
        origin = Origin(nginx, root, size, ranges=True)
        plain = Origin(nginx, root, size, ranges=False)
        expected = _sha256(origin.data)
        cases = [
            ("capped", origin, CONN_RATE, None, ["modelgates-auto", "aria2c", "curl"]),
            ("uncapped", origin, None, None, ["modelgates-auto", "modelgates-1"]),
            ("no ranges", plain, CONN_RATE, None, ["modelgates-auto", "modelgates-1"]),
            ("drops", origin, CONN_RATE, 64 * MiB, ["modelgates-auto"]),
        ]
        try:
            for name, server, conn_rate, drop_every, clients in cases:
                for client in clients:
                    tool = client.split("-")[0]
                    if tool in have and not have[tool]:
                        rows.append(f"| {name} | {client} | skipped: {tool} is not installed |||||")
                        continue
                    before = server.bytes_sent()
                    link = Link(server.port, conn_rate, drop_every)
                    try:
                        measured = run_client(client, link.port, dest)
                    finally:
                        link.stop()
                    sent = server.bytes_sent() - before
                    same = _sha256(dest) == expected
                    results[f"{name}/{client}"] = {**measured, "sent": sent, **link.stats}
                    rate = size / measured["seconds"] / 1e6
                    rows.append(
                        f"| {name} | {client} | {rate:.1f} | {measured['cpu'] / (size / GiB):.2f} "
                        f"| {measured['rss']:.0f} | {'yes' if same else 'NO'} "
                        f"| {link.stats.get('connections', '?')} |"
                    )
        finally:
            origin.stop()
            plain.stop()

    def ratio(a: str, b: str) -> float | None:
        if a in results and b in results:
            return results[b]["seconds"] / results[a]["seconds"]
        return None

    def goal(text: str, value: float | None, target: float) -> None:
        if value is None:
            goals.append(f"- {text}: not measured (a client is missing)")
        else:
            verdict = "met" if value >= target else "MISSED"
            goals.append(f"- {text}: {value:.2f}x (goal >= {target}): {verdict}")

    auto_row = "capped/modelgates-auto"
    goal("capped link, modelgates vs aria2c -x8", ratio(auto_row, "capped/aria2c"), 0.9)
    goal("capped link, modelgates vs curl", ratio(auto_row, "capped/curl"), 1.0)
    goal("no per-connection cap, automatic vs one connection",
         ratio("uncapped/modelgates-auto", "uncapped/modelgates-1"), 0.95)  # fmt: skip
    goal("no range support, automatic vs one connection",
         ratio("no ranges/modelgates-auto", "no ranges/modelgates-1"), 0.95)  # fmt: skip
    drops = results.get("drops/modelgates-auto")
    if drops is not None:
        extra = drops["sent"] - size
        part = 4 * MiB
        per_drop = extra / drops["drops"] if drops.get("drops") else 0.0
        goals.append(
            f"- drops: {drops['drops']} resets, {extra / MiB:.1f} MiB sent beyond the file "
            f"({per_drop / MiB:.1f} MiB per drop, goal <= one part of {part // MiB} MiB plus "
            f"what was in flight): {'met' if per_drop <= part * 1.5 else 'MISSED'}"
        )
    curl = results.get("capped/curl")
    auto = results.get("capped/modelgates-auto")
    if curl and auto:
        goals.append(
            f"- CPU per GiB: modelgates {auto['cpu'] / (size / GiB):.2f} s "
            f"(sha256 included) vs curl {curl['cpu'] / (size / GiB):.2f} s"
        )
    load = os.getloadavg()[0]
    report = "\n".join(
        [
            "# Downloads over an emulated link",
            "",
            f"{args.size} MiB from nginx through `tools/linkemu.py`: {RTT * 1000:.0f} ms RTT, "
            f"{CONN_RATE / 1e6:.0f} MB/s per connection (capped rows), {TOTAL_RATE / 1e6:.0f} MB/s "
            f"for the link. One run each; load average {load:.1f} on {os.cpu_count()} cores. "
            "Written by `python tools/bench_links.py` (part of `make bench`).",
            "",
            "| link | client | MB/s | CPU s/GiB | peak RSS MiB | identical | connections |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            "## Goals (ratios of the same run)",
            "",
            *goals,
            "",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    start = time.monotonic()
    code = main()
    print(f"bench_links: {time.monotonic() - start:.0f} s", file=sys.stderr)
    sys.exit(code)
