"""The README's examples run: the first page must tell the truth."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from modelgates.emulator import Emulator, demo_video
from tests._spec import ROOT
from tests.conftest import KEY
from tests.webhook_signer import SECRET, event_body, signed_headers

README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_the_use_example_runs_against_the_emulator(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (example, *_) = EXAMPLES  # unchanged: the emulator lists google/veo-3.1 too
    monkeypatch.setenv("MODELGATES_API_KEY", KEY)
    monkeypatch.setenv("MODELGATES_BASE_URL", emulator.base_url)
    monkeypatch.chdir(tmp_path)
    emulator.polls_to_complete = 0  # the example waits with the default 10 s poll interval
    exec(compile(example, "README.md", "exec"), {})  # noqa: S102 - our own README
    (video,) = (tmp_path / "videos").iterdir()
    assert video.read_bytes() == demo_video()
    assert str(video.relative_to(tmp_path)) in capsys.readouterr().out


def test_the_emulator_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (example,) = [e for e in EXAMPLES if "from modelgates.emulator import" in e]
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})  # noqa: S102 - our own README
    assert (tmp_path / "big.mp4").stat().st_size == 100 * 2**20


def test_the_typed_request_example_runs(
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    (example,) = [e for e in EXAMPLES if "first_frame(" in e]
    monkeypatch.setenv("MODELGATES_API_KEY", KEY)
    monkeypatch.setenv("MODELGATES_BASE_URL", emulator.base_url)
    emulator.polls_to_complete = 0
    example = example.replace("google/veo-3.1", "emulator/video-1")
    exec(compile(example, "README.md", "exec"), {})  # noqa: S102 - our own README
    body = json.loads(emulator.last_body)
    assert body["fps"] == 24
    assert body["frame_images"][0]["frame_type"] == "first_frame"
    (create, _poll) = emulator.requests_to("api")
    assert create.headers["x-request-source"] == "nightly"
    assert capsys.readouterr().out == "completed\n"


def test_the_webhook_example_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (example,) = [e for e in EXAMPLES if "webhooks.unwrap" in e]
    namespace: dict[str, Any] = {}
    exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    monkeypatch.setenv("MODELGATES_WEBHOOK_SECRET", SECRET)
    body = event_body("job-readme")
    assert namespace["on_webhook"](body, signed_headers(body, job_id="job-readme")) == 200
    assert "done: job-readme job-readme-completed" in capsys.readouterr().out
    assert namespace["on_webhook"](body + b" ", signed_headers(body)) == 400
    assert "refused: no_matching_signature" in capsys.readouterr().out


def test_the_batch_example_runs(
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (example,) = [e for e in EXAMPLES if "videos.batch(" in e]
    example = example.replace("google/veo-3.1", "emulator/video-1")
    example = example.replace("poll_interval=30", "poll_interval=0.05")
    assert "poll_interval=0.05" in example
    monkeypatch.setenv("MODELGATES_API_KEY", KEY)
    monkeypatch.setenv("MODELGATES_BASE_URL", emulator.base_url)
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})  # noqa: S102 - our own README
    assert (tmp_path / "videos" / "fox.mp4").read_bytes() == demo_video()
    assert (tmp_path / "videos" / "owl.mp4").read_bytes() == demo_video()
    assert capsys.readouterr().out == "batch of 2: 2 completed\n"
