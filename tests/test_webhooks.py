"""modelgates.webhooks against events signed by an independent implementation
(tests/webhook_signer.py), never by the library's own signer."""

from __future__ import annotations

import hmac
import json
import logging
import pickle
import time
from datetime import UTC, datetime
from email.message import Message
from typing import Any

import attrs
import httpx
import pytest
import starlette.datastructures
import werkzeug.datastructures

from modelgates import (
    InvalidParameterError,
    ModelGates,
    ModelGatesError,
    ResponseShapeError,
    VideoJob,
    WebhookVerificationError,
    webhooks,
)
from modelgates.emulator import Emulator
from tests.conftest import KEY
from tests.webhook_signer import SECRET, event_body, signature, signed_headers


def _reason(body: Any, headers: Any, secret: Any = SECRET, **kwargs: Any) -> str:
    with pytest.raises(WebhookVerificationError) as info:
        webhooks.verify(body, headers, secret, **kwargs)
    assert isinstance(info.value, ModelGatesError)
    assert SECRET not in str(info.value)
    return info.value.reason


def test_a_valid_event_unwraps_to_the_facade_types() -> None:
    body = event_body("job-abc123")
    event = webhooks.unwrap(body, signed_headers(body), SECRET)
    assert event.type == "video.generation.completed"
    assert event.created_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert event.idempotency_key == "job-abc123-completed"
    assert isinstance(event.job, VideoJob)
    assert event.job.id == "job-abc123" and event.job.status == "completed"
    assert event.job.unsigned_urls == (
        "https://modelgates.ai/api/v1/videos/job-abc123/content?index=0",
    )
    assert event.job.cost == 0.5 and event.job.generation_id == "gen-job-abc123"
    assert event.raw == json.loads(body)
    webhooks.verify(bytearray(body), signed_headers(body), SECRET)
    webhooks.verify(memoryview(body), signed_headers(body), SECRET)


def test_the_job_is_what_polling_returns(emulator: Emulator) -> None:
    """Same type, same parser: code that handles a polled job handles an event."""
    job = emulator.add_job()
    with ModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        polled = client.videos.get(job.id)
    data = {k: v for k, v in polled.raw.items() if k != "polling_url"}
    body = json.dumps({"type": "video.generation.completed", "data": data}).encode()
    event = webhooks.unwrap(body, signed_headers(body), SECRET)
    assert type(event.job) is type(polled)
    assert event.job == attrs.evolve(polled, polling_url=None)
    assert event.job.unsigned_urls and event.job.output_count == 1


def test_tampered_body_is_refused() -> None:
    body = event_body()
    headers = signed_headers(body)
    tampered = body.replace(b'"completed"', b'"failed"', 1)
    assert _reason(tampered, headers) == "no_matching_signature"
    assert _reason(body + b" ", headers) == "no_matching_signature"
    re_encoded = json.dumps(json.loads(body), indent=1).encode()
    assert _reason(re_encoded, headers) == "no_matching_signature"


def test_tampered_timestamp_is_refused() -> None:
    body = event_body()
    t = int(time.time())
    headers = signed_headers(body, timestamp=t)
    headers["X-ModelGates-Signature"] = headers["X-ModelGates-Signature"].replace(
        f"t={t}", f"t={t + 1}"
    )
    assert _reason(body, headers) == "no_matching_signature"


def test_stale_and_future_timestamps_are_refused_within_tolerance_accepted() -> None:
    body = event_body()
    now = int(time.time())
    assert _reason(body, signed_headers(body, timestamp=now - 301)) == "timestamp_too_old"
    assert _reason(body, signed_headers(body, timestamp=now + 400)) == "timestamp_in_future"
    webhooks.verify(body, signed_headers(body, timestamp=now - 290), SECRET)
    webhooks.verify(body, signed_headers(body, timestamp=now + 200), SECRET)
    old = signed_headers(body, timestamp=now - 3600)
    assert _reason(body, old, tolerance=1800) == "timestamp_too_old"
    webhooks.verify(body, old, SECRET, tolerance=None)  # a delivery saved earlier
    webhooks.verify(body, old, SECRET, tolerance=7200)


def test_a_forged_old_event_says_signature_not_age() -> None:
    """The signature is checked first: an old timestamp with a bad signature is a forgery."""
    body = event_body()
    headers = signed_headers(body, "another-secret", timestamp=int(time.time()) - 3600)
    assert _reason(body, headers) == "no_matching_signature"


def test_wrong_secret_is_refused() -> None:
    body = event_body()
    assert _reason(body, signed_headers(body, "whsec_other")) == "no_matching_signature"
    assert _reason(body, signed_headers(body), "whsec_other") == "no_matching_signature"


def test_rotated_secret_several_v1_and_several_secrets() -> None:
    body = event_body()
    both = signed_headers(body, "whsec_old", "whsec_new")
    webhooks.verify(body, both, "whsec_new")
    webhooks.verify(body, both, "whsec_old")
    webhooks.verify(body, signed_headers(body, "whsec_old"), ["whsec_new", "whsec_old"])
    webhooks.verify(body, signed_headers(body, "whsec_new"), ("whsec_new", "whsec_old"))
    assert _reason(body, both, ["whsec_a", "whsec_b"]) == "no_matching_signature"
    # Unknown schemes (a future v2=) and junk entries are ignored, not fatal.
    header = both["X-ModelGates-Signature"] + ",v2=abc,junk"
    webhooks.verify(body, {"X-ModelGates-Signature": header}, "whsec_new")


def test_a_duplicate_delivery_unwraps_to_the_same_key() -> None:
    body = event_body("job-dup")
    now = int(time.time())
    first_headers = signed_headers(body, job_id="job-dup", timestamp=now - 60)
    again_headers = signed_headers(body, job_id="job-dup", timestamp=now)  # signed again
    assert first_headers != again_headers
    first = webhooks.unwrap(body, first_headers, SECRET)
    again = webhooks.unwrap(body, again_headers, SECRET)
    assert first.idempotency_key == again.idempotency_key == "job-dup-completed"
    assert first == again
    # Without the header (a proxy dropped it) the key is built as the API builds it.
    headers = signed_headers(body, job_id="job-dup")
    del headers["X-ModelGates-Idempotency-Key"]
    assert webhooks.unwrap(body, headers, SECRET).idempotency_key == "job-dup-completed"


def test_missing_and_malformed_headers() -> None:
    body = event_body()
    assert _reason(body, {}) == "missing_header"
    assert _reason(body, {"Content-Type": "application/json"}) == "missing_header"
    sig = signature(body, SECRET, int(time.time()))
    for value in (
        "",
        f"v1={sig}",
        f"t=soon,v1={sig}",
        f"t=-5,v1={sig}",
        f"t={int(time.time())}",
        f"t={int(time.time())},v1=nothex",
        "garbage",
    ):
        assert _reason(body, {"X-ModelGates-Signature": value}) == "malformed_header", value


@pytest.mark.parametrize("payload", ["{}", {"type": "video.generation.completed"}, None, 42])
def test_a_payload_that_is_not_the_raw_body_is_refused_saying_so(payload: Any) -> None:
    body = event_body()
    with pytest.raises(InvalidParameterError) as info:
        webhooks.verify(payload, signed_headers(body), SECRET)
    message = str(info.value)
    assert "raw request body (bytes)" in message
    assert "request.get_data()" in message and "await request.body()" in message
    with pytest.raises(InvalidParameterError):
        webhooks.unwrap(payload, signed_headers(body), SECRET)


def test_str_payload_of_the_right_text_is_still_refused() -> None:
    body = event_body()
    with pytest.raises(InvalidParameterError, match="not str: it was decoded"):
        webhooks.verify(body.decode(), signed_headers(body), SECRET)  # type: ignore[arg-type]


def _header_shapes(headers: dict[str, str]) -> list[Any]:
    pairs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    message = Message()
    for k, v in headers.items():
        message[k] = v
    return [
        headers,
        {k.upper(): v for k, v in headers.items()},
        {k.lower(): v for k, v in headers.items()},
        pairs,  # an ASGI scope's headers
        list(headers.items()),
        httpx.Headers(headers),
        werkzeug.datastructures.Headers(headers),
        starlette.datastructures.Headers(raw=pairs),
        message,
        {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},  # WSGI environ
        {k: [v] for k, v in headers.items()},  # multi-valued mappings
    ]


def test_any_header_mapping_any_case() -> None:
    body = event_body()
    for shape in _header_shapes(signed_headers(body, job_id="job-abc123")):
        event = webhooks.unwrap(body, shape, SECRET)
        assert event.idempotency_key == "job-abc123-completed", type(shape)


def test_header_names_can_be_overridden() -> None:
    body = event_body()
    headers = signed_headers(body)
    renamed = {
        "X-Upstream-Signature": headers["X-ModelGates-Signature"],
        "X-Upstream-Idempotency-Key": "custom-key",
    }
    assert _reason(body, renamed) == "missing_header"
    event = webhooks.unwrap(
        body,
        renamed,
        SECRET,
        signature_header="x-upstream-signature",
        idempotency_header="X-Upstream-Idempotency-Key",
    )
    assert event.idempotency_key == "custom-key"


def test_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    body = event_body()
    monkeypatch.delenv("MODELGATES_WEBHOOK_SECRET", raising=False)
    with pytest.raises(InvalidParameterError, match="MODELGATES_WEBHOOK_SECRET"):
        webhooks.verify(body, signed_headers(body))
    monkeypatch.setenv("MODELGATES_WEBHOOK_SECRET", "  ")
    with pytest.raises(InvalidParameterError, match="set but blank"):
        webhooks.verify(body, signed_headers(body))
    monkeypatch.setenv("MODELGATES_WEBHOOK_SECRET", SECRET)
    webhooks.verify(body, signed_headers(body))
    monkeypatch.setenv("MODELGATES_WEBHOOK_SECRET", f"whsec_new, {SECRET}")
    webhooks.verify(body, signed_headers(body))
    webhooks.verify(body, signed_headers(body, "whsec_new"))
    # The argument wins over the environment.
    assert _reason(body, signed_headers(body), "whsec_arg") == "no_matching_signature"


def test_bad_secret_arguments_are_named() -> None:
    body = event_body()
    with pytest.raises(InvalidParameterError, match="secret is empty"):
        webhooks.verify(body, signed_headers(body), " ")
    with pytest.raises(InvalidParameterError, match="empty list"):
        webhooks.verify(body, signed_headers(body), [])
    with pytest.raises(InvalidParameterError, match=r"secret\[1\] is a int"):
        webhooks.verify(body, signed_headers(body), [SECRET, 5])  # type: ignore[list-item]


def test_unknown_fields_and_types_pass_through_a_broken_shape_is_named() -> None:
    body = event_body(status="completed", workspace="ws_1")
    parsed = json.loads(body)
    parsed["type"] = "video.generation.archived"
    parsed["data"]["status"] = "archived"
    parsed["data"]["thumbnail_url"] = "https://x/t.jpg"
    newer = json.dumps(parsed).encode()
    event = webhooks.unwrap(newer, signed_headers(newer), SECRET)
    assert event.type == "video.generation.archived" and event.job.status == "archived"
    assert event.raw["workspace"] == "ws_1"
    assert event.job.raw["thumbnail_url"] == "https://x/t.jpg"
    assert not event.job.is_terminal
    for broken in (b"not json", b"[]", b'{"type": "x"}', b'{"type": 1, "data": {}}'):
        with pytest.raises(ResponseShapeError, match="webhook event"):
            webhooks.unwrap(broken, signed_headers(broken), SECRET)
    no_date = json.dumps(
        {"type": "video.generation.failed", "data": {"id": "j", "status": "failed"}}
    )
    event = webhooks.unwrap(no_date.encode(), signed_headers(no_date.encode()), SECRET)
    assert event.created_at is None and event.job.is_failed


def test_the_library_signer_agrees_with_the_independent_one() -> None:
    body = event_body()
    assert webhooks.sign(body, SECRET, timestamp=1700000000) == (
        f"t=1700000000,v1={signature(body, SECRET, 1700000000)}"
    )
    both = webhooks.sign(body, ["a", "b"], timestamp=5)
    assert both == f"t=5,v1={signature(body, 'a', 5)},v1={signature(body, 'b', 5)}"


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every candidate is compared with hmac.compare_digest, none skipped after a match."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    body = event_body()
    webhooks.verify(body, signed_headers(body, SECRET, "other"), [SECRET, "third"])
    assert len(calls) == 4


def test_the_secret_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = webhooks.WebhookSecret(SECRET)
    body = event_body()
    event = webhooks.unwrap(body, signed_headers(body), secret)
    texts = [repr(secret), str(secret), f"{secret!r}", repr([secret]), repr(event)]
    for bad in ([], " ", [SECRET, 3]):
        try:
            webhooks.verify(body, signed_headers(body), bad)  # type: ignore[arg-type]
        except ModelGatesError as exc:
            texts += [str(exc), repr(exc)]
    for headers in ({}, signed_headers(body, "x"), signed_headers(body, timestamp=1)):
        try:
            webhooks.verify(body, headers, [SECRET, "whsec_second"])
        except WebhookVerificationError as exc:
            texts += [str(exc), repr(exc), repr(pickle.loads(pickle.dumps(exc)).__dict__)]
    texts += [record.getMessage() for record in caplog.records]
    assert len(texts) > 12
    assert [t for t in texts if SECRET in t or "whsec_second" in t] == []
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(secret)


def test_the_error_pickles_with_its_reason() -> None:
    error = WebhookVerificationError("m", reason="timestamp_too_old")
    copy = pickle.loads(pickle.dumps(error))
    assert copy.reason == "timestamp_too_old" and str(copy) == "m"
