"""The emulator's webhook deliveries: real POSTs on loopback, checked with the independent
signer of tests/webhook_signer.py, and the faults receivers are tested against."""

from __future__ import annotations

import itertools
import json
import logging
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import attrs
import pytest

from modelgates import ModelGates
from modelgates.emulator import (
    DEFAULT_WEBHOOK_SECRET,
    Emulator,
    WebhookDelivery,
    WebhookReceiver,
)
from tests.conftest import KEY
from tests.webhook_signer import signature

MODEL = "emulator/video-1"


def _independently_signed(delivery: WebhookDelivery, secret: str) -> bool:
    fields = [item.partition("=") for item in delivery.headers["X-ModelGates-Signature"].split(",")]
    timestamps = [value for name, _, value in fields if name == "t"]
    signatures = [value for name, _, value in fields if name == "v1"]
    return len(timestamps) == 1 and signature(delivery.body, secret, int(timestamps[0])) in (
        signatures
    )


def test_a_job_with_callback_url_gets_one_signed_event_when_it_ends(
    emulator: Emulator, modelgates_webhook_receiver: WebhookReceiver, client: ModelGates
) -> None:
    receiver = modelgates_webhook_receiver
    job = client.videos.create(model=MODEL, prompt="a fox", callback_url=receiver.url)
    (event,) = receiver.wait_for(1)  # never polled: the job ends on its own
    (delivery,) = emulator.wait_for_webhooks()
    assert delivery.ok and delivery.attempt == 1 and delivery.fault is None
    assert _independently_signed(delivery, DEFAULT_WEBHOOK_SECRET)
    assert delivery.headers["X-ModelGates-Idempotency-Key"] == f"{job.id}-completed"
    (request,) = receiver.requests
    assert request.body == delivery.body and request.path == "/webhooks"
    body = json.loads(delivery.body)
    assert body["type"] == event.type == "video.generation.completed"
    assert set(body["data"]) >= {"id", "status", "generation_id", "unsigned_urls", "usage"}
    polled = client.videos.get(job.id)
    assert event.job == attrs.evolve(polled, polling_url=None)
    assert event.idempotency_key == f"{job.id}-completed"
    assert client.videos.download(event.job.id, "/dev/null", overwrite=True).bytes_written > 0


def test_a_failed_job_sends_a_failed_event(
    emulator: Emulator, modelgates_webhook_receiver: WebhookReceiver, client: ModelGates
) -> None:
    client.videos.create(
        model=MODEL, prompt="[fail] x", callback_url=modelgates_webhook_receiver.url
    )
    (event,) = modelgates_webhook_receiver.wait_for(1)
    assert event.type == "video.generation.failed"
    assert event.job.is_failed and event.job.error == "The provider rejected the prompt"


def test_jobs_without_callback_url_send_nothing_and_polls_still_end_jobs(
    emulator: Emulator, modelgates_webhook_receiver: WebhookReceiver, client: ModelGates
) -> None:
    client.videos.create(model=MODEL, prompt="no webhook")
    emulator.polls_to_complete = 1
    emulator.seconds_to_complete = 30.0
    job = client.videos.create(
        model=MODEL, prompt="p", callback_url=modelgates_webhook_receiver.url
    )
    client.videos.get(job.id)  # the one poll that ends it, long before 30 s
    (event,) = modelgates_webhook_receiver.wait_for(1)
    assert event.job.id == job.id
    assert len(emulator.wait_for_webhooks()) == 1


def test_a_bad_callback_url_is_a_400(client: ModelGates) -> None:
    from modelgates import BadRequestError

    with pytest.raises(BadRequestError, match="callback_url"):
        client.videos.create(model=MODEL, prompt="p", callback_url="not a url")


def test_own_secret_and_rotation() -> None:
    with (
        Emulator(webhook_secret=["whsec_new", "whsec_old"]) as emu,
        WebhookReceiver("whsec_old") as receiver,
    ):
        emu.add_job(callback_url=receiver.url)
        receiver.wait_for(1)
        (delivery,) = emu.wait_for_webhooks()
    assert delivery.headers["X-ModelGates-Signature"].count("v1=") == 2
    assert _independently_signed(delivery, "whsec_new")
    assert _independently_signed(delivery, "whsec_old")
    assert not _independently_signed(delivery, DEFAULT_WEBHOOK_SECRET)


def test_retries_with_backoff_until_the_receiver_answers(
    emulator: Emulator, modelgates_webhook_receiver: WebhookReceiver
) -> None:
    emulator.webhook_retry_delays = (0.05, 0.2, 0.4)
    modelgates_webhook_receiver.statuses = [500, 503]
    emulator.add_job(callback_url=modelgates_webhook_receiver.url)
    modelgates_webhook_receiver.wait_for(1)
    deliveries = emulator.wait_for_webhooks()
    assert [(d.attempt, d.status) for d in deliveries] == [(1, 500), (2, 503), (3, 200)]
    gaps = [b.sent_at - a.sent_at for a, b in itertools.pairwise(deliveries)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.2
    assert len({d.headers["X-ModelGates-Idempotency-Key"] for d in deliveries}) == 1


def test_an_unreachable_receiver_is_given_up_after_the_last_retry(emulator: Emulator) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    emulator.webhook_retry_delays = (0.01, 0.02, 0.03)
    emulator.add_job(callback_url=f"http://127.0.0.1:{port}/hook")
    deliveries = emulator.wait_for_webhooks()
    assert [d.attempt for d in deliveries] == [1, 2, 3, 4]
    assert all(d.status is None and d.error for d in deliveries)
    assert [d.gave_up for d in deliveries] == [False, False, False, True]
    time.sleep(0.2)
    assert len(emulator.webhook_deliveries) == 4


def test_duplicate_delivery(
    emulator: Emulator, modelgates_webhook_receiver: WebhookReceiver
) -> None:
    emulator.webhook_faults.duplicate = 1
    job = emulator.add_job(callback_url=modelgates_webhook_receiver.url)
    first, second = modelgates_webhook_receiver.wait_for(2)
    assert first == second and first.idempotency_key == f"{job.id}-completed"
    deliveries = emulator.wait_for_webhooks()
    assert [(d.ok, d.fault) for d in deliveries] == [(True, None), (True, "duplicate")]
    assert deliveries[0].body == deliveries[1].body
    emulator.add_job(callback_url=modelgates_webhook_receiver.url)  # the fault is used up
    assert len(emulator.wait_for_webhooks()) == 3


def test_out_of_order_delivery(
    emulator: Emulator, modelgates_webhook_receiver: WebhookReceiver
) -> None:
    emulator.webhook_faults.out_of_order = 1
    earlier = emulator.add_job(callback_url=modelgates_webhook_receiver.url)
    time.sleep(0.1)
    later = emulator.add_job(callback_url=modelgates_webhook_receiver.url)
    events = modelgates_webhook_receiver.wait_for(2)
    assert [e.job.id for e in events] == [later.id, earlier.id]


def test_an_out_of_order_event_with_no_follower_is_sent_after_the_hold(
    emulator: Emulator, modelgates_webhook_receiver: WebhookReceiver
) -> None:
    emulator.webhook_faults.out_of_order = 1
    emulator.webhook_faults.hold_seconds = 0.2
    emulator.add_job(callback_url=modelgates_webhook_receiver.url)
    assert len(modelgates_webhook_receiver.wait_for(1)) == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("stale", "timestamp_too_old"), ("bad_signature", "no_matching_signature")],
)
def test_a_faulty_first_attempt_is_refused_then_the_retry_lands(
    emulator: Emulator, modelgates_webhook_receiver: WebhookReceiver, fault: str, reason: str
) -> None:
    setattr(emulator.webhook_faults, fault, 1)
    emulator.add_job(callback_url=modelgates_webhook_receiver.url)
    (_event,) = modelgates_webhook_receiver.wait_for(1)
    deliveries = emulator.wait_for_webhooks()
    assert [(d.status, d.fault) for d in deliveries] == [(400, fault), (200, None)]
    assert [r.reason for r in modelgates_webhook_receiver.rejected] == [reason]
    assert _independently_signed(deliveries[1], DEFAULT_WEBHOOK_SECRET)
    assert (fault == "stale") == _independently_signed(deliveries[0], DEFAULT_WEBHOOK_SECRET)


def test_a_delivery_saves_as_a_request_file(
    emulator: Emulator, modelgates_webhook_receiver: WebhookReceiver
) -> None:
    emulator.add_job(callback_url=modelgates_webhook_receiver.url + "?a=1")
    (delivery,) = emulator.wait_for_webhooks()
    head, _, body = delivery.as_http().partition(b"\r\n\r\n")
    assert head.startswith(b"POST /webhooks?a=1 HTTP/1.1\r\n")
    assert b"X-ModelGates-Signature: t=" in head and body == delivery.body


def test_the_plugin_fixture_works_in_a_users_project(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "test_flow.py").write_text(
        textwrap.dedent(
            """
            from modelgates import ModelGates
            from modelgates.emulator import DEFAULT_API_KEY

            def test_flow(modelgates_emulator, modelgates_webhook_receiver):
                url = modelgates_emulator.base_url
                with ModelGates(api_key=DEFAULT_API_KEY, base_url=url) as client:
                    job = client.videos.create(
                        model="emulator/video-1", prompt="p",
                        callback_url=modelgates_webhook_receiver.url,
                    )
                (event,) = modelgates_webhook_receiver.wait_for(1)
                assert event.job.id == job.id and event.job.status == "completed"
            """
        ),
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "modelgates.emulator.pytest_plugin",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_key_of_the_api_is_not_sent_to_receivers(
    emulator: Emulator, modelgates_webhook_receiver: WebhookReceiver
) -> None:
    emulator.add_job(callback_url=modelgates_webhook_receiver.url)
    modelgates_webhook_receiver.wait_for(1)
    (request,) = modelgates_webhook_receiver.requests
    assert "authorization" not in request.headers
    assert KEY not in json.dumps(request.headers) and KEY.encode() not in request.body


def test_the_secret_is_in_no_log_record_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "whsec_LEAK-CHECK-0123456789"
    with Emulator(webhook_secret=secret) as emu, WebhookReceiver(secret) as receiver:
        emu.webhook_faults.bad_signature = 1
        emu.add_job(callback_url=receiver.url)
        receiver.wait_for(1)
        deliveries = emu.wait_for_webhooks()
        texts = [repr(emu.webhooks.secrets), repr(receiver.requests), repr(deliveries)]
        texts += [repr(e) for e in receiver.events] + [r.detail or "" for r in receiver.rejected]
    texts += [record.getMessage() for record in caplog.records]
    assert any("webhook" in t and "attempt 2" in t for t in texts)  # the emulator does log
    assert [t for t in texts if secret in t] == []
