"""The suite's document check (tests/conftest.py, tests/_document_check.py) fails the test
that caused a violation, and only that one: proved by running pytest on sample tests in a
subprocess, with this suite's conftest as a plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests._spec import ROOT

SAMPLE = """
import httpx
import pytest

from modelgates.emulator import DEFAULT_API_KEY, Faults, Output

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}


def test_on_document(client, tmp_path):
    assert client.videos.download("job-demo", tmp_path).content_type == "application/octet-stream"
    client.videos.models()


def test_served_as_video_mp4(client, emulator, tmp_path):
    job = emulator.add_job(outputs=[Output.demo("video/mp4")])
    assert client.videos.download(job.id, tmp_path).content_type == "video/mp4"


@pytest.mark.off_document("serves video/mp4 on purpose")
def test_marked(client, emulator, tmp_path):
    job = emulator.add_job(outputs=[Output.demo("video/mp4")])
    client.videos.download(job.id, tmp_path)


def test_request_without_prompt(emulator):
    answer = httpx.post(f"{emulator.base_url}/videos", json={"model": "x"}, headers=AUTH)
    assert answer.status_code == 400


def test_injected_faults_are_the_tests_own(client, emulator, tmp_path):
    job = emulator.add_job(faults=Faults(statuses=[503, 429]))
    client.videos.download(job.id, tmp_path)
"""


@pytest.mark.slow
def test_the_hook_fails_exactly_the_tests_that_leave_the_document(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(SAMPLE, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), "-W", "ignore",
         str(tmp_path / "test_sample.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    failed = sorted(line.split("::")[1].split()[0] for line in out.splitlines() if "FAILED" in line)
    assert failed == ["test_request_without_prompt", "test_served_as_video_mp4"], out
    assert "3 passed" in out
    assert "'prompt' is a required property" in out
    assert "video/mp4" in out and "mark the test off_document(reason)" in out
    assert "document check: " in out
