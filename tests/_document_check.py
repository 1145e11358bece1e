"""Every exchange the suite has with an emulator, checked against the bundled document.

The emulator must answer what ``openapi/modelgates.yaml`` allows, and the facade must send
what it allows: ``tests/conftest.py`` collects each test's exchanges (through
``Emulator.exchange_observers``) and fails the test with the violations found here, checked
with openapi-core. Not checked: answers a test injected on purpose (``Exchange.injected``),
the storage origin (not part of the API), and video bodies (not kept; their status and
headers are checked).

HTTP itself is read into the document as RFC 9110 defines it: a ``HEAD`` is checked as the
``GET`` it mirrors, a ``206`` answer to a ``Range`` request as the ``200`` it is part of, and
a ``416`` is allowed only in answer to a ``Range`` request. The document declares neither,
but a download resumes through them.

Identical exchanges (the demo job polled again, the same error) are checked once per run.
"""

from __future__ import annotations

import functools
import threading
import time
from urllib.parse import parse_qsl

import attrs
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from modelgates.emulator import Exchange
from tests._spec import PUBLISHED

#: The origin of the document's only server; the emulator's paths carry its /api/v1.
DOCUMENT_ORIGIN = "https://modelgates.ai"


@attrs.define
class _Request:
    """openapi-core's ``Request`` protocol, for a request the emulator received."""

    exchange: Exchange
    parameters: RequestParameters

    @property
    def host_url(self) -> str:
        return DOCUMENT_ORIGIN

    @property
    def path(self) -> str:
        return self.exchange.request.path

    @property
    def method(self) -> str:
        method = self.exchange.request.method.lower()
        return "get" if method == "head" else method

    @property
    def body(self) -> bytes | None:
        return self.exchange.body or None

    @property
    def content_type(self) -> str:
        return self.exchange.request.headers.get("content-type", "").lower()


@attrs.frozen
class _Response:
    """openapi-core's ``Response`` protocol, for the emulator's answer."""

    exchange: Exchange

    @property
    def status_code(self) -> int:
        ranged = "range" in self.exchange.request.headers
        return 200 if self.exchange.status == 206 and ranged else self.exchange.status

    @property
    def content_type(self) -> str:
        return self.exchange.headers.get("content-type", "").lower()

    @property
    def headers(self) -> Headers:
        return Headers(self.exchange.headers)

    @property
    def data(self) -> bytes | None:
        body = self.exchange.response_body
        if body is None or self.exchange.request.method == "HEAD":
            # A video body (not kept) or none at all. A str stands in for it: openapi-core
            # 0.23 rejects bytes for `type: string, format: binary` (its issue #854), and the
            # media type, status and headers are what there is to check here.
            return "\0"  # type: ignore[return-value]
        return body


@functools.cache
def _document() -> OpenAPI:
    return OpenAPI.from_path(PUBLISHED)


_checked: set[tuple[object, ...]] = set()
_lock = threading.Lock()
#: For the end-of-run line: exchanges seen, checked with openapi-core, seconds spent.
stats = {"exchanges": 0, "checked": 0, "seconds": 0.0}


def violations(exchange: Exchange) -> list[str]:
    """What in ``exchange`` the document does not allow (empty when all is well)."""
    request = exchange.request
    stats["exchanges"] += 1
    if exchange.injected or (exchange.status == 416 and "range" in request.headers):
        return []
    key: tuple[object, ...] = (
        request.method,
        request.path,
        request.query,
        tuple(sorted(request.headers.items())),
        exchange.body,
        exchange.status,
        exchange.headers.get("content-type"),
        exchange.response_body,
    )
    if exchange.response_body is None and request.path.endswith("/content"):
        # A video answer: what is checked is the same for every job (most exchanges).
        key = ("video", request.method, request.query, "authorization" in request.headers,
               "range" in request.headers, exchange.status, key[6])  # fmt: skip
    with _lock:
        if key in _checked:
            return []
    started = time.perf_counter()
    openapi_request = _Request(
        exchange,
        RequestParameters(
            query=ImmutableMultiDict(parse_qsl(request.query, keep_blank_values=True)),
            header=Headers(request.headers),
        ),
    )
    where = f"{request.method} {request.path}{'?' + request.query if request.query else ''}"
    found = [
        f"{where}: request: {_explain(error)}"
        for error in _document().iter_request_errors(openapi_request)
    ]
    found += [
        f"{where} -> {exchange.status}: response: {_explain(error)}"
        for error in _document().iter_response_errors(openapi_request, _Response(exchange))
    ]
    with _lock:
        stats["checked"] += 1
        stats["seconds"] += time.perf_counter() - started
        if not found:
            _checked.add(key)
    return found


def _explain(error: Exception) -> str:
    """The error and the schema errors openapi-core keeps in its cause chain."""
    parts = [f"{type(error).__name__}: {error}"]
    cause = error.__cause__
    while cause is not None:
        details = getattr(cause, "schema_errors", None)
        if details:
            parts += [f"{'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}" for e in details]
        else:
            parts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__
    return "; ".join(parts)
