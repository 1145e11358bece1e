"""``make bench``: the download path measured on loopback against curl, wget and plain Python.

A real static server (nginx, ``sendfile on``, installed from Debian's packages when missing)
serves the bodies from tmpfs, so the server is not the bottleneck; the bundled emulator is a
second server for comparison. Every client runs in its own process, 5 times per case, the
runs of one case interleaved (one of each client in turn: every ratio compares figures
taken under the same load); the table gives the median throughput (with min and max), the
ratio to curl in the same run, peak RSS and CPU seconds per GiB. The goals of issue #12 are
a table of same-run ratios, each met or missed, a miss with what was measured beside it. Also: time to first byte and total time of a small JSON
request (a poll), ``import modelgates`` time, and ``download_all`` of 8 outputs against 8
parallel curls. Writes ``docs/benchmarks.md`` and ``docs/benchmarks.png``.

``--quick`` (``make bench-quick``, under a minute): 64 MiB to tmpfs only, fewer clients.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
GiB = 1024 * MiB
KEY = "sk-bench"
AUTH = f"Authorization: Bearer {KEY}"
JOB = "job-bench"
OUTPUTS = 8
#: Exit status when nginx is missing and cannot be installed (the test suite skips on it).
NO_NGINX = 77

# Each Python client: argv = url, dest, base_url; prints {"seconds": ..., "cpu": ..., "rss_kib": ...}
# for the transfer alone (interpreter start-up excluded, as curl's is negligible).
_MEASURE = """
import json, resource, sys, time
def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
url, dest, base_url = sys.argv[1:4]
{setup}
c0, t0 = _cpu(), time.perf_counter()
{body}
t1, c1 = time.perf_counter(), _cpu()
print(json.dumps({{"seconds": t1 - t0, "cpu": c1 - c0,
                  "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""

PYTHON_CLIENTS: dict[str, tuple[str, str]] = {
    "modelgates (sync)": (
        "from modelgates import ModelGates\n"
        "client = ModelGates(api_key='sk-bench', base_url=base_url)",
        "client.videos.download('job-bench', dest, overwrite=True)",
    ),
    # The client is made in the setup, as the sync one is (making it loads TLS settings:
    # a fixed cost that is not the download's).
    "modelgates (async)": (
        "import asyncio\nfrom modelgates import AsyncModelGates\n"
        "client = AsyncModelGates(api_key='sk-bench', base_url=base_url)\n"
        "async def run():\n"
        "    async with client:\n"
        "        await client.videos.download('job-bench', dest, overwrite=True)",
        "asyncio.run(run())",
    ),
    "modelgates (sync), checksum=False": (
        "from modelgates import ModelGates\n"
        "client = ModelGates(api_key='sk-bench', base_url=base_url)",
        "client.videos.download('job-bench', dest, overwrite=True, checksum=False)",
    ),
    "modelgates (async), checksum=False": (
        "import asyncio\nfrom modelgates import AsyncModelGates\n"
        "client = AsyncModelGates(api_key='sk-bench', base_url=base_url)\n"
        "async def run():\n"
        "    async with client:\n"
        "        await client.videos.download('job-bench', dest, overwrite=True, checksum=False)",
        "asyncio.run(run())",
    ),
    "modelgates (sync), general path (diagnostic)": (
        "from modelgates import ModelGates, _fastbody\n"
        "_fastbody.open_body = lambda response: None\n"
        "client = ModelGates(api_key='sk-bench', base_url=base_url)",
        "client.videos.download('job-bench', dest, overwrite=True, checksum=False)",
    ),
    "hashlib sha256 alone (in memory)": (
        "import hashlib, os\nblock = os.urandom(1 << 20)\nsize = int(os.environ['BENCH_SIZE'])",
        "h = hashlib.sha256()\nfor _ in range(size >> 20):\n    h.update(block)\n"
        "open(dest, 'wb').truncate(size)",
    ),
    "httpx streaming": (
        "import httpx\nclient = httpx.Client()",
        "with client.stream('GET', url) as r, open(dest, 'wb') as f:\n"
        "    for chunk in r.iter_raw():\n        f.write(chunk)",
    ),
    "urllib3 streaming (1 MiB reads)": (
        "import urllib3\npool = urllib3.PoolManager()",
        "r = pool.request('GET', url, preload_content=False)\n"
        "with open(dest, 'wb') as f:\n"
        "    while chunk := r.read(1 << 20):\n        f.write(chunk)\n"
        "r.release_conn()",
    ),
    "generated client (buffered)": (
        "from modelgates_api import AuthenticatedClient\n"
        "from modelgates_api.api.videos import download_video_content\n"
        "client = AuthenticatedClient(base_url=base_url, token='sk-bench')",
        "response = download_video_content.sync_detailed('job-bench', client=client)\n"
        "with open(dest, 'wb') as f:\n    f.write(response.parsed.payload.getbuffer())",
    ),
}
#: At 4 GiB only these run (to tmpfs): enough to show that memory stays flat.
HUGE_CLIENTS = (
    "curl",
    "modelgates (sync)",
    "modelgates (sync), checksum=False",
    "modelgates (async)",
)
QUICK_CLIENTS = (
    "modelgates (sync)",
    "modelgates (sync), checksum=False",
    "modelgates (async)",
    "modelgates (async), checksum=False",
    "hashlib sha256 alone (in memory)",
    "httpx streaming",
    "urllib3 streaming (1 MiB reads)",
)
#: Clients that only make sense on one kind of destination.
DISK_ONLY = ("curl + fsync",)
TMPFS_ONLY = ("hashlib sha256 alone (in memory)",)


@dataclass
class Case:
    server: str
    size: int
    dest: str
    client: str
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    @property
    def throughput(self) -> list[float]:
        return [self.size / MiB / s for s in self.seconds]

    @property
    def median(self) -> float:
        return statistics.median(self.throughput)

    @property
    def cpu_per_gib(self) -> float:
        return statistics.median(self.cpu) / (self.size / GiB)


# --- the servers ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ensure_nginx() -> str | None:
    for candidate in ("nginx", "/usr/sbin/nginx"):
        found = shutil.which(candidate)
        if found:
            return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing nginx-light from Debian's packages", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "nginx-light"],
            env=env,
            check=False,
            capture_output=True,
        )
        return shutil.which("nginx") or shutil.which("/usr/sbin/nginx")
    return None


def _write_random(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    # A period that no part size or alignment divides: a part written at a wrong offset
    # changes the file (with a 4 MiB period, one moved by whole parts would not).
    block = os.urandom(4 * MiB + 4093)
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


def _job_json(base_url: str) -> bytes:
    urls = [f"{base_url}/videos/{JOB}/content?index={i}" for i in range(OUTPUTS)]
    return json.dumps(
        {"id": JOB, "polling_url": f"{base_url}/videos/{JOB}", "status": "completed",
         "unsigned_urls": urls, "usage": {"cost": 0.5, "is_byok": False}}
    ).encode()  # fmt: skip


class NginxServer:
    """nginx on loopback, in the foreground, with its files under ``root``: the one place
    both benches configure it (``sendfile on``, as a static origin or CDN edge serves).

    ``locations`` is the text of the ``server`` block after ``listen`` (its ``root`` is
    ``root``); ``ranges=False`` is a server without byte ranges (``max_ranges 0``);
    ``access_log=True`` logs ``$status $body_bytes_sent $bytes_sent`` of every response to
    ``self.log`` (what nginx handed to the kernel for it; :meth:`bytes_sent` sums them).
    Several servers may share one ``root``: their files are named by port.
    """

    def __init__(
        self,
        nginx: str,
        root: Path,
        locations: str,
        *,
        ranges: bool = True,
        access_log: bool = False,
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        # nginx's workers run as an unprivileged user: they must be able to read the tree.
        for directory in (root.parent, root):
            directory.chmod(0o755)
        (root / "tmp").mkdir(exist_ok=True)
        self.port = _free_port()
        self.log = root / f"access-{self.port}.log"
        log = (
            f"log_format bytes '$status $body_bytes_sent $bytes_sent'; access_log {self.log} bytes;"
        )
        conf = root / f"nginx-{self.port}.conf"
        conf.write_text(
            textwrap.dedent(
                """
                worker_processes 2;
                daemon off;
                pid {root}/nginx-{port}.pid;
                error_log {root}/error.log;
                events {{ worker_connections 256; }}
                http {{
                  {log}
                  sendfile on;
                  tcp_nopush on;
                  keepalive_requests 100000;
                  max_ranges {max_ranges};
                  client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp;
                  fastcgi_temp_path {root}/tmp; uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
                  server {{
                    listen 127.0.0.1:{port};
                    root {root};
                {locations}
                  }}
                }}
                """
            ).format(
                root=root,
                port=self.port,
                log=log if access_log else "access_log off;",
                max_ranges="1" if ranges else "0",
                locations=textwrap.indent(textwrap.dedent(locations).strip(), " " * 4),
            )
        )
        self._process = subprocess.Popen([nginx, "-c", str(conf)], stderr=subprocess.DEVNULL)
        _wait_for_port(self.port)

    def log_lines(self) -> list[list[int]]:
        """``[status, body bytes, bytes with headers]`` of each response logged so far."""
        if not self.log.exists():
            return []
        return [
            [int(f) for f in line.split()] for line in self.log.read_text().splitlines() if line
        ]

    def bytes_sent(self, *, headers: bool = False) -> int:
        """Body bytes (with ``headers``: all bytes) nginx has sent so far (``access_log``)."""
        return sum(line[2 if headers else 1] for line in self.log_lines())

    def stop(self) -> None:
        self._process.send_signal(signal.SIGQUIT)  # graceful: the access log is complete
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class Nginx(NginxServer):
    """nginx serving ``/api/v1/videos/job-bench[/content?index=N]`` from tmpfs."""

    def __init__(self, nginx: str, root: Path, size: int, outputs_size: int) -> None:
        _write_random(root / "content" / JOB / "0", size)
        for i in range(1, OUTPUTS):
            _write_random(root / "content" / JOB / str(i), outputs_size)
        super().__init__(
            nginx,
            root,
            r"""
            location ~ ^/api/v1/videos/([^/]+)/content$ {
              types { } default_type video/mp4;
              try_files /content/$1/$arg_index /content/$1/0 =404;
            }
            location ~ ^/api/v1/videos/([^/]+)$ {
              types { } default_type application/json;
              try_files /json/$1.json =404;
            }
            """,
        )
        self.base_url = f"http://127.0.0.1:{self.port}/api/v1"
        (root / "json").mkdir(exist_ok=True)
        (root / "json" / f"{JOB}.json").write_bytes(_job_json(self.base_url))


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"bench: nothing listens on port {port}")


# --- the clients ---------------------------------------------------------------------------


def _run_child(argv: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds and peak RSS (KiB) of one child process, and its stdout."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"bench: {argv[0]} failed ({process.returncode})")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, out


def measure(case: Case, url: str, base_url: str, dest: Path, runs: int) -> Case:
    for _ in range(runs):
        if dest.exists():
            dest.unlink()
        if case.client == "curl":
            seconds, cpu, rss, _ = _run_child(["curl", "-s", "-H", AUTH, "-o", str(dest), url])
        elif case.client == "curl + fsync":  # the durability modelgates gives (it fsyncs)
            seconds, cpu, rss, _ = _run_child(["curl", "-s", "-H", AUTH, "-o", str(dest), url])
            t0 = time.perf_counter()
            fd = os.open(dest, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
            seconds += time.perf_counter() - t0
        elif case.client == "wget":
            seconds, cpu, rss, _ = _run_child(
                ["wget", "-q", "--header", AUTH, "-O", str(dest), url]
            )
        else:
            setup, body = PYTHON_CLIENTS[case.client]
            script = _MEASURE.format(setup=setup, body=body)
            os.environ["BENCH_SIZE"] = str(case.size)
            _, _, rss, out = _run_child([sys.executable, "-c", script, url, str(dest), base_url])
            report = json.loads(out)
            seconds, cpu, rss = report["seconds"], report["cpu"], max(rss, report["rss_kib"])
        if dest.stat().st_size != case.size:
            raise SystemExit(f"bench: {case.client} wrote {dest.stat().st_size} bytes")
        case.seconds.append(seconds)
        case.cpu.append(cpu)
        case.rss_kib.append(rss)
    dest.unlink()
    return case


JSON_PROBE = """
import json, statistics, sys, time
base_url, which, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
marks = []
def hook(response):
    marks.append(time.perf_counter())
if which == "modelgates":
    from modelgates import ModelGates
    client = ModelGates(api_key="sk-bench", base_url=base_url)
    client._json_http.event_hooks["response"].insert(0, hook)
    call = lambda: client.videos.get("job-bench")
elif which == "httpx":
    import httpx
    http = httpx.Client(base_url=base_url, headers={"Authorization": "Bearer sk-bench"},
                        event_hooks={"response": [hook]})
    call = lambda: http.get("/videos/job-bench").json()
else:
    from modelgates_api import AuthenticatedClient
    from modelgates_api.api.videos import get_video
    raw = AuthenticatedClient(base_url=base_url, token="sk-bench")
    raw.get_httpx_client().event_hooks["response"].append(hook)
    call = lambda: get_video.sync("job-bench", client=raw)
for _ in range(20):
    call()
ttfb, total = [], []
for _ in range(n):
    marks.clear()
    t0 = time.perf_counter(); call(); t1 = time.perf_counter()
    ttfb.append(marks[0] - t0); total.append(t1 - t0)
print(json.dumps({"ttfb": statistics.median(ttfb), "total": statistics.median(total)}))
"""


def json_request(base_url: str, n: int) -> dict[str, tuple[float, float]]:
    results = {}
    for which in ("httpx", "modelgates", "generated"):
        out = subprocess.run(
            [sys.executable, "-c", JSON_PROBE, base_url, which, str(n)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        report = json.loads(out)
        results[which] = (report["ttfb"], report["total"])
    curl = subprocess.run(
        ["curl", "-s", "-H", AUTH, "-o", "/dev/null", "-w", "%{time_starttransfer} %{time_total}",
         f"{base_url}/videos/{JOB}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    results["curl (new process each time)"] = (float(curl[0]), float(curl[1]))
    return results


_IMPORT_PROBES = {
    "import httpx": "import httpx",
    "import modelgates": "import modelgates",
    "modelgates --help": (
        "import contextlib, io\nfrom modelgates._cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])"
    ),
}


def import_times(runs: int = 7) -> dict[str, float]:
    """Median seconds of each probe in a fresh interpreter (its start-up excluded)."""
    out = {}
    for name, code in _IMPORT_PROBES.items():
        script = f"import time\nt = time.perf_counter()\n{code}\nprint(time.perf_counter() - t)"
        samples = [
            float(
                subprocess.run(
                    [sys.executable, "-c", script], capture_output=True, text=True, check=True
                ).stdout.splitlines()[-1]
            )
            for _ in range(runs)
        ]
        out[name] = statistics.median(samples)
    return out


DOWNLOAD_ALL = """
import json, sys, time
from modelgates import ModelGates
base_url, directory = sys.argv[1:3]
with ModelGates(api_key="sk-bench", base_url=base_url) as client:
    t0 = time.perf_counter()
    results = client.videos.download_all("job-bench", directory, overwrite=True, max_concurrency=8,
                                         checksum=False)
    print(json.dumps({"seconds": time.perf_counter() - t0, "bytes": sum(r.bytes_written for r in results)}))
"""


def download_all_vs_curls(base_url: str, directory: Path, runs: int) -> tuple[float, float]:
    """MiB/s of download_all (8 outputs, 8 at a time) and of 8 parallel curls."""
    facade, curls = [], []
    for _ in range(runs):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        report = json.loads(
            subprocess.run(
                [sys.executable, "-c", DOWNLOAD_ALL, base_url, str(directory)],
                capture_output=True, text=True, check=True,
            ).stdout
        )  # fmt: skip
        facade.append(report["bytes"] / MiB / report["seconds"])
        total = report["bytes"]
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen(["curl", "-s", "-H", AUTH, "-o", str(directory / f"c{i}"),
                              f"{base_url}/videos/{JOB}/content?index={i}"])
            for i in range(OUTPUTS)
        ]  # fmt: skip
        for p in procs:
            p.wait()
        curls.append(total / MiB / (time.perf_counter() - t0))
    shutil.rmtree(directory, ignore_errors=True)
    return statistics.median(facade), statistics.median(curls)


# --- the report ----------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    def first_line(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            return "not installed"
        return (done.stdout or done.stderr).strip().splitlines()[0]

    out = {name: version(name) for name in ("httpx", "httpcore", "h11", "urllib3")}
    out["python"] = platform.python_version()
    out["curl"] = first_line(["curl", "--version"])
    out["wget"] = first_line(["wget", "--version"])
    out["nginx"] = first_line([shutil.which("nginx") or "/usr/sbin/nginx", "-v"])
    return out


def _machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def _label(size: int) -> str:
    return f"{size // GiB} GiB" if size >= GiB else f"{size // MiB} MiB"


def write_report(
    cases: list[Case], extra: dict[str, object], out: Path, chart: Path, quick: bool
) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Made by `make bench` (`tools/bench.py`); `make bench-quick` is the one-minute version"
        " that the test suite runs. Numbers are from one run on the machine below; rerun to"
        " compare.",
        "",
        f"- Machine: {_machine()}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in _versions().items()),
        f"- {'Quick run' if quick else 'Full run'}: each figure is the median of"
        f" {len(cases[0].seconds)} runs (min and max beside it), each client in its own process.",
        "- Server: nginx (`sendfile on`) on loopback serving from tmpfs; the emulator rows use the"
        " bundled Python emulator instead. Destination: tmpfs (`/dev/shm`) or disk."
        + (
            ""
            if extra["tmpfs"]
            else " **This machine had no roomy /dev/shm: 'tmpfs' rows used disk.**"
        ),
        "- CPU s/GiB: user + system seconds of the client per GiB; peak RSS of the client process.",
        "",
        "![throughput](benchmarks.png)",
        "",
        "## Downloads",
        "",
        "| server | size | dest | client | MiB/s (median) | min–max | × curl | CPU s/GiB | × curl CPU | peak RSS MiB |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    curl_of = {(c.server, c.size, c.dest): c for c in cases if c.client == "curl"}
    for c in cases:
        ref = curl_of.get((c.server, c.size, c.dest))
        ratio = f"{c.median / ref.median:.2f}" if ref else "–"
        cpu_ratio = f"{c.cpu_per_gib / ref.cpu_per_gib:.2f}" if ref and ref.cpu_per_gib else "–"
        lines.append(
            f"| {c.server} | {_label(c.size)} | {c.dest} | {c.client} | {c.median:.0f} |"
            f" {min(c.throughput):.0f}–{max(c.throughput):.0f} | {ratio} | {c.cpu_per_gib:.2f} |"
            f" {cpu_ratio} | {max(c.rss_kib) / 1024:.0f} |"
        )
    lines += ["", "## Small JSON request (poll, keep-alive, median)", "",
              "| client | time to first byte ms | total ms |", "|---|---:|---:|"]  # fmt: skip
    for name, (ttfb, total) in extra["json"].items():  # type: ignore[attr-defined]
        lines.append(f"| {name} | {ttfb * 1000:.3f} | {total * 1000:.3f} |")
    lines += ["", "Import (median of 7, each in a fresh interpreter, its start-up excluded): "
              + ", ".join(f"`{k}` {v * 1000:.0f} ms" for k, v in extra["import"].items())  # type: ignore[attr-defined]
              + ".", ""]  # fmt: skip
    if "download_all" in extra:
        facade, curls = extra["download_all"]  # type: ignore[misc]
        lines += [
            f"`download_all` of {OUTPUTS} outputs: {facade:.0f} MiB/s; {OUTPUTS} parallel curls:"
            f" {curls:.0f} MiB/s ({facade / curls:.2f}×).",
            "",
        ]
    lines += ["## Goals", "", "Each a ratio of two figures of this run (medians). `CPU-s/s` is how busy a client was:"
              " 1.0 is one core all along; well under it on a loaded machine means it waited for a CPU.",
              "", *extra["goals"], "", "## Reproduce", "",  # type: ignore[list-item]
              "```sh", "make bench        # the full run (installs nginx when missing; needs root for that)",
              "make bench-quick  # under a minute", "```", ""]  # fmt: skip
    out.write_text("\n".join(lines), encoding="utf-8")
    _chart(cases, chart)


def _chart(cases: list[Case], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nginx = [c for c in cases if c.server == "nginx"]
    groups = sorted({(c.size, c.dest) for c in nginx}, key=lambda g: (g[0], g[1]))
    clients = list(dict.fromkeys(c.client for c in nginx))
    fig, ax = plt.subplots(figsize=(11, 0.6 + 0.45 * len(clients) * len(groups)))
    labels, values, colors = [], [], []
    palette = plt.get_cmap("tab10")
    for size, dest in groups:
        for c in (c for c in nginx if (c.size, c.dest) == (size, dest)):
            labels.append(f"{_label(size)} → {dest}: {c.client}")
            values.append(c.median)
            colors.append(palette(clients.index(c.client) % 10))
    ax.barh(range(len(values)), values, color=colors)
    ax.set_yticks(range(len(values)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("MiB/s (median), loopback, nginx serving from tmpfs")
    ax.set_title("modelgates download throughput against curl, wget and plain Python clients")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _spent(c: Case) -> str:
    """How busy a client was: CPU seconds per wall second (1.0 = one core all along)."""
    busy = statistics.median(cpu / sec for cpu, sec in zip(c.cpu, c.seconds, strict=True))
    return f"{c.client} {c.median:.0f} MiB/s ({min(c.throughput):.0f}–{max(c.throughput):.0f}), {busy:.2f} CPU-s/s"


def goals(cases: list[Case], extra: dict[str, object]) -> list[str]:
    """Issue #12's goals, each a ratio of two figures of this same run: met or missed, and
    for a miss what was measured beside it (how busy each side was, the machine's load)."""

    def find(client: str, size: int, dest: str) -> Case | None:
        return next(
            (c for c in cases if (c.server, c.client, c.size, c.dest) == ("nginx", client, size, dest)),
            None,
        )  # fmt: skip

    load = "load average {:.1f} at the start, {:.1f} at the end".format(*extra["load"])  # type: ignore[str-format]
    rows = [
        "| figure | measured | goal | | measured beside it (for a miss) |",
        "|---|---:|---:|---|---|",
    ]

    def row(figure: str, value: float, goal: str, met: bool, why: str) -> None:
        rows.append(f"| {figure} | {value:.2f} | {goal} | {'met' if met else '**missed**'} |"
                    f" {'' if met else why + '; ' + load} |")  # fmt: skip

    sizes = {c.size for c in cases if c.server == "nginx"}
    big = GiB if GiB in sizes else max(sizes)  # the goals are stated at 1 GiB
    at = _label(big)
    curl = find("curl", big, "tmpfs")
    plain = find("modelgates (sync), checksum=False", big, "tmpfs")
    hashed = find("modelgates (sync)", big, "tmpfs")
    hashlib_alone = find("hashlib sha256 alone (in memory)", big, "tmpfs")
    if curl and plain:
        ratio = plain.median / curl.median
        row(f"{at} to tmpfs, checksum=False, x curl", ratio, ">= 1.0", ratio >= 1.0,
            f"{_spent(plain)}; {_spent(curl)}")  # fmt: skip
        cpu = plain.cpu_per_gib / curl.cpu_per_gib
        row("CPU s per GiB, checksum=False, x curl", cpu, "<= 1.2", cpu <= 1.2,
            f"{plain.cpu_per_gib:.2f} vs {curl.cpu_per_gib:.2f} CPU-s/GiB")  # fmt: skip
    if curl and hashed and hashlib_alone:
        bound = min(curl.median, hashlib_alone.median)
        ratio = hashed.median / bound
        row(f"{at} to tmpfs, checksum=True, x min(curl, hashlib alone)", ratio, ">= 0.9",
            ratio >= 0.9, f"{_spent(hashed)}; bound {bound:.0f} MiB/s ({_spent(hashlib_alone)})")  # fmt: skip
    disk, durable = find("modelgates (sync)", big, "disk"), find("curl + fsync", big, "disk")
    if disk and durable:
        ratio = disk.median / durable.median
        row(f"{at} to disk, checksum=True, x curl + fsync", ratio, ">= 0.9", ratio >= 0.9,
            f"{_spent(disk)}; {_spent(durable)}")  # fmt: skip
    for suffix in ("", ", checksum=False"):
        sync, asynchronous = (
            find(f"modelgates (sync){suffix}", big, "tmpfs"),
            find(f"modelgates (async){suffix}", big, "tmpfs"),
        )
        if sync and asynchronous:
            ratio = asynchronous.median / sync.median
            row(f"async x sync, {at} to tmpfs{suffix or ', checksum=True'}", ratio, ">= 0.9",
                ratio >= 0.9, f"{_spent(asynchronous)}; {_spent(sync)}")  # fmt: skip
    if "download_all" in extra:
        facade_all, curls = extra["download_all"]  # type: ignore[misc]
        ratio = facade_all / curls
        row(f"download_all of {OUTPUTS} x {OUTPUTS} parallel curls (checksum=False)", ratio, ">= 0.8",
            ratio >= 0.8, f"{facade_all:.0f} vs {curls:.0f} MiB/s on {os.cpu_count()} cores")  # fmt: skip
    ours = [c for c in cases if c.server == "nginx" and c.client.startswith("modelgates")]
    if ours:
        top = max(sizes)
        peak = max(max(c.rss_kib) for c in ours if c.size == top) / 1024
        low = max(max(c.rss_kib) for c in ours if c.size == min(sizes)) / 1024
        flat = peak - low <= 8
        rows.append(f"| peak RSS at {_label(top)}, MiB (at {_label(min(sizes))}: {low:.0f}) | {peak:.0f} |"
                    f" < 64, flat | {'met' if peak < 64 and flat else '**missed**'} | |")  # fmt: skip
    imports = extra["import"]  # type: ignore[assignment]
    for probe in ("import modelgates", "modelgates --help"):
        extra_ms = (imports[probe] - imports["import httpx"]) * 1000  # type: ignore[index]
        rows.append(f"| `{probe}` - `import httpx`, ms | {extra_ms:+.0f} | <= +20 |"
                    f" {'met' if extra_ms <= 20 else '**missed**'} |"
                    f" {'' if extra_ms <= 20 else f'{probe} {imports[probe] * 1000:.0f} ms'} |")  # type: ignore[index]  # fmt: skip
    json_times = extra["json"]  # type: ignore[assignment]
    over = json_times["modelgates"][1] / json_times["httpx"][1] - 1  # type: ignore[index]
    rows.append(f"| poll overhead over plain httpx | {over * 100:+.0f}% | <= +10% |"
                f" {'met' if over <= 0.10 else '**missed**'} | |")  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "benchmarks.png")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    nginx = _ensure_nginx()
    if nginx is None:
        print("bench: nginx is not installed and cannot be (run as root, or apt-get install nginx-light)",
              file=sys.stderr)  # fmt: skip
        return NO_NGINX
    quick = args.quick
    sizes = [64 * MiB] if quick else [64 * MiB, GiB]
    disk_root = Path(tempfile.mkdtemp(prefix="modelgates-bench-", dir=str(ROOT)))
    # Bodies are served from tmpfs; a machine without a roomy /dev/shm (a small container)
    # serves them from disk instead, and the report says so.
    shm = Path("/dev/shm")
    need = 2 * GiB if quick else 14 * GiB
    if not (shm.is_dir() and shutil.disk_usage(shm).free > need):
        print(
            f"bench: /dev/shm is missing or has under {_label(need)} free: using disk",
            file=sys.stderr,
        )
        shm = disk_root
    shm_root = Path(tempfile.mkdtemp(prefix="modelgates-bench-", dir=str(shm)))
    extra: dict[str, object] = {"tmpfs": shm != disk_root}
    if (
        not quick
        and shutil.disk_usage(disk_root).free > 12 * GiB
        and shutil.disk_usage(shm_root).free > 12 * GiB
    ):
        sizes.append(4 * GiB)
    dests = {"tmpfs": shm_root / "dest", "disk": disk_root / "dest"}
    if quick:
        dests.pop("disk")
    for d in dests.values():
        d.mkdir()
    clients = ["curl", *(QUICK_CLIENTS if quick else ["curl + fsync", "wget", *PYTHON_CLIENTS])]
    extra["load"] = [os.getloadavg()[0]]
    cases: list[Case] = []
    try:
        for size in sizes:
            server = Nginx(nginx, shm_root / f"www-{size}", size, 16 * MiB if quick else 128 * MiB)
            try:
                url = f"{server.base_url}/videos/{JOB}/content?index=0"
                for dest_name, dest_dir in dests.items():
                    group = [
                        Case("nginx", size, dest_name, client)
                        for client in clients
                        if not (size > GiB and (dest_name != "tmpfs" or client not in HUGE_CLIENTS))
                        and not (dest_name == "tmpfs" and client in DISK_ONLY)
                        and not (dest_name == "disk" and client in TMPFS_ONLY)
                    ]  # 4 GiB: the memory check, not every client 5 times
                    if not group:
                        continue
                    # Runs interleave (one of each client in turn), so that every ratio
                    # compares figures taken under the same load.
                    for run in range(args.runs):
                        print(
                            f"bench: {_label(size)} -> {dest_name}: run {run + 1} of {args.runs}",
                            file=sys.stderr,
                        )
                        for case in group:
                            measure(case, url, server.base_url, dest_dir / "video.mp4", 1)
                    cases.extend(group)
                if size == sizes[0]:
                    extra["json"] = json_request(server.base_url, 200 if quick else 1000)
                    if not quick:
                        extra["download_all"] = download_all_vs_curls(
                            server.base_url, dests["tmpfs"] / "all", args.runs
                        )
            finally:
                server.stop()
                shutil.rmtree(shm_root / f"www-{size}", ignore_errors=True)
        # The emulator as a second server, for comparison.
        sys.path.insert(0, str(ROOT / "facade"))
        from modelgates.emulator import Emulator, Output

        with Emulator(api_keys=[KEY]) as emu:
            emu.add_job(JOB, outputs=[Output.generated(64 * MiB, seed=1)])
            url = f"{emu.base_url}/videos/{JOB}/content?index=0"
            for client in ("curl", "modelgates (sync)"):
                cases.append(measure(Case("emulator", 64 * MiB, "tmpfs", client), url, emu.base_url,
                                     dests["tmpfs"] / "video.mp4", args.runs))  # fmt: skip
        extra["import"] = import_times()
        extra["load"].append(os.getloadavg()[0])  # type: ignore[attr-defined]
        extra["goals"] = goals(cases, extra)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_report(cases, extra, args.out, args.chart, quick)
    finally:
        shutil.rmtree(disk_root, ignore_errors=True)
        shutil.rmtree(shm_root, ignore_errors=True)
    print(args.out.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
