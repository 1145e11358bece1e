"""Downloads over an emulated real link: modelgates vs aria2c and curl (part of ``make bench``).

nginx (installed from Debian when missing) serves one random file on loopback; every client
reaches it through ``tools/linkemu.py`` in its own process: 40 ms round trip, 25 MB/s per
connection, 200 MB/s for the whole link (what a CDN's per-connection cap behind a fast
access link looks like), each new connection starting slow (TCP's slow start, which the
emulator models: its own sockets are on loopback). Rows, each a ratio from the same run
(never a timed test):

- capped link: modelgates (automatic) vs aria2c with 8 connections (goal >= 0.9x) and curl,
  modelgates and aria2c ``REPEAT`` times each, interleaved (the median; the row says the
  spread), with modelgates' sha256 on (the default) and off (aria2c hashes nothing); its
  start-up (interpreter, imports, client) is measured apart;
- the same link with no per-connection cap: automatic vs one connection (goal >= 1.0x, within
  noise);
- a server without ranges (nginx ``max_ranges 0``): automatic vs one connection (goal >= 1.0x);
- drops (a reset every ~64 MiB on average): byte-identical, and at most one part re-sent per
  drop: body bytes the link delivered beyond the file (the client had them and asked again)
  / drops <= the part size; beside it, what nginx sent that the link never delivered (in
  flight in the emulator and the kernel's buffers at a reset: no client could keep it);
- CPU seconds per GiB next to curl's, and peak RSS of each modelgates run; the uncapped link
  (still parallel) at growing sizes (``--rss-sizes``, 128 MiB, 2 GiB and 4 GiB): peak RSS
  stays flat as the file grows (goal: within +8 MiB from the smallest to the largest; the
  step between the two largest says whether it still grows).

Files and downloads live in tmpfs (``/dev/shm``) when it has room; a size without room is
skipped and says so.

``python tools/bench_links.py [--size MiB] [--rss-sizes A,B,...] [--out FILE]`` (default
``docs/benchmarks-links.md``); aria2c and curl are installed from Debian when missing (as
root), else their rows are skipped and say so.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelgates._parallel import DEFAULT_CONNECTIONS, part_size_for

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench
import test_dist
from bench import GiB, MiB

JOB = "job-links"
RTT = 0.040
CONN_RATE = 25e6
TOTAL_RATE = 200e6
#: Runs of each repeated client on the capped link.
REPEAT = 3

# argv: base URL, dest, connections ('auto' or N), checksum ('1' or '0'), the parent's
# time.time() at the spawn; prints the seconds from the spawn to a client ready to download.
_CHILD = (
    "import sys, time\n"
    "from modelgates import ModelGates\n"
    "base, dest, connections, checksum, spawned = sys.argv[1:6]\n"
    "with ModelGates(base_url=base, api_key='bench-key') as client:\n"
    "    print(time.time() - float(spawned))\n"
    f"    client.videos.download({JOB!r}, dest, overwrite=True, checksum=checksum == '1',\n"
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


def runtime_python(where: Path) -> str:
    """A venv with this checkout and its runtime dependencies only, as ``pip install
    modelgates`` leaves users: the dev venv's extras (rich, click) make ``import httpx``
    ~0.2 s slower, and that would be counted in every modelgates run. Falls back to this
    interpreter, and says so, when the venv cannot be made."""
    try:
        exe = test_dist.venv_with(
            Path(sys.executable), where, str(bench.ROOT), test_dist.CONSTRAINTS
        )
    except (SystemExit, OSError, subprocess.CalledProcessError) as exc:
        print(f"bench_links: no runtime-only venv ({exc}); modelgates runs from {sys.executable}")
        return sys.executable
    return str(exe)


#: The interpreter of the modelgates runs (``runtime_python``, made by ``main``).
CHILD_PYTHON = sys.executable


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
        connections, _, nohash = client.removeprefix("modelgates-").partition("-")
        argv = [CHILD_PYTHON, "-c", _CHILD, f"http://127.0.0.1:{port}/api/v1", str(dest)]
        argv += [connections, "0" if nohash else "1", repr(time.time())]
    seconds, cpu, rss_kib, out = bench._run_child(argv)
    measured = {"seconds": seconds, "cpu": cpu, "rss": rss_kib / 1024}
    if out.strip():
        measured["startup"] = float(out)
    return measured


@dataclass
class Case:
    """Runs on one link: ``clients`` in turn, each through a fresh ``Link``."""

    name: str
    origin: Origin
    size: int
    conn_rate: float | None
    drop_every: int | None
    clients: list[str]
    #: Those of ``clients`` run ``REPEAT`` times, interleaved (the median is kept).
    repeated: tuple[str, ...] = ()


def _settled(origin: Origin) -> list[list[int]]:
    """The access log once nginx has logged what the last run's closed connections left."""
    lines = origin.log_lines()
    for _ in range(20):
        time.sleep(0.1)
        again = origin.log_lines()
        if again == lines:
            break
        lines = again
    return lines


def run_case(
    case: Case, dest: Path, have: dict[str, str | None]
) -> tuple[list[str], dict[str, dict[str, float]]]:
    """The table rows of ``case`` and what each client's run measured."""
    rows: list[str] = []
    results: dict[str, dict[str, float]] = {}
    runs: dict[str, list[dict[str, float]]] = {}
    expected = _sha256(case.origin.data)
    order = [c for c in case.clients if c not in case.repeated]
    order += [c for _ in range(REPEAT) for c in case.clients if c in case.repeated]
    for client in order:
        tool = client.split("-")[0]
        if tool in have and not have[tool]:
            continue
        before = len(_settled(case.origin))
        link = Link(case.origin.port, case.conn_rate, case.drop_every)
        try:
            measured = run_client(client, link.port, dest)
        finally:
            link.stop()
        responses = _settled(case.origin)[before:]
        measured["identical"] = float(_sha256(dest) == expected)
        dest.unlink()
        runs.setdefault(client, []).append(
            {
                **measured,
                **link.stats,
                "size": case.size,
                "sent": sum(r[1] for r in responses),  # body bytes nginx sent
                "sent_all": sum(r[2] for r in responses),  # ... with the headers
                "headers": sum(r[2] - r[1] for r in responses),
            }
        )
    for client in case.clients:
        tool = client.split("-")[0]
        if client not in runs:
            rows.append(f"| {case.name} | {client} | skipped: {tool} is not installed |||||")
            continue
        done = sorted(runs[client], key=lambda run: run["seconds"])
        median = done[len(done) // 2]
        results[f"{case.name}/{client}"] = median
        rate = case.size / median["seconds"] / 1e6
        spread = ""
        if len(done) > 1:
            spread = f" ({case.size / done[-1]['seconds'] / 1e6:.0f}-{case.size / done[0]['seconds'] / 1e6:.0f})"
        same = all(run["identical"] for run in done)
        rows.append(
            f"| {case.name} | {client} | {rate:.1f}{spread} "
            f"| {median['cpu'] / (case.size / GiB):.2f} "
            f"| {median['rss']:.0f} | {'yes' if same else 'NO'} "
            f"| {median.get('connections', '?')} |"
        )
    return rows, results


def _room(directory: Path) -> int:
    """Bytes that may still be written to ``directory`` (tmpfs: also what memory has)."""
    free = shutil.disk_usage(directory).free
    if str(directory).startswith("/dev/shm"):
        with contextlib.suppress(OSError, StopIteration, ValueError):
            meminfo = Path("/proc/meminfo").read_text().splitlines()
            line = next(line for line in meminfo if line.startswith("MemAvailable:"))
            free = min(free, int(line.split()[1]) * 1024)
    return free


def _mib_list(text: str) -> list[int]:
    """``--rss-sizes``: whole MiB, comma-separated, each above 0."""
    try:
        sizes = [int(n) * MiB for n in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MiB separated by commas") from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: each size must be above 0 MiB")
    return sizes


def _label(size: int) -> str:
    return f"{size // GiB} GiB" if size % GiB == 0 else f"{size // MiB} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512, help="MiB (default 512)")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks-links.md"))
    parser.add_argument(
        "--rss-sizes",
        type=_mib_list,
        default="128,2048,4096",
        help="MiB of the peak RSS rows, growing (default 128,2048,4096)",
    )
    args = parser.parse_args(argv)
    size = args.size * MiB
    rss_sizes: list[int] = args.rss_sizes
    small = rss_sizes[0]
    nginx = bench._ensure_nginx()
    if nginx is None:
        print("bench_links: nginx is missing and cannot be installed here", file=sys.stderr)
        return bench.NO_NGINX
    have = {tool: _ensure(tool, pkg) for tool, pkg in (("aria2c", "aria2"), ("curl", "curl"))}
    rows: list[str] = []
    goals: list[str] = []
    results: dict[str, dict[str, float]] = {}
    # Everything in tmpfs when it has room (the origin's files and the downloads).
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and _room(shm) > 2 * (size + small) + GiB else None
    global CHILD_PYTHON
    with tempfile.TemporaryDirectory(prefix="bench-links-", dir=base) as tmp:
        CHILD_PYTHON = runtime_python(Path(tmp) / "runtime-venv")
        dest = Path(tmp) / "out" / "video.mp4"
        dest.parent.mkdir()
        origin = Origin(nginx, Path(tmp) / "srv", size, ranges=True)
        plain = Origin(nginx, Path(tmp) / "srv", size, ranges=False)
        cases = [
            Case(
                "capped",
                origin,
                size,
                CONN_RATE,
                None,
                ["modelgates-auto", "aria2c", "modelgates-auto-nohash", "curl"],
                repeated=("modelgates-auto", "aria2c", "modelgates-auto-nohash"),
            ),
            Case("uncapped", origin, size, None, None, ["modelgates-auto", "modelgates-1"]),
            Case("no ranges", plain, size, CONN_RATE, None, ["modelgates-auto", "modelgates-1"]),
            Case("drops", origin, size, CONN_RATE, 64 * MiB, ["modelgates-auto"]),
        ]
        try:
            for case in cases:
                more_rows, more = run_case(case, dest, have)
                rows += more_rows
                results.update(more)
        finally:
            origin.stop()
            plain.stop()
        shutil.rmtree(Path(tmp) / "srv")
        # Peak RSS as the file grows: the uncapped link (still parallel), each size alone.
        for rss_size in rss_sizes:
            name = f"uncapped, {_label(rss_size)}"
            if _room(Path(tmp)) < 2 * rss_size + GiB:
                rows.append(
                    f"| {name} | modelgates-auto | skipped: under {_label(2 * rss_size + GiB)} free in {tmp} |||||"
                )
                continue
            server = Origin(nginx, Path(tmp) / f"srv-{rss_size}", rss_size, ranges=True)
            try:
                more_rows, more = run_case(
                    Case(name, server, rss_size, None, None, ["modelgates-auto"]), dest, have
                )
                rows += more_rows
                results.update(more)
            finally:
                server.stop()
                shutil.rmtree(server.root)

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
    nohash = ratio("capped/modelgates-auto-nohash", "capped/aria2c")
    if nohash is not None and auto_row in results:
        first = results[auto_row]
        goals.append(
            f"- beside it: modelgates with checksum=False (aria2c hashes nothing) vs aria2c "
            f"{nohash:.2f}x; modelgates' start-up before its first request (interpreter, "
            f"imports, client; aria2c's is a few ms) {first.get('startup', float('nan')):.2f} s "
            f"of its {first['seconds']:.2f} s"
        )
    goal("no per-connection cap, automatic vs one connection",
         ratio("uncapped/modelgates-auto", "uncapped/modelgates-1"), 0.95)  # fmt: skip
    goal("no range support, automatic vs one connection",
         ratio("no ranges/modelgates-auto", "no ranges/modelgates-1"), 0.95)  # fmt: skip

    def resent(run: dict[str, float]) -> tuple[float, float, float]:
        """Body bytes delivered beyond the file (the client had them, and got them again);
        bytes nginx sent that the link never delivered (in flight at a reset or a close);
        of those, what was still in the kernel's buffers ahead of the emulator."""
        return (
            run["bytes_delivered"] - run["headers"] - run["size"],
            run["sent_all"] - run["bytes_delivered"],
            run["sent_all"] - run["bytes_served"],
        )

    drops = results.get("drops/modelgates-auto")
    if drops is not None:
        part = part_size_for(size, DEFAULT_CONNECTIONS)
        again, lost, kernel = resent(drops)
        n = int(drops["drops"])
        per_drop, lost_per_drop = (again / n, lost / n) if n else (0.0, 0.0)
        line = (
            f"- drops: {n} resets; {again / MiB:.1f} MiB delivered beyond the file, "
            f"{per_drop / MiB:.1f} MiB per drop (goal <= one part, {part / MiB:g} MiB): "
            f"{'met' if per_drop <= part else 'MISSED'}; beside it, lost in flight (sent by "
            f"nginx, never delivered, so no client could keep it) {lost / MiB:.1f} MiB, "
            f"{lost_per_drop / MiB:.1f} MiB per drop ({kernel / MiB:.1f} MiB of it in the "
            f"kernel's buffers ahead of the emulator, {(lost - kernel) / MiB:.1f} MiB inside it)"
        )
        if auto_row in results:
            base_again, base_lost, _ = resent(results[auto_row])
            line += (
                f"; the capped row, without drops: {base_again / MiB:.1f} MiB delivered beyond "
                f"the file, {base_lost / MiB:.1f} MiB lost in flight"
            )
        goals.append(line)
    curl = results.get("capped/curl")
    auto = results.get(auto_row)
    if curl and auto:
        goals.append(
            f"- CPU per GiB: modelgates {auto['cpu'] / (size / GiB):.2f} s "
            f"(sha256 included) vs curl {curl['cpu'] / (size / GiB):.2f} s"
        )
    measured = [
        (rss_size, results[key])
        for rss_size in rss_sizes
        if (key := f"uncapped, {_label(rss_size)}/modelgates-auto") in results
    ]
    if len(measured) >= 2:
        (first_size, low), (last_size, high) = measured[0], measured[-1]
        growth = high["rss"] - low["rss"]
        sizes = ", ".join(f"{r['rss']:.0f} MiB at {_label(n)}" for n, r in measured)
        step = high["rss"] - measured[-2][1]["rss"]
        goals.append(
            f"- peak RSS as the file grows: {sizes} ({high['connections']:.0f} connections); "
            f"{_label(first_size)} to {_label(last_size)} {growth:+.0f} MiB (goal: flat, within "
            f"+8 MiB): {'met' if growth <= 8 else 'MISSED'}; the last step {step:+.0f} MiB"
        )
    else:
        goals.append("- peak RSS as the file grows: not measured (too little room for the files)")
    load = os.getloadavg()[0]
    runs_from = "this interpreter (no runtime-only venv)"
    if sys.executable != CHILD_PYTHON:
        runs_from = "a venv with only its runtime dependencies (what installing it gives)"
    report = "\n".join(
        [
            "# Downloads over an emulated link",
            "",
            f"{args.size} MiB (the last two rows: their own sizes) from nginx through "
            f"`tools/linkemu.py`: {RTT * 1000:.0f} ms RTT with TCP's slow start on each new "
            f"connection, {CONN_RATE / 1e6:.0f} MB/s per connection (capped rows), "
            f"{TOTAL_RATE / 1e6:.0f} MB/s for the link. One run each, except the capped "
            f"modelgates and aria2c rows: the median of {REPEAT}, interleaved (slowest-fastest "
            f"in brackets); `nohash` is `checksum=False`; connections: the TCP connections "
            f"the link saw. modelgates runs from {runs_from}. "
            f"Load average {load:.1f} on {os.cpu_count()} cores. "
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
