"""A webhook receiver on loopback that verifies and collects events: the pytest fixture
``modelgates_webhook_receiver`` and ``modelgates webhooks listen`` are this server.

Each POST is checked with ``modelgates.webhooks.unwrap`` (the same code a user's receiver
calls); a verified event is kept and answered 200 (or what ``on_event`` returns), a refused
one is kept in ``rejected`` with its reason and answered 400. ``statuses`` queues answers to
give first, whatever the request, to test a sender's retries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

from modelgates import webhooks
from modelgates._errors import ModelGatesError

#: Called with each verified event, its raw body and headers; returns the status to answer.
EventHandler = Callable[[webhooks.VideoJobEvent, bytes, dict[str, str]], int]


@attrs.frozen
class ReceivedRequest:
    """One POST as it arrived: path, headers (lower-cased names), raw body, the answer."""

    path: str
    headers: dict[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    status: int
    event: webhooks.VideoJobEvent | None = None
    reason: str | None = None
    detail: str | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    receiver: WebhookReceiver


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the receiver reports through its lists (and the CLI through its lines)."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status = self.server.receiver._handle(self.path, headers, body)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class WebhookReceiver:
    """Receives webhook events on ``url`` (``http://127.0.0.1:<port>/webhooks``).

    ``events``: every verified event in arrival order, duplicates included (a receiver
    deduplicates on ``event.idempotency_key``); ``rejected``: the refused requests;
    ``requests``: everything. Use as a context manager, or ``start()``/``stop()``.
    """

    def __init__(
        self,
        secret: webhooks.SecretSource | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tolerance: float | None = webhooks.DEFAULT_TOLERANCE,
        on_event: EventHandler | None = None,
        on_request: Callable[[ReceivedRequest], None] | None = None,
    ) -> None:
        self._secrets = webhooks.resolve_secrets(secret)
        self._tolerance = tolerance
        self._on_event = on_event
        self._on_request = on_request
        self.statuses: list[int] = []
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Condition()
        self._server = _Server((host, port), _Handler)
        self._server.receiver = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/webhooks"

    @property
    def events(self) -> list[webhooks.VideoJobEvent]:
        with self._lock:
            return [r.event for r in self.requests if r.event is not None and r.status < 300]

    @property
    def rejected(self) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.requests if r.reason is not None]

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            queued = self.statuses.pop(0) if self.statuses else None
        event: webhooks.VideoJobEvent | None = None
        reason: str | None = None
        detail: str | None = None
        if queued is not None:
            status = queued
        else:
            try:
                event = webhooks.unwrap(body, headers, self._secrets, tolerance=self._tolerance)
            except webhooks.WebhookVerificationError as exc:
                status, reason, detail = 400, exc.reason, str(exc)
            except ModelGatesError as exc:
                status, reason, detail = 400, "malformed_event", str(exc)
            else:
                status = self._on_event(event, body, headers) if self._on_event else 200
        received = ReceivedRequest(path, headers, body, status, event, reason, detail)
        with self._lock:
            self.requests.append(received)
            self._lock.notify_all()
        if self._on_request is not None:
            self._on_request(received)
        return status

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[webhooks.VideoJobEvent]:
        """The verified events once there are at least ``count``; ``TimeoutError`` if not
        within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                events = [r.event for r in self.requests if r.event is not None and r.status < 300]
                if len(events) >= count:
                    return events
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{len(events)} of {count} webhook events after {timeout} s "
                        f"({len(self.requests) - len(events)} other requests)"
                    )
                self._lock.wait(left)

    def start(self) -> WebhookReceiver:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="modelgates-webhook-receiver",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (``modelgates webhooks listen``)."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
