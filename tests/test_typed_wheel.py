"""A user's script passes ``mypy --strict`` against the installed wheel, and wrong calls
fail it on exactly their lines.

The wheel is built as a user gets it, installed into a fresh virtual environment (its
own site-packages, not this checkout), and mypy is pointed at that interpreter. So what is
proven is what ships: ``py.typed``, the typed fields, the builders and the options.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests._spec import ROOT

pytestmark = pytest.mark.slow

SCRIPTS = Path(__file__).resolve().parent / "typed"


def _run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=300,
        check=False, env={**os.environ, "PIP_CONSTRAINT": str(ROOT / "constraints.txt")},
    )  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv's interpreter with the built wheel (and its dependencies) installed."""
    work = tmp_path_factory.mktemp("wheel")
    pip = (sys.executable, "-m", "pip")
    built = _run(*pip, "wheel", "-q", "--no-deps", str(ROOT), "-w", work / "dist", cwd=work)
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("modelgates-*.whl")
    venv = work / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work).check_returncode()
    python = venv / "bin" / "python"
    done = _run(*pip, "--python", python, "install", "-q", wheel, cwd=work)
    assert done.returncode == 0, done.stderr
    where = _run(python, "-c", "import modelgates; print(modelgates.__file__)", cwd=work)
    assert where.stdout.startswith(str(venv)), where
    return python


def _mypy(python: Path, script: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    target = tmp_path / script.name  # away from this checkout's facade/ and config
    target.write_text(script.read_text())
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n")
    return _run(
        sys.executable, "-m", "mypy", "--config-file", config, "--python-executable", python,
        "--no-incremental", "--cache-dir", os.devnull, target.name, cwd=tmp_path,
    )  # fmt: skip


def test_a_users_script_passes_mypy_strict_against_the_wheel(
    installed: Path, tmp_path: Path
) -> None:
    run = _mypy(installed, SCRIPTS / "user_script.py", tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Success: no issues found in 1 source file" in run.stdout


def test_wrong_calls_fail_on_exactly_their_lines(installed: Path, tmp_path: Path) -> None:
    script = SCRIPTS / "wrong_calls.py"
    marked = {
        number
        for number, line in enumerate(script.read_text().splitlines(), start=1)
        if line.endswith("# wrong")
    }
    run = _mypy(installed, script, tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    failing = {int(n) for n in re.findall(rf"^{script.name}:(\d+): error:", run.stdout, re.M)}
    assert failing == marked, run.stdout
