"""A local ModelGates API: a real HTTP/1.1 server on loopback, for the demo and for tests
(ours and our users').

It serves the four video endpoints of the bundled spec with their status codes and error
bodies, bearer auth against the keys it was started with, and faults on demand (see
``Faults``). A second server on another port plays the storage origin that signed content
URLs point at, so cross-origin redirects are real.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

import attrs

from ._state import (
    MODELS,
    BodyKind,
    CreatePlan,
    Faults,
    Job,
    Output,
    StatusFault,
    pop_status_fault,
)
from ._webhooks import (
    CALLBACK_SECONDS_TO_COMPLETE,
    WebhookDelivery,
    WebhookDispatcher,
    WebhookFaults,
)

DEFAULT_API_KEY = "sk-mg-emulator-local-key"
RouteHandler = Callable[["Emulator", dict[str, str], Any], tuple[int, object]]
#: ``on_create(body)``: how to answer one ``POST /videos`` (see ``CreatePlan``).
CreateHook = Callable[[dict[str, Any]], "CreatePlan | None"]
DEMO_JOB_ID = "job-demo"
API_PREFIX = "/api/v1"


@attrs.frozen
class RecordedRequest:
    """A request as the emulator saw it: which server, method, raw path and headers."""

    server: str  # "api" or "storage"
    method: str
    path: str
    query: str
    headers: dict[str, str]

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


@attrs.frozen
class Exchange:
    """One request to the API server and the answer it gave, for checking against the
    bundled document (``Emulator.exchange_observers``).

    ``response_body`` is ``None`` for a video body (not kept); ``injected`` says the answer
    was a fault a test asked for (``Faults``, ``Emulator.fail``), off the document on
    purpose."""

    request: RecordedRequest
    body: bytes
    status: int
    headers: dict[str, str]
    response_body: bytes | None
    injected: bool


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, emulator: Emulator, role: str, address: tuple[str, int]) -> None:
        self.emulator = emulator
        self.role = role
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a download closing its connection after a body it read
        itself, Ctrl-C) is not the emulator's error: only other exceptions are printed."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
    # and the client's delayed ACK add about 40 ms to every small response.
    disable_nagle_algorithm = True
    server_version = "ModelGatesEmulator/1"
    server: _Server
    #: The status and headers of the answer being sent, and its body unless a video.
    _answer: tuple[int, dict[str, str]] | None = None
    _answer_body: bytes | None = None
    _injected = False

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and the demo read their own output, not the server's."""

    # -- plumbing ----------------------------------------------------------------------------

    def _record(self) -> tuple[str, str]:
        parts = urlsplit(self.path)
        self.server.emulator._record(
            RecordedRequest(
                server=self.server.role,
                method=self.command,
                path=parts.path,
                query=parts.query,
                headers={k.lower(): v for k, v in self.headers.items()},
            )
        )
        return parts.path, parts.query

    def _start(self, status: int) -> None:
        """The status line and what every answer carries: a request id, as the API sends."""
        self._answer = (status, {})
        self.send_response(status)
        self.send_header("X-Request-Id", f"req_{uuid.uuid4().hex[:16]}")

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self._start(status)
        if content_type is not None and body:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._answer_body = body
        self._observe()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_header(self, keyword: str, value: str) -> None:
        if self._answer is not None:
            self._answer[1][keyword.lower()] = value
        super().send_header(keyword, value)

    def _observe(self) -> None:
        """Hand the exchange to ``Emulator.exchange_observers`` (API server only), once the
        headers are sent and before the body: whoever has the whole answer has it observed."""
        if self.server.role != "api" or self._answer is None or not Emulator.exchange_observers:
            return
        parts = urlsplit(self.path)
        request = RecordedRequest(
            server="api",
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        status, headers = self._answer
        exchange = Exchange(request, self._body, status, headers, self._answer_body, self._injected)
        for observer in list(Emulator.exchange_observers):
            observer(exchange)

    def _json(self, status: int, payload: object) -> None:
        self._send(status, json.dumps(payload).encode())

    def _error(
        self,
        status: int,
        message: str,
        kind: BodyKind = "json",
        headers: dict[str, str] | None = None,
    ) -> None:
        if kind == "json":
            body = json.dumps(
                {
                    "error": {"code": status, "message": message, "metadata": None},
                    "user_id": "user_emulator",
                }
            ).encode()
            self._send(status, body, "application/json", headers)
        elif kind == "html":
            phrase = HTTPStatus(status).phrase
            html = f"<html><head><title>{status} {phrase}</title></head><body><h1>{phrase}</h1>"
            self._send(status, (html + "</body></html>").encode(), "text/html", headers)
        else:
            self._send(status, b"", None, headers)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token in self.server.emulator.api_keys:
            return True
        self._error(401, "Missing or invalid API key" if header else "No auth credentials found")
        return False

    def _read_body(self) -> bytes:
        """Read the whole request body first, whatever the answer: on a kept-alive
        connection an unread body would be taken for the next request."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_json(self) -> Any:
        raw = self._body
        self.server.emulator.last_body = raw
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    # -- routing -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        self._answer = None
        self._answer_body = None
        self._injected = False
        self._body = self._read_body()
        path, query = self._record()
        try:
            if self.server.role == "storage":
                self._storage(path, query)
                return
            if not path.startswith(API_PREFIX + "/"):
                self._error(404, f"No route for {path}")
                return
            segments = [unquote(s) for s in path[len(API_PREFIX) + 1 :].split("/")]
            self._route(segments, query)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route(self, segments: list[str], query: str) -> None:
        method = self.command
        custom = self.server.emulator._match_route(method, segments)
        if custom is not None:
            if self._authorized():
                handler, params = custom
                status, payload = handler(self.server.emulator, params, self._read_json())
                self._json(status, payload)
        elif segments[0] != "videos":
            self._error(404, "Not found")
        elif len(segments) == 1 and method == "POST":
            if self._authorized() and not self._route_fault("create"):
                self._create()
        elif segments == ["videos", "models"] and method in {"GET", "HEAD"}:
            if self._authorized() and not self._route_fault("models"):
                self._json(200, {"data": MODELS})
        elif len(segments) == 2 and method in {"GET", "HEAD"}:
            if self._authorized() and not self._route_fault("poll"):
                self._poll(segments[1])
        elif len(segments) == 3 and segments[2] == "content" and method in {"GET", "HEAD"}:
            if self._authorized():
                self._content(segments[1], query)
        else:
            self._error(404 if method in {"GET", "HEAD"} else 405, "Not found")

    def _route_fault(self, route: str) -> bool:
        """Answer the next injected status for ``route``, if any (``Emulator.fail``)."""
        emulator = self.server.emulator
        with emulator.lock:
            fault = pop_status_fault(emulator.route_faults.get(route, []))
        if fault is None:
            return False
        self._answer_fault(fault)
        return True

    def _answer_fault(self, fault: StatusFault) -> None:
        self._injected = True
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
        self._error(fault.status, f"Injected {fault.status}", fault.body, headers)

    # -- endpoints ---------------------------------------------------------------------------

    def _create(self) -> None:
        body = self._read_json()
        if not isinstance(body, dict):
            self._error(400, "Request body must be a JSON object")
            return
        for field in ("model", "prompt"):
            if not isinstance(body.get(field), str) or not body[field]:
                self._error(400, f"'{field}' is required and must be a non-empty string")
                return
        if body["model"] not in {m["id"] for m in MODELS}:
            self._error(400, f"Model '{body['model']}' does not support video generation")
            return
        callback_url = body.get("callback_url")
        if callback_url is not None and not (
            isinstance(callback_url, str) and callback_url.startswith(("http://", "https://"))
        ):
            self._error(400, "'callback_url' must be an absolute http(s) URL")
            return
        emulator = self.server.emulator
        plan = emulator._plan_create(body)
        if plan is not None and plan.reject is not None:
            self._answer_fault(pop_status_fault([plan.reject]) or StatusFault(429))
            return
        final_status = "failed" if "[fail]" in body["prompt"] else emulator.final_status
        seconds = emulator.seconds_to_complete
        fields: dict[str, Any] = {
            "polls_to_complete": emulator.polls_to_complete,
            "seconds_to_complete": CALLBACK_SECONDS_TO_COMPLETE
            if callback_url and seconds is None
            else seconds,
            "callback_url": callback_url,
            "final_status": final_status,
            "error": None if final_status == "completed" else "The provider rejected the prompt",
        }
        if plan is not None:
            fields.update(plan.job_fields())
        job = emulator.add_job(model=body["model"], prompt=body["prompt"], **fields)
        polling_url = f"{emulator.base_url}/videos/{quote(job.id, safe='')}"
        self._json(202, {"id": job.id, "polling_url": polling_url, "status": "pending"})

    def _poll(self, job_id: str) -> None:
        emulator = self.server.emulator
        with emulator.lock:
            job = emulator.jobs.get(job_id)
            if job is not None:
                payload = job.as_json(emulator.base_url)
                job.polls += 1
        if job is None:
            self._error(404, f"Video generation job '{job_id}' not found")
            return
        self._json(200, payload)

    def _content(self, job_id: str, query: str) -> None:
        emulator = self.server.emulator
        params = parse_qs(query)
        raw_index = params.get("index", ["0"])[-1]
        if not raw_index.isdigit():
            self._error(400, f"'index' must be a non-negative integer, got '{raw_index}'")
            return
        index = int(raw_index)
        with emulator.lock:
            job = emulator.jobs.get(job_id)
            fault = job.faults.next_status() if job is not None else None
        if job is None:
            self._error(404, f"Video generation job '{job_id}' not found")
            return
        if fault is not None:
            self._answer_fault(fault)
            return
        status = job.status()
        if status != "completed":
            self._error(400, f"Job '{job_id}' is {status}; content is available once completed")
            return
        if index >= len(job.outputs):
            self._error(404, f"Job '{job_id}' has no output {index}")
            return
        if job.faults.ok_body is not None:
            self._injected = True
            kind = job.faults.ok_body
            body = b'{"status": "ok"}' if kind == "json" else b"<html><body>Hi</body></html>"
            self._send(200, body, "application/json" if kind == "json" else "text/html")
            return
        if job.faults.redirect:
            self._injected = True
            token = emulator.sign(job_id, index)
            location = f"{emulator.storage_url}/{quote(job_id, safe='')}/{index}?sig={token}"
            self._send(302, b"", None, {"Location": location})
            return
        self._serve_output(job, index)

    def _storage(self, path: str, query: str) -> None:
        parts = path.strip("/").split("/")
        sig = parse_qs(query).get("sig", [""])[-1]
        emulator = self.server.emulator
        if len(parts) != 3 or parts[0] != "storage" or not parts[2].isdigit():
            self._error(404, "No such object", "html")
            return
        job_id, index = unquote(parts[1]), int(parts[2])
        job = emulator.jobs.get(job_id)
        if job is None or index >= len(job.outputs) or sig != emulator.sign(job_id, index):
            self._error(403, "Signature does not match", "html")
            return
        self._serve_output(job, index)

    def _serve_output(self, job: Job, index: int) -> None:
        output = job.outputs[index]
        etag = output.etag(job.id, index)
        last_modified = email.utils.formatdate(job.created_at + output.version, usegmt=True)
        start, end = 0, output.size
        status = 200
        range_header = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if (
            range_header
            and not job.faults.ignore_range
            and (if_range is None or if_range in {etag, last_modified})
        ):
            parsed = _parse_range(range_header, output.size)
            if parsed == "unsatisfiable":
                self._send(416, b"", None, {"Content-Range": f"bytes */{output.size}"})
                return
            if isinstance(parsed, tuple):
                start, end = parsed
                status = 206
        self._start(status)
        self.send_header("Content-Type", output.content_type)
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", last_modified)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{output.size}")
        self.end_headers()
        self._observe()
        if self.command == "HEAD":
            return
        sent = 0
        try:
            sent = self._write_body(job, output, output.chunks(start, end), start)
        finally:
            with self.server.emulator.lock:
                job.bytes_served += sent

    @staticmethod
    def _next_drop(job: Job, offset: int) -> int | None:
        """The first drop offset at ``offset`` or after (emulator lock held)."""
        return next((d for d in sorted(job.faults.drop_at) if d >= offset), None)

    def _use_drop(self, job: Job, drop: int) -> bool:
        """Whether this answer, reaching ``drop``, drops there (False: another did)."""
        with self.server.emulator.lock:
            if drop not in job.faults.drop_at:
                return False
            job.faults.drop_at.remove(drop)
            return True

    def _write_body(
        self, job: Job, output: Output, chunks: Iterable[memoryview], offset: int
    ) -> int:
        """Write the body, obeying the job's drop and stall faults; return bytes written."""
        emulator = self.server.emulator
        faults = job.faults
        sent = 0
        with emulator.lock:
            # Used up by the answer that reaches it (below), not by one that starts before
            # it and ends short of it (a range, or a part another connection took over).
            drop = self._next_drop(job, offset)
            stall = (
                faults.stall_at
                if faults.stall_at is not None and faults.stall_at >= offset
                else None
            )
            if stall is not None:
                faults.stall_at = None
        for chunk in chunks:
            if stall is not None and offset + len(chunk) > stall:
                self.wfile.write(chunk[: stall - offset])
                sent += stall - offset
                chunk, offset = chunk[stall - offset :], stall
                time.sleep(faults.stall_seconds)
                stall = None
            while drop is not None and offset + len(chunk) > drop:
                if self._use_drop(job, drop):
                    self.wfile.write(chunk[: drop - offset])
                    sent += drop - offset
                    if faults.change_on_drop:
                        with emulator.lock:
                            output.version += 1
                    self._drop()
                    return sent
                with emulator.lock:  # another answer reached it first: the next one
                    drop = self._next_drop(job, drop)
            self.wfile.write(chunk)
            offset += len(chunk)
            sent += len(chunk)
        return sent

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _parse_range(header: str, size: int) -> tuple[int, int] | str | None:
    """``(start, end)`` (end exclusive) of a single ``bytes=`` range; ``None`` to ignore the
    header (malformed or several ranges); ``"unsatisfiable"`` for a 416."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, sep, last = spec.strip().partition("-")
    if not sep:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                return "unsatisfiable"
            return max(0, size - suffix), size
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size:
        return "unsatisfiable"
    if end <= start:
        return None
    return start, min(end, size)


def _reachable(host: str) -> str:
    """Where a client on this machine reaches a server bound to ``host``."""
    return "127.0.0.1" if host in {"", "0.0.0.0"} else host  # noqa: S104 - a comparison


class Emulator:
    """A running ModelGates API on ``127.0.0.1``; use as a context manager.

    ``base_url`` is what to give the client. The demo job ``job-demo`` is ready at start.
    Jobs created with ``POST /videos`` finish after ``polls_to_complete`` polls (or
    ``seconds_to_complete`` seconds) and end in ``final_status``; a prompt containing
    ``[fail]`` makes one fail. ``outputs`` (copied for each job) and ``faults`` (called for
    each job) are what every job gets unless ``add_job`` is given its own, the demo job
    included: the ``modelgates emulator`` options ``--video-size``, ``--outputs``,
    ``--drop-at`` and ``--rate-limit`` set them.
    A job with a ``callback_url`` gets a signed event POSTed there when it ends (signed with
    ``webhook_secret``, one or several, default ``DEFAULT_WEBHOOK_SECRET``); see
    ``webhook_deliveries``, ``webhook_faults`` and ``webhook_retry_delays``.
    ``on_create`` decides each create instead (``CreatePlan``: completion, outputs, failure,
    faults, a 429); ``posts_for(prompt)`` and ``jobs_for(prompt)`` say what was sent and
    billed.
    """

    #: Called with every ``Exchange`` of every emulator in this process, from its server
    #: threads (tests/conftest.py checks each against the bundled document).
    exchange_observers: ClassVar[list[Callable[[Exchange], None]]] = []

    def __init__(
        self,
        *,
        api_keys: Sequence[str] = (DEFAULT_API_KEY,),
        host: str = "127.0.0.1",
        port: int = 0,
        polls_to_complete: int = 2,
        seconds_to_complete: float | None = None,
        webhook_secret: str | Sequence[str] | None = None,
        final_status: str = "completed",
        outputs: Sequence[Output] | None = None,
        faults: Callable[[], Faults] | None = None,
    ) -> None:
        self.api_keys = frozenset(api_keys)
        self.polls_to_complete = polls_to_complete
        self.seconds_to_complete = seconds_to_complete
        self.final_status = final_status
        self._outputs = list(outputs) if outputs is not None else None
        self._faults = faults or Faults
        self.lock = threading.Lock()
        self.jobs: dict[str, Job] = {}
        self.requests: list[RecordedRequest] = []
        #: The body of the last POST, as sent.
        self.last_body = b""
        self._routes: list[tuple[str, tuple[str, ...], RouteHandler]] = []
        #: Statuses to answer, in order, on "create", "poll" or "models" (see ``fail``).
        self.route_faults: dict[str, list[StatusFault | int]] = {}
        self._secret = uuid.uuid4().hex
        #: Decides each create (completion time, outputs, failure, faults, a 429): see
        #: ``CreatePlan``. None: every job as ``polls_to_complete`` etc. say.
        self.on_create: CreateHook | None = None
        #: Every ``POST /videos`` that reached the create endpoint, counted per prompt.
        self.create_posts: dict[str, int] = {}
        self._api = _Server(self, "api", (host, port))
        self._storage = _Server(self, "storage", (host, 0))
        self._threads: list[threading.Thread] = []
        self.webhooks = WebhookDispatcher(self, webhook_secret)
        self.add_job(DEMO_JOB_ID, prompt="The bundled demo video")

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return str(self._api.server_address[0])

    @property
    def port(self) -> int:
        return int(self._api.server_address[1])

    @property
    def base_url(self) -> str:
        """The API's URL (on loopback when listening on every interface, ``0.0.0.0``: an
        address a client can connect to and the CLI accepts without --allow-insecure-http)."""
        return f"http://{_reachable(self.host)}:{self.port}{API_PREFIX}"

    @property
    def storage_url(self) -> str:
        host, port = self._storage.server_address[:2]
        return f"http://{_reachable(str(host))}:{port}/storage"

    def start(self) -> Emulator:
        for server in (self._api, self._storage):
            thread = threading.Thread(
                target=server.serve_forever,
                # Short polls: stopping (every test's teardown) waits for one.
                kwargs={"poll_interval": 0.02},
                name=f"modelgates-emulator-{server.role}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.webhooks.stop()
        for server in (self._api, self._storage):
            if self._threads:
                server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the ``modelgates emulator`` command)."""
        storage = threading.Thread(target=self._storage.serve_forever, daemon=True)
        storage.start()
        try:
            self._api.serve_forever()
        finally:
            self.webhooks.stop()
            self._storage.shutdown()
            self._api.server_close()
            self._storage.server_close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- state -------------------------------------------------------------------------------

    def add_job(
        self,
        job_id: str | None = None,
        *,
        outputs: Sequence[Output] | None = None,
        faults: Faults | None = None,
        **fields: Any,
    ) -> Job:
        """Add a job (by default: completed, with the emulator's outputs and faults: the demo
        video as its one output and none, unless the emulator was started with others)."""
        if outputs is None:
            outputs = [attrs.evolve(o) for o in self._outputs or [Output.demo()]]
        job = Job(
            id=job_id or f"job-{uuid.uuid4().hex[:12]}",
            outputs=list(outputs),
            faults=faults if faults is not None else self._faults(),
            **fields,
        )
        with self.lock:
            self.jobs[job.id] = job
        if job.callback_url:
            self.webhooks.watch(job)
        return job

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every webhook attempt so far, in the order sent (a copy)."""
        return self.webhooks.snapshot()

    @property
    def webhook_faults(self) -> WebhookFaults:
        """The faults of the next deliveries; set its fields (``.duplicate = 1``)."""
        return self.webhooks.faults

    @property
    def webhook_retry_delays(self) -> tuple[float, ...]:
        """Seconds before each retry of a failed delivery; one more failure gives up."""
        return self.webhooks.retry_delays

    @webhook_retry_delays.setter
    def webhook_retry_delays(self, delays: Sequence[float]) -> None:
        self.webhooks.retry_delays = tuple(delays)

    def wait_for_webhooks(self, timeout: float = 10.0) -> list[WebhookDelivery]:
        """Block until every event is delivered or given up (jobs not yet ended included);
        the deliveries. ``TimeoutError`` after ``timeout`` seconds."""
        return self.webhooks.wait_idle(timeout)

    def route(self, method: str, template: str, handler: RouteHandler) -> None:
        """Serve an endpoint the emulator does not know yet (one a newer API added), so
        tests of an extension can run before the real API is reached. ``template`` is
        relative to the base URL (``/videos/{jobId}/events``); ``handler(emulator, params,
        body)`` returns ``(status, json_payload)``. Bearer auth applies as everywhere."""
        parts = tuple(template.strip("/").split("/"))
        with self.lock:
            self._routes.append((method.upper(), parts, handler))

    def _match_route(
        self, method: str, segments: list[str]
    ) -> tuple[RouteHandler, dict[str, str]] | None:
        with self.lock:
            routes = list(self._routes)
        for route_method, parts, handler in routes:
            if route_method != method or len(parts) != len(segments):
                continue
            params: dict[str, str] = {}
            for part, segment in zip(parts, segments, strict=True):
                if part.startswith("{") and part.endswith("}"):
                    params[part[1:-1]] = segment
                elif part != segment:
                    break
            else:
                return handler, params
        return None

    def fail(self, route: str, *statuses: StatusFault | int) -> None:
        """Answer the next requests to ``route`` ("create", "poll" or "models") with these
        statuses, one each, before answering normally again."""
        if route not in {"create", "poll", "models"}:
            raise ValueError(f"unknown route {route!r}: use create, poll or models")
        with self.lock:
            self.route_faults.setdefault(route, []).extend(statuses)

    def sign(self, job_id: str, index: int) -> str:
        """The signature of a storage URL (as a signed URL from a real bucket would carry)."""
        return hashlib.sha256(f"{self._secret}\0{job_id}\0{index}".encode()).hexdigest()[:32]

    def _record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def requests_to(self, server: str = "api") -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.server == server]

    # -- creates, as a batch sees them ---------------------------------------------------------

    def _plan_create(self, body: dict[str, Any]) -> CreatePlan | None:
        """Count the POST under its prompt, then ask ``on_create`` how to answer it."""
        with self.lock:
            prompt = str(body.get("prompt"))
            self.create_posts[prompt] = self.create_posts.get(prompt, 0) + 1
            hook = self.on_create
        return hook(body) if hook is not None else None

    def posts_for(self, prompt: str) -> int:
        """How many ``POST /videos`` with this prompt reached the create endpoint (answered
        202 or rejected by ``on_create``; statuses queued with ``fail`` come before it)."""
        with self.lock:
            return self.create_posts.get(prompt, 0)

    def jobs_for(self, prompt: str) -> list[Job]:
        """The jobs created for this prompt: what a client was billed for."""
        with self.lock:
            return [job for job in self.jobs.values() if job.prompt == prompt]
