"""``modelgates webhooks listen|verify`` and ``modelgates emulator --webhook-secret``: real
processes, real deliveries; the secret never on stderr."""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from modelgates import ModelGates
from modelgates._cli import EXIT_CODES, main
from modelgates.emulator import DEFAULT_API_KEY, Emulator, WebhookReceiver
from tests.webhook_signer import SECRET, event_body, signed_headers

MODEL = "emulator/video-1"


def _request_file(body: bytes, headers: dict[str, str]) -> bytes:
    lines = ["POST /hooks/modelgates HTTP/1.1", "Host: example.com"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _verify(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: bytes,
    *flags: str,
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(request)))
    code = main(["webhooks", "verify", *flags])
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return code, out, err


def test_verify_a_saved_delivery(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = event_body("job-saved")
    request = _request_file(body, signed_headers(body, job_id="job-saved"))
    code, out, err = _verify(monkeypatch, capsys, request, "--secret", SECRET)
    assert (code, err) == (0, "")
    assert out.startswith("verified: video.generation.completed  job job-saved  status completed")
    assert "idempotency key  job-saved-completed" in out
    code, out, _ = _verify(
        monkeypatch, capsys, request, "--secret", "x", "--secret", SECRET, "--json"
    )
    assert code == 0 and json.loads(out)["idempotency_key"] == "job-saved-completed"
    monkeypatch.setenv("MODELGATES_WEBHOOK_SECRET", SECRET)
    assert _verify(monkeypatch, capsys, request.replace(b"\r\n", b"\n"))[0] == 0


def test_verify_failures_exit_16_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (16, "a webhook delivery failed verification") in [(c, m) for _, c, m in EXIT_CODES]
    body = event_body()
    old = signed_headers(body, timestamp=int(time.time()) - 3600)
    cases = {
        "no_matching_signature": _request_file(body.replace(b"0.5", b"0.1"), signed_headers(body)),
        "timestamp_too_old": _request_file(body, old),
        "missing_header": _request_file(body, {"Content-Type": "application/json"}),
    }
    for reason, request in cases.items():
        code, out, err = _verify(monkeypatch, capsys, request, "--secret", SECRET)
        assert code == 16 and out == ""
        assert err.count("\n") == 1 and err.startswith(
            f"modelgates: error: webhook verification failed ({reason}): "
        )
    code, out, _ = _verify(
        monkeypatch, capsys, cases["timestamp_too_old"], "--secret", SECRET, "--ignore-age"
    )
    assert code == 0
    code, out, _ = _verify(
        monkeypatch, capsys, cases["missing_header"], "--secret", SECRET, "--json"
    )
    assert code == 16 and json.loads(out) == {"verified": False, "reason": "missing_header"}


def test_verify_bad_input_names_the_problem(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MODELGATES_WEBHOOK_SECRET", raising=False)
    body = event_body()
    good = _request_file(body, signed_headers(body))
    code, _, err = _verify(monkeypatch, capsys, good)
    assert code == 2 and "--secret" in err and "MODELGATES_WEBHOOK_SECRET" in err
    for request, words in [
        (b"", "no blank line"),
        (b"garbage without headers", "no blank line"),
        (b"POST / HTTP/1.1\r\nnot a header\r\n\r\n{}", "line 2"),
        (good.replace(f"Content-Length: {len(body)}".encode(), b"Content-Length: 99999"), "99999"),
    ]:
        code, _, err = _verify(monkeypatch, capsys, request, "--secret", SECRET)
        assert code == 2 and words in err, err


#: One reader thread per pipe (keyed by the pipe itself: ids are reused once one is freed).
_readers: dict[IO[bytes], queue.Queue[bytes]] = {}


def _lines(stream: IO[bytes] | None, count: int, timeout: float = 20.0) -> list[str]:
    """``count`` lines from a child's pipe, failing (not hanging) after ``timeout``."""
    assert stream is not None
    if stream not in _readers:
        lines_in: queue.Queue[bytes] = queue.Queue()
        _readers[stream] = lines_in

        def pump() -> None:
            for line in iter(stream.readline, b""):
                lines_in.put(line)

        threading.Thread(target=pump, daemon=True).start()
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while len(lines) < count:
        try:
            line = _readers[stream].get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"only {lines} after {timeout} s") from None
        lines.append(line.decode())
    return lines


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def _start(spawn: list[subprocess.Popen[bytes]], *argv: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "modelgates", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    spawn.append(process)
    return process


def _stop(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    """SIGTERM; the exit code and what stderr said that ``_lines`` did not read."""
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)
    time.sleep(0.1)
    rest: list[str] = []
    reader = _readers.get(process.stderr) if process.stderr else None
    while reader is not None and not reader.empty():
        rest.append(reader.get().decode())
    if reader is None and process.stderr is not None:
        rest.append(process.stderr.read().decode())
    return process.returncode, "".join(rest)


def test_listen_verifies_prints_and_forwards_real_deliveries(
    spawn: list[subprocess.Popen[bytes]],
) -> None:
    with (
        Emulator(webhook_secret=SECRET) as emulator,
        WebhookReceiver(SECRET) as handler,
        ModelGates(api_key=DEFAULT_API_KEY, base_url=emulator.base_url) as client,
    ):
        listener = _start(
            spawn,
            *("webhooks", "listen", "--port", "0", "--json"),
            *("--secret", SECRET, "--forward", handler.url),
        )
        (banner,) = _lines(listener.stderr, 1)
        assert banner.startswith("modelgates: listening on http://127.0.0.1:")
        url = banner.split()[3].rstrip(",")
        emulator.webhook_faults.bad_signature = 1
        handler.statuses = [500]  # the user's handler fails once: the retry reaches it again
        job = client.videos.create(model=MODEL, prompt="p", callback_url=url)
        lines = [json.loads(line) for line in _lines(listener.stdout, 3)]
        deliveries = emulator.wait_for_webhooks()
        code, err = _stop(listener)
    assert lines[0] == {"verified": False, "reason": "no_matching_signature", "answer": 400}
    assert [line["answer"] for line in lines[1:]] == [500, 200]
    assert all(line["job_id"] == job.id and line["verified"] for line in lines[1:])
    assert lines[2]["type"] == "video.generation.completed"
    assert [d.status for d in deliveries] == [400, 500, 200]
    # The forwarded request is the original: it verifies at the user's handler too.
    (forwarded,) = handler.events
    assert forwarded.job.id == job.id
    assert [r.status for r in handler.requests] == [500, 200]
    assert code == 0 and SECRET not in err
    assert "forwarded to" in err


def test_listen_human_output(spawn: list[subprocess.Popen[bytes]]) -> None:
    with (
        Emulator(webhook_secret=SECRET) as emulator,
        ModelGates(api_key=DEFAULT_API_KEY, base_url=emulator.base_url) as client,
    ):
        listener = _start(spawn, "webhooks", "listen", "--port", "0", "--secret", SECRET)
        url = _lines(listener.stderr, 1)[0].split()[3]
        emulator.webhook_faults.stale = 1
        job = client.videos.create(model=MODEL, prompt="[fail] p", callback_url=url)
        out = _lines(listener.stdout, 3)
        rejected = _lines(listener.stderr, 1)
        code, err = _stop(listener)
    assert out[0] == f"video.generation.failed  job {job.id}  status failed\n"
    assert out[1] == f"  idempotency key  {job.id}-failed\n"
    assert "The provider rejected the prompt" in out[2]
    assert rejected[0].startswith("rejected (timestamp_too_old): the event was signed 6")
    assert code == 0 and SECRET not in err + "".join(rejected)


def test_listen_without_a_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MODELGATES_WEBHOOK_SECRET", raising=False)
    assert main(["webhooks", "listen", "--port", "0"]) == 2
    assert "--secret" in capsys.readouterr().err


def test_emulator_webhook_secret_flag(spawn: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "modelgates", "emulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--webhook-secret" in help_text and "DEFAULT_WEBHOOK_SECRET" in help_text
    emulator = _start(spawn, "emulator", "--port", "0", "--webhook-secret", SECRET)
    base_url = _lines(emulator.stdout, 1)[0].strip().removeprefix("base_url=")
    with (
        WebhookReceiver(SECRET) as receiver,
        ModelGates(api_key=DEFAULT_API_KEY, base_url=base_url) as client,
    ):
        job = client.videos.create(model=MODEL, prompt="p", callback_url=receiver.url)
        (event,) = receiver.wait_for(1)
        video = client.videos.download(event.job.id, tmp_path / "v.mp4")
    code, err = _stop(emulator)
    assert "signed with the --webhook-secret given" in err
    assert event.job.id == job.id and video.bytes_written > 0
    assert code == 0 and SECRET not in err


def test_verify_reads_what_the_emulator_sent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Emulator(webhook_secret=SECRET) as emulator, WebhookReceiver(SECRET) as receiver:
        job = emulator.add_job(callback_url=receiver.url)
        (delivery,) = emulator.wait_for_webhooks()
    code, out, _ = _verify(monkeypatch, capsys, delivery.as_http(), "--secret", SECRET, "--json")
    assert code == 0 and json.loads(out)["job_id"] == job.id
    code, _, err = _verify(monkeypatch, capsys, delivery.as_http(), "--secret", "whsec_other")
    assert code == 16 and "no_matching_signature" in err
