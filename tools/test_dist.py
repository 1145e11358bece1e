"""``make test-matrix`` and ``make test-sdist``: the suite against what users install.

``make test`` runs the tests on the editable checkout. These build the distributions the
way a release would (``python -m build``: the sdist, then the wheel from the sdist) and run
the suite where ``import modelgates`` is the installed copy:

- ``matrix``: the wheel on every Python 3.11+ that pyenv has (``~/.pyenv/versions``, or the
  interpreters named in ``$MATRIX_PYTHONS``), then on the oldest of them with every runtime
  dependency at its floor (``constraints-floors.txt``).
- ``sdist``: the sdist unpacked, installed from its own directory, and its own tests run
  there, as a distribution packager would.

Both run the tests not marked slow (the slow ones run once, in ``make pytest``), print one
line per run with its time, and exit non-zero if any run failed. Dev tools keep their
``constraints.txt`` pins everywhere; only the runtime dependencies change at the floors.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints.txt"
FLOORS = ROOT / "constraints-floors.txt"
PYTEST = ["-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "not slow"]


def _pinned_names(path: Path) -> set[str]:
    return {
        _normalize(line.split("==")[0])
        for line in path.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def floor_constraints(directory: Path) -> Path:
    """constraints.txt with the runtime dependencies replaced by their floors."""
    floors = _pinned_names(FLOORS)
    kept = [
        line
        for line in CONSTRAINTS.read_text().splitlines()
        if "==" not in line or _normalize(line.split("==")[0]) not in floors
    ]
    merged = directory / "constraints-at-floors.txt"
    merged.write_text("\n".join([*kept, *FLOORS.read_text().splitlines()]) + "\n")
    return merged


def pythons() -> list[Path]:
    """Every Python 3.11+ to test on, oldest first."""
    named = os.environ.get("MATRIX_PYTHONS")
    if named:
        return [Path(p) for p in named.split()]
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found: list[tuple[tuple[int, ...], Path]] = []
    for version in root.glob("*") if root.is_dir() else []:
        match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version.name)
        exe = version / "bin" / "python3"
        if match and exe.exists() and (int(match[1]), int(match[2])) >= (3, 11):
            found.append((tuple(map(int, match.groups())), exe))
    if not found:
        print(f"test-matrix: no Python 3.11+ under {root}; testing {sys.executable} only")
        return [Path(sys.executable)]
    return [exe for _, exe in sorted(found)]


def build(out: Path, *which: str) -> dict[str, Path]:
    """Build the sdist and/or wheel into ``out`` (no flags: the sdist, then the wheel from
    it, which also proves the sdist builds)."""
    run = subprocess.run(
        [sys.executable, "-m", "build", *which, "--outdir", str(out), str(ROOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if run.returncode != 0:
        raise SystemExit(f"python -m build failed:\n{run.stdout}{run.stderr}")
    built = {p.suffix if p.suffix == ".whl" else ".tar.gz": p for p in out.iterdir()}
    return built


def check_wheel(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "no LICENSE in wheel"
    assert not any(n.startswith("tests/") for n in names), "tests/ in the wheel"
    assert "modelgates/emulator/demo.mp4" in names, "the demo video is missing from the wheel"


def check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("LICENSE", "docs/extending.md", "tests/conftest.py", "constraints.txt"):
        assert needed in names, f"{needed} is missing from the sdist"


def venv_with(python: Path, where: Path, requirement: str, constraints: Path) -> Path:
    """A fresh venv of ``python`` with ``requirement`` (and the dev extra) installed."""
    subprocess.run([str(python), "-m", "venv", str(where)], check=True)
    exe = where / "bin" / "python"
    env = {**os.environ, "PIP_CONSTRAINT": str(constraints), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    install = subprocess.run(
        [str(exe), "-m", "pip", "install", "--quiet", requirement],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if install.returncode != 0:
        raise SystemExit(f"installing {requirement} with {python} failed:\n{install.stderr}")
    return exe


_VERSIONS = (
    "import importlib.metadata as m, platform; print('Python', platform.python_version(), "
    "*(f'{d}=={m.version(d)}' for d in ('httpx', 'httpcore', 'h11', 'attrs', 'anyio')))"
)


def run_suite(label: str, exe: Path, cwd: Path) -> bool:
    """The suite with ``exe``, from ``cwd``, importing the installed copy."""
    installed = subprocess.run(
        [str(exe), "-c", "import modelgates, sys; print(modelgates.__file__)"],
        cwd=cwd, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    versions = subprocess.run([str(exe), "-c", _VERSIONS], capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
    if not installed.startswith(str(exe.parent.parent)):
        print(f"{label}: FAILED: modelgates imported from {installed}, not the installed copy")
        return False
    start = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATES_")}
    if os.environ.get("MODELGATES_REQUIRE_FFPROBE"):
        env["MODELGATES_REQUIRE_FFPROBE"] = "1"
    run = subprocess.run(
        [str(exe), *PYTEST], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    summary = (run.stdout.strip().splitlines() or ["(no output)"])[-1]
    seconds = time.monotonic() - start
    status = "ok" if run.returncode == 0 else "FAILED"
    print(f"{label}: {status} ({versions}) {summary} [{seconds:.0f} s]", flush=True)
    if run.returncode != 0:
        print(run.stdout[-6000:] + run.stderr[-2000:])
    return run.returncode == 0


def matrix(work: Path) -> bool:
    dist = build(work / "dist")
    check_wheel(dist[".whl"])
    wheel = f"modelgates[dev] @ {dist['.whl'].as_uri()}"
    found = pythons()
    runs = [(f"wheel on {exe.parent.parent.name}", exe, CONSTRAINTS) for exe in found]
    runs.append((f"wheel on {found[0].parent.parent.name} at the floors", found[0],
                 floor_constraints(work)))  # fmt: skip
    ok = True
    for i, (label, python, constraints) in enumerate(runs):
        exe = venv_with(python, work / f"venv{i}", wheel, constraints)
        ok = run_suite(label, exe, ROOT) and ok
    return ok


def sdist(work: Path) -> bool:
    tarball = build(work / "dist", "--sdist")[".tar.gz"]
    check_sdist(tarball)
    with tarfile.open(tarball) as tar:
        tar.extractall(work / "unpacked", filter="data")
    (source,) = (work / "unpacked").iterdir()
    exe = venv_with(Path(sys.executable), work / "venv", f"{source}[dev]", CONSTRAINTS)
    return run_suite(f"sdist {tarball.name}", exe, source)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["matrix", "sdist"])
    args = parser.parse_args()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"modelgates-{args.what}-") as tmp:
        ok = matrix(Path(tmp)) if args.what == "matrix" else sdist(Path(tmp))
    print(f"test-{args.what}: {'passed' if ok else 'FAILED'} in {time.monotonic() - start:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
