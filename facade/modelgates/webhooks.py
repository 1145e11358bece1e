"""Receiving the events ModelGates POSTs to a job's ``callback_url`` when it ends.

    from modelgates import webhooks

    event = webhooks.unwrap(request_body_bytes, request.headers)  # secret: env or secret=
    if event.type == "video.generation.completed":
        download(event.job)  # the same VideoJob that client.videos.get() returns

Usable without a client: a service that receives events may not hold the API key.

Why each rule (the scheme is the API's, ``X-ModelGates-Signature: t=<unix>,v1=<hex>``, the
hex being HMAC-SHA256 of ``"<t>," + body`` keyed with the workspace's signing secret):

- The payload must be the raw body bytes as received: a parsed ``dict`` or a decoded and
  re-encoded ``str`` is not byte-for-byte what was signed, so both are refused with a
  message saying how to get the raw body, instead of failing as a "bad signature".
- Every candidate signature is compared with every secret in constant time, and none is
  skipped once one matched, so timing says nothing about how close a forgery came.
- Several ``v1=`` values and several secrets are accepted, so a secret can be rotated
  without a window in which good events are refused.
- The signature is checked before the timestamp: a ``timestamp_too_old`` is then an
  authentic but late (or replayed) event, which is worth telling apart from a forgery.
- Headers come as any mapping or list of pairs (werkzeug, Starlette, Django's
  ``request.headers``, httpx, an ASGI scope's byte pairs, a WSGI environ), looked up
  without regard to case.
- Secrets live in a ``WebhookSecret`` (redacted like the API key): never in a repr, an
  exception or a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, NoReturn, TypeAlias

import attrs

from . import _adapter
from ._errors import InvalidParameterError, ResponseShapeError, WebhookVerificationError
from ._keys import APIKey
from ._types import VideoJob

ENV_SECRET: Final = "MODELGATES_WEBHOOK_SECRET"  # noqa: S105 - a variable name
SIGNATURE_HEADER: Final = "X-ModelGates-Signature"
IDEMPOTENCY_HEADER: Final = "X-ModelGates-Idempotency-Key"
#: Seconds an event's timestamp may be from this machine's clock, either way (the API's 5 min).
DEFAULT_TOLERANCE: Final = 300.0

#: What ``headers`` may be: a mapping of names to values (any case), or name/value pairs
#: (str or bytes, as in an ASGI scope).
HeaderSource: TypeAlias = (
    Mapping[str, Any] | Mapping[bytes, Any] | Iterable[tuple[str | bytes, str | bytes]]
)
RawBody: TypeAlias = bytes | bytearray | memoryview

__all__ = [
    "DEFAULT_TOLERANCE",
    "ENV_SECRET",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "VideoJobEvent",
    "WebhookSecret",
    "WebhookVerificationError",
    "sign",
    "unwrap",
    "verify",
]

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX = re.compile(r"[0-9a-fA-F]{64}")


class WebhookSecret(APIKey):
    """A webhook signing secret that never shows itself (repr, str, pickling)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "WebhookSecret('<redacted>')"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a webhook secret is not pickled; pass it to the other process explicitly")


#: A real expression, not a string: documentation tools (make docs) evaluate it.
SecretSource: TypeAlias = str | bytes | WebhookSecret | Sequence[str | bytes | WebhookSecret]


@attrs.frozen
class VideoJobEvent:
    """One event: ``type`` (``video.generation.completed``, ``...failed``, ``...cancelled``,
    ``...expired``, or one a newer API adds), ``created_at`` (``None`` if absent or not ISO
    8601), ``idempotency_key`` (the header's, else ``<job id>-<status>`` as the API builds
    it: deduplicate on it, the same event may come more than once) and ``job``, parsed by
    the same code as a poll answer. ``raw`` is the whole JSON body, unknown fields included.
    """

    type: str
    created_at: datetime | None
    idempotency_key: str
    job: VideoJob
    raw: dict[str, object] = attrs.field(factory=dict, eq=False, repr=False)


def resolve_secrets(
    secret: SecretSource | None, environ: Mapping[str, str] | None = None
) -> tuple[WebhookSecret, ...]:
    """The secrets to try: the argument (one or several), else ``MODELGATES_WEBHOOK_SECRET``
    (several separated by commas, for rotation)."""
    if secret is None:
        env = os.environ if environ is None else environ
        raw = env.get(ENV_SECRET, "")
        found = tuple(WebhookSecret(part.strip()) for part in raw.split(",") if part.strip())
        if not found:
            blank = " is set but blank" if ENV_SECRET in env else ""
            raise InvalidParameterError(
                f"no webhook secret: pass secret=..., or set {ENV_SECRET}{blank}"
            )
        return found
    items: Sequence[str | bytes | WebhookSecret] = (
        [secret] if isinstance(secret, str | bytes | WebhookSecret) else secret
    )
    secrets: list[WebhookSecret] = []
    for position, item in enumerate(items):
        if isinstance(item, WebhookSecret):
            secrets.append(item)
            continue
        if isinstance(item, bytes):
            item = item.decode("utf-8", errors="surrogateescape")
        if not isinstance(item, str):
            raise InvalidParameterError(
                f"secret[{position}] is a {type(item).__name__}: pass the secret as a str"
            )
        if not item.strip():
            raise InvalidParameterError("secret is empty: pass the workspace's signing secret")
        secrets.append(WebhookSecret(item.strip()))
    if not secrets:
        raise InvalidParameterError("secret is an empty list: pass at least one secret")
    return tuple(secrets)


def _key(secret: WebhookSecret) -> bytes:
    return secret.reveal().encode("utf-8", errors="surrogateescape")


def _digest(key: bytes, timestamp: str, payload: bytes) -> str:
    return hmac.new(key, timestamp.encode("ascii") + b"," + payload, hashlib.sha256).hexdigest()


def sign(
    payload: RawBody, secret: SecretSource | None = None, *, timestamp: int | None = None
) -> str:
    """The ``X-ModelGates-Signature`` value for ``payload``: one ``v1=`` per secret (the
    emulator signs with this; a receiver's own tests may too)."""
    body = _raw_body(payload)
    t = str(int(time.time()) if timestamp is None else int(timestamp))
    signatures = ",".join(f"v1={_digest(_key(s), t, body)}" for s in resolve_secrets(secret))
    return f"t={t},{signatures}"


def _raw_body(payload: object) -> bytes:
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    what = type(payload).__name__
    hint = (
        "it was decoded: pass the body bytes exactly as received"
        if isinstance(payload, str)
        else "it was parsed: pass the body bytes exactly as received, before any JSON parsing"
        if isinstance(payload, dict | list)
        else "pass the body bytes exactly as received"
    )
    raise InvalidParameterError(
        f"payload must be the raw request body (bytes), not {what}: {hint} "
        "(Flask/werkzeug: request.get_data(); Starlette/FastAPI: await request.body(); "
        "Django: request.body; aiohttp: await request.read())"
    )


def _text(value: object) -> str:
    return value.decode("latin-1") if isinstance(value, bytes | bytearray) else str(value)


def _header_values(headers: HeaderSource, name: str) -> Iterator[str]:
    """Every value of header ``name`` in ``headers``, whatever their shape and case."""
    wanted = name.lower()
    environ_name = "http_" + wanted.replace("-", "_")  # a WSGI environ: HTTP_X_MODELGATES_...
    items = getattr(headers, "items", None)  # mappings, werkzeug Headers, email Message...
    pairs: Iterable[Any] = items() if callable(items) else headers
    for pair in pairs:
        try:
            key, value = pair
        except (TypeError, ValueError):
            raise InvalidParameterError(
                "headers must be a mapping of header names to values, or (name, value) pairs"
            ) from None
        if _text(key).lower() not in (wanted, environ_name):
            continue
        if isinstance(value, list | tuple):
            yield from (_text(v) for v in value)
        else:
            yield _text(value)


def _header(headers: HeaderSource, name: str) -> str | None:
    return next(_header_values(headers, name), None)


def _parse_signature(value: str, header: str) -> tuple[str, list[bytes]]:
    timestamp: str | None = None
    candidates: list[bytes] = []
    for item in value.split(","):
        scheme, sep, content = item.strip().partition("=")
        if not sep:
            continue
        if scheme == "t":
            timestamp = content.strip()
        elif scheme == "v1" and _HEX.fullmatch(content.strip()):
            candidates.append(content.strip().lower().encode("ascii"))
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        raise WebhookVerificationError(
            f"the {header} header has no t=<unix seconds> timestamp", reason="malformed_header"
        )
    if not candidates:
        raise WebhookVerificationError(
            f"the {header} header has no v1=<64 hex digits> signature", reason="malformed_header"
        )
    return timestamp, candidates


def verify(
    payload: RawBody,
    headers: HeaderSource,
    secret: SecretSource | None = None,
    *,
    tolerance: float | None = DEFAULT_TOLERANCE,
    signature_header: str = SIGNATURE_HEADER,
) -> None:
    """Raise ``WebhookVerificationError`` unless ``payload`` (the raw body bytes) carries a
    valid signature by one of the secrets, made within ``tolerance`` seconds of now
    (``None``: any age, for a delivery saved earlier).

    ``secret``: one secret, or several (rotation); default ``MODELGATES_WEBHOOK_SECRET``.
    """
    body = _raw_body(payload)
    secrets = resolve_secrets(secret)
    value = _header(headers, signature_header)
    if value is None:
        raise WebhookVerificationError(
            f"the {signature_header} header is missing: this request was not signed by "
            "ModelGates (or a proxy dropped the header)",
            reason="missing_header",
        )
    timestamp, candidates = _parse_signature(value, signature_header)
    matched = False
    for secret_item in secrets:
        expected = _digest(_key(secret_item), timestamp, body).encode("ascii")
        for candidate in candidates:
            # No early exit: every pair costs the same, match or not.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookVerificationError(
            f"no signature in the {signature_header} header matches the body with the "
            f"given secret{'s' if len(secrets) > 1 else ''}: a wrong secret, or a body that "
            "was changed (or re-encoded) after signing",
            reason="no_matching_signature",
        )
    if tolerance is None:
        return
    age = time.time() - int(timestamp)
    if age > tolerance:
        raise WebhookVerificationError(
            f"the event was signed {age:.0f} s ago, more than the tolerance of {tolerance:g} s: "
            "a late retry or a replay (check this machine's clock)",
            reason="timestamp_too_old",
        )
    if -age > tolerance:
        raise WebhookVerificationError(
            f"the event's timestamp is {-age:.0f} s in the future, more than the tolerance "
            f"of {tolerance:g} s (check this machine's clock)",
            reason="timestamp_in_future",
        )


def _created_at(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_event(body: bytes, idempotency_key: str | None) -> VideoJobEvent:
    """A (verified) event body as a ``VideoJobEvent``; the job goes through the same parser
    as a poll answer."""
    operation = "webhook event"
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ResponseShapeError(operation, f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
        raise ResponseShapeError(operation, "expected an object with a 'data' object")
    event_type = data.get("type")
    if not isinstance(event_type, str):
        raise ResponseShapeError(operation, "'type' is missing or not a string")
    job = _adapter.parse_job(f"{operation} {event_type}", data["data"])
    return VideoJobEvent(
        type=event_type,
        created_at=_created_at(data.get("created_at")),
        idempotency_key=idempotency_key or f"{job.id}-{job.status}",
        job=job,
        raw=data,
    )


def unwrap(
    payload: RawBody,
    headers: HeaderSource,
    secret: SecretSource | None = None,
    *,
    tolerance: float | None = DEFAULT_TOLERANCE,
    signature_header: str = SIGNATURE_HEADER,
    idempotency_header: str = IDEMPOTENCY_HEADER,
) -> VideoJobEvent:
    """``verify``, then the event. A signed body that is not an event of the known shape
    raises ``ResponseShapeError`` (the API changed: regenerate or upgrade)."""
    verify(payload, headers, secret, tolerance=tolerance, signature_header=signature_header)
    return parse_event(bytes(payload), _header(headers, idempotency_header))
