"""The emulator's webhook deliveries: a job created with ``callback_url`` gets a signed event
POSTed there when it ends, as the API does.

One dispatcher thread per emulator owns every delivery, so their order is decided in one
place (which the ``out_of_order`` fault needs) and a receiver under test sees one request
at a time. A failed attempt (non-2xx, refused, timed out) is scheduled again after the next
delay of ``retry_delays`` without holding up other events; after the last one the event is
given up. Each attempt is signed afresh with the time it is sent, as a real retry is.

Faults (``WebhookFaults``), each "the next N events", consumed as events are sent:
- ``duplicate``: delivered a second time after it succeeded (same body, same idempotency key).
- ``out_of_order``: held back until the next event has been sent (or ``hold_seconds``).
- ``stale``: the first attempt is signed with a timestamp ``stale_seconds`` old.
- ``bad_signature``: the first attempt carries a signature by another secret.
A receiver that refuses the faulty attempt (4xx) gets the retry, correctly signed.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import attrs
import httpx

from modelgates import webhooks
from modelgates._types import TERMINAL_STATUSES

if TYPE_CHECKING:
    from ._server import Emulator
    from ._state import Job

#: The secret the emulator signs with unless given one (``Emulator(webhook_secret=...)``,
#: ``modelgates emulator --webhook-secret``): a local test value, like ``DEFAULT_API_KEY``.
DEFAULT_WEBHOOK_SECRET = "whsec_modelgates_emulator_local_secret"  # noqa: S105 - a test value
#: A job created with ``callback_url`` also ends this many seconds after creation when the
#: emulator has no ``seconds_to_complete``: its client is waiting for the event, not polling.
CALLBACK_SECONDS_TO_COMPLETE = 0.3
DEFAULT_RETRY_DELAYS = (0.1, 0.3, 0.9)
ATTEMPT_TIMEOUT = 5.0

logger = logging.getLogger("modelgates.emulator")


@attrs.define
class WebhookFaults:
    """Misbehaviour of the next deliveries, for testing receivers (see the module doc)."""

    duplicate: int = 0
    out_of_order: int = 0
    stale: int = 0
    bad_signature: int = 0
    stale_seconds: float = 600.0
    hold_seconds: float = 2.0


@attrs.frozen
class WebhookDelivery:
    """One attempt to deliver one event: what was sent and what came back.

    ``status`` is the receiver's HTTP status (``None`` if no answer: ``error`` says why);
    ``fault`` names the injected fault of this attempt, if any; ``attempt`` counts from 1
    per event (a duplicate delivery starts again at 1 with ``fault="duplicate"``).
    """

    url: str
    job_id: str
    event_type: str
    idempotency_key: str
    attempt: int
    body: bytes
    headers: dict[str, str] = attrs.field(repr=False)
    status: int | None
    error: str | None = None
    fault: str | None = None
    gave_up: bool = False
    #: ``time.monotonic()`` when the attempt was sent.
    sent_at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def as_http(self) -> bytes:
        """The request as saved for ``modelgates webhooks verify < request.http``."""
        path = httpx.URL(self.url).raw_path.decode("ascii")
        lines = [f"POST {path} HTTP/1.1", *(f"{k}: {v}" for k, v in self.headers.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@attrs.define
class _Pending:
    url: str
    job_id: str
    event_type: str
    idempotency_key: str
    body: bytes
    attempt: int = 1
    first_fault: str | None = None
    duplicate: bool = False
    is_duplicate: bool = False


class WebhookDispatcher:
    """Watches jobs that have a ``callback_url`` and delivers their event when they end."""

    def __init__(self, emulator: Emulator, secret: webhooks.SecretSource | None) -> None:
        self._emulator = emulator
        self.secrets = webhooks.resolve_secrets(
            secret if secret is not None else DEFAULT_WEBHOOK_SECRET
        )
        self.faults = WebhookFaults()
        self.retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
        self.deliveries: list[WebhookDelivery] = []
        self._watched: dict[str, Job] = {}
        self._queue: list[tuple[float, int, _Pending]] = []
        self._held: tuple[float, _Pending] | None = None
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None

    def watch(self, job: Job) -> None:
        with self._wake:
            self._watched[job.id] = job
            self._wake.notify_all()
        self._ensure_started()

    def _ensure_started(self) -> None:
        with self._wake:
            if self._thread is not None or self._stopping:
                return
            self._http = httpx.Client(trust_env=False, timeout=ATTEMPT_TIMEOUT)
            self._thread = threading.Thread(
                target=self._run, name="modelgates-emulator-webhooks", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=ATTEMPT_TIMEOUT + 1)
        if self._http is not None:
            self._http.close()

    def snapshot(self) -> list[WebhookDelivery]:
        with self._wake:
            return list(self.deliveries)

    def wait_idle(self, timeout: float) -> list[WebhookDelivery]:
        """Wait until nothing is watched, queued, held or being sent: every event delivered
        or given up. The deliveries; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._watched or self._queue or self._held or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"webhook deliveries still pending after {timeout} s")
                self._wake.wait(min(left, 0.05))
            return list(self.deliveries)

    # -- the dispatcher thread ------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                self._collect_ended(time.time())
                now = time.monotonic()
                due = self._queue[0][0] if self._queue else now + 0.02
                if due > now:
                    self._wake.wait(min(due - now, 0.02))
                    continue
                _, _, pending = heapq.heappop(self._queue)
                self._in_flight += 1
            self._attempt(pending)

    def _collect_ended(self, now: float) -> None:
        """Turn the watched jobs that have ended into queued events (under ``_wake``)."""
        with self._emulator.lock:
            ended = [j for j in self._watched.values() if j.status(now) in TERMINAL_STATUSES]
            payloads = [(job, job.as_json(self._emulator.base_url)) for job in ended]
        for job, data in payloads:
            del self._watched[job.id]
            self._enqueue(self._event(job, data))
        if self._held is not None and time.monotonic() - self._held[0] >= self.faults.hold_seconds:
            self._push(self._held[1])
            self._held = None

    def _event(self, job: Job, data: dict[str, object]) -> _Pending:
        status = str(data["status"])
        data = {k: v for k, v in data.items() if k != "polling_url"}
        body = json.dumps(
            {
                "type": f"video.generation.{status}",
                "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "data": data,
            },
            separators=(",", ":"),
        ).encode()
        assert job.callback_url is not None
        pending = _Pending(
            url=job.callback_url,
            job_id=job.id,
            event_type=f"video.generation.{status}",
            idempotency_key=f"{job.id}-{status}",
            body=body,
        )
        faults = self.faults
        for name in ("stale", "bad_signature"):
            if getattr(faults, name) > 0 and pending.first_fault is None:
                setattr(faults, name, getattr(faults, name) - 1)
                pending.first_fault = name
        if faults.duplicate > 0:
            faults.duplicate -= 1
            pending.duplicate = True
        return pending

    def _enqueue(self, pending: _Pending) -> None:
        """Queue a new event, honouring ``out_of_order`` (under ``_wake``)."""
        if self._held is not None:
            held = self._held[1]
            self._held = None
            self._push(pending)
            self._push(held)
            return
        if self.faults.out_of_order > 0:
            self.faults.out_of_order -= 1
            self._held = (time.monotonic(), pending)
            return
        self._push(pending)

    def _push(self, pending: _Pending, delay: float = 0.0) -> None:
        heapq.heappush(self._queue, (time.monotonic() + delay, next(self._order), pending))

    def _headers(self, pending: _Pending, fault: str | None) -> dict[str, str]:
        timestamp = int(time.time())
        secrets: Sequence[webhooks.WebhookSecret] = self.secrets
        if fault == "stale":
            timestamp -= int(self.faults.stale_seconds)
        elif fault == "bad_signature":
            secrets = [webhooks.WebhookSecret("not-the-" + self.secrets[0].reveal())]
        return {
            "Content-Type": "application/json",
            "User-Agent": "ModelGates-Webhooks/1 (emulator)",
            webhooks.SIGNATURE_HEADER: webhooks.sign(pending.body, secrets, timestamp=timestamp),
            webhooks.IDEMPOTENCY_HEADER: pending.idempotency_key,
        }

    def _attempt(self, pending: _Pending) -> None:
        fault = pending.first_fault if pending.attempt == 1 else None
        if pending.is_duplicate and pending.attempt == 1:
            fault = "duplicate"
        headers = self._headers(pending, fault)
        sent_at = time.monotonic()
        status: int | None = None
        error: str | None = None
        assert self._http is not None
        try:
            response = self._http.post(pending.url, content=pending.body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        gave_up = not ok and pending.attempt > len(self.retry_delays)
        delivery = WebhookDelivery(
            url=pending.url,
            job_id=pending.job_id,
            event_type=pending.event_type,
            idempotency_key=pending.idempotency_key,
            attempt=pending.attempt,
            body=pending.body,
            headers=headers,
            status=status,
            error=error,
            fault=fault,
            gave_up=gave_up,
            sent_at=sent_at,
        )
        logger.debug(
            "webhook %s attempt %d to %s: %s%s",
            pending.idempotency_key,
            pending.attempt,
            pending.url,
            status if status is not None else error,
            " (given up)" if gave_up else "",
        )
        with self._wake:
            self._in_flight -= 1
            self.deliveries.append(delivery)
            if ok and pending.duplicate:
                self._push(
                    attrs.evolve(
                        pending, attempt=1, duplicate=False, is_duplicate=True, first_fault=None
                    )
                )
            elif not ok and not gave_up:
                delay = self.retry_delays[pending.attempt - 1]
                self._push(attrs.evolve(pending, attempt=pending.attempt + 1), delay)
            self._wake.notify_all()
