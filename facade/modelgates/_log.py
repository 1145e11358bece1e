"""What the library tells people who ask: the ``modelgates`` logger, and where it prints.

Every HTTP exchange (each attempt, retries included) is one INFO line: method, URL without
credentials, status or error, and the time to the response's headers. Retries, resumes and
job status changes are INFO lines too; nothing logged ever holds a header, so the API key
cannot appear. Library users get them on stderr with ``MODELGATES_LOG=info`` (or
``debug``), read when a client is made, like ``OPENAI_LOG``; the CLI's ``-v`` does the same.
Applications that configure ``logging`` themselves need neither: the logger is
``logging.getLogger("modelgates")``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from typing import Final, TextIO

import httpx

logger = logging.getLogger("modelgates")

ENV_LOG: Final = "MODELGATES_LOG"
LEVELS: Final = {"info": logging.INFO, "debug": logging.DEBUG}

#: The one handler this module installs (by ``MODELGATES_LOG`` or the CLI), never two.
_handler: logging.Handler | None = None


def _install(level: int, stream: TextIO) -> logging.Handler | None:
    """Print the logger's lines at ``level`` and above on ``stream``; the handler this
    replaces (to put back), if any."""
    global _handler
    previous = _handler
    if previous is not None:
        logger.removeHandler(previous)
    _handler = logging.StreamHandler(stream)
    _handler.setFormatter(logging.Formatter("modelgates: %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(level)
    return previous


@contextlib.contextmanager
def printing(level: int, stream: TextIO) -> Iterator[None]:
    """The logger's lines on ``stream`` inside the block (the CLI's ``-v``)."""
    global _handler
    saved_level = logger.level
    previous = _install(level, stream)
    try:
        yield
    finally:
        if _handler is not None:
            logger.removeHandler(_handler)
        _handler = previous
        if previous is not None:
            logger.addHandler(previous)
        logger.setLevel(saved_level)


def configure_from_env(environ: Mapping[str, str]) -> None:
    """``MODELGATES_LOG=info|debug``: the logger's lines on stderr (once per process)."""
    value = environ.get(ENV_LOG, "").strip().lower()
    if not value or _handler is not None:
        return
    level = LEVELS.get(value)
    if level is None:
        warnings.warn(f"{ENV_LOG}={value!r} is ignored: use {' or '.join(LEVELS)}", stacklevel=3)
        return
    _install(level, sys.stderr)


def describe(request: httpx.Request) -> str:
    """``GET https://host/path?query``: no user or password, whatever the URL held."""
    url = request.url
    if url.userinfo:
        url = url.copy_with(username=None, password=None)
    return f"{request.method} {url}"


class LoggedTransport(httpx.BaseTransport):
    """Logs each exchange through ``inner`` (costs one ``isEnabledFor`` when quiet)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not logger.isEnabledFor(logging.INFO):
            return self._inner.handle_request(request)
        start = time.monotonic()
        try:
            response = self._inner.handle_request(request)
        except httpx.TransportError as exc:
            _log_failure(request, exc, start)
            raise
        _log_response(request, response, start)
        return response

    def close(self) -> None:
        self._inner.close()


class AsyncLoggedTransport(httpx.AsyncBaseTransport):
    """``LoggedTransport`` for ``httpx.AsyncClient``."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not logger.isEnabledFor(logging.INFO):
            return await self._inner.handle_async_request(request)
        start = time.monotonic()
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            _log_failure(request, exc, start)
            raise
        _log_response(request, response, start)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _ms(start: float) -> float:
    return (time.monotonic() - start) * 1000


def _log_response(request: httpx.Request, response: httpx.Response, start: float) -> None:
    logger.info(
        "%s -> %d %s (%.0f ms)",
        describe(request),
        response.status_code,
        response.reason_phrase,
        _ms(start),
    )
    logger.debug(
        "  request id %s, content type %s, length %s",
        response.headers.get("x-request-id", "-"),
        response.headers.get("content-type", "-"),
        response.headers.get("content-length", "-"),
    )


def _log_failure(request: httpx.Request, exc: httpx.TransportError, start: float) -> None:
    logger.info("%s -> %s after %.0f ms", describe(request), type(exc).__name__, _ms(start))
