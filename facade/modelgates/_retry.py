"""When to try a request again, and how long to wait first.

One policy serves every request: the retrying transports below (each HTTP exchange: JSON
calls, ``client.raw`` calls, and the opening of a download) and the download's own resume
loop (a body that breaks mid-stream). Rules:

- GET (and HEAD) retry on connect, read and timeout errors and on 408, 429, 500, 502, 503
  and 504; never on 400, 401, 402 or 404.
- POST creates a billed job: it is retried only when the request cannot have reached the
  server (a connect error or connect timeout), never after a timeout or a 5xx.
- Full-jitter exponential backoff, bounded by ``max_retries`` and by ``deadline`` seconds;
  ``Retry-After`` (seconds or HTTP date) is honoured up to ``max_retry_after``.
- Each retry is logged at INFO on the ``modelgates`` logger: reason and delay, never a
  header.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Final

import anyio
import attrs
import httpx

from ._errors import parse_retry_after

logger = logging.getLogger("modelgates")

RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: Request extension through which a per-call policy reaches the transport.
EXTENSION: Final = "modelgates.retry"

#: Errors after which a request that changes state may not have been sent at all.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _default_sleep(seconds: float) -> None:
    time.sleep(seconds)


async def _default_async_sleep(seconds: float) -> None:
    await anyio.sleep(seconds)


@attrs.frozen
class RetryPolicy:
    """How persistent a client (or one call) is. ``max_retries=0`` turns retries off.

    ``deadline`` bounds the seconds spent failing: for a JSON call, from its start; for a
    download, since it last received bytes (a multi-GB download that keeps making progress
    is never cut off). ``sleep``/``async_sleep`` are injectable so tests need not wait.
    """

    max_retries: int = 2
    deadline: float = 300.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    sleep: Callable[[float], None] = attrs.field(default=_default_sleep, repr=False)
    async_sleep: Callable[[float], Awaitable[None]] = attrs.field(
        default=_default_async_sleep, repr=False
    )
    clock: Callable[[], float] = attrs.field(default=time.monotonic, repr=False)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not a secret


class RetryBudget:
    """The retries left to one request (or one download): counts attempts and time.

    ``what`` names the request in log lines; it may be a callable, so that requests that
    never retry (nearly all) do not pay for building the name.
    """

    def __init__(self, policy: RetryPolicy, what: str | Callable[[], str]) -> None:
        self.policy = policy
        self._what = what
        self.attempt = 0
        self._since = policy.clock()

    @property
    def what(self) -> str:
        return self._what if isinstance(self._what, str) else self._what()

    def progressed(self) -> None:
        """Bytes arrived: a download that moves on starts a fresh budget."""
        self.attempt = 0
        self._since = self.policy.clock()

    def next_delay(self, reason: str, retry_after: float | None = None) -> float | None:
        """The delay before the next try, or None when the budget is spent."""
        if self.attempt >= self.policy.max_retries:
            return None
        self.attempt += 1
        delay = self.policy.backoff(self.attempt, retry_after)
        if self.policy.clock() - self._since + delay > self.policy.deadline:
            return None
        logger.info(
            "retrying %s after %s in %.2f s (retry %d of %d)",
            self.what,
            reason,
            delay,
            self.attempt,
            self.policy.max_retries,
        )
        return delay

    def after_error(self, method: str, exc: httpx.TransportError) -> float | None:
        """Delay before retrying a request that raised ``exc``; None: give up."""
        if not may_retry_error(method, exc):
            return None
        return self.next_delay(type(exc).__name__)

    def after_response(self, method: str, response: httpx.Response) -> float | None:
        """Delay before retrying a request answered by ``response``; None: keep it."""
        if not may_retry_status(method, response.status_code):
            return None
        return self.next_delay(_status_reason(response), retry_after_of(response))


def _describe(request: httpx.Request) -> str:
    return f"{request.method} {request.url.copy_with(query=None)}"


def _status_reason(response: httpx.Response) -> str:
    return f"HTTP {response.status_code} {response.reason_phrase}".rstrip()


def retry_after_of(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("retry-after"))


def may_retry_error(method: str, exc: httpx.TransportError) -> bool:
    if method in IDEMPOTENT_METHODS:
        return True
    return isinstance(exc, _NOT_SENT)


def may_retry_status(method: str, status_code: int) -> bool:
    return method in IDEMPOTENT_METHODS and status_code in RETRY_STATUSES


class RetryingTransport(httpx.BaseTransport):
    """Wraps an httpx transport; retries each exchange by ``RetryPolicy``."""

    def __init__(self, inner: httpx.BaseTransport, policy: RetryPolicy) -> None:
        self._inner = inner
        self._policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        policy: RetryPolicy = request.extensions.get(EXTENSION, self._policy)
        budget = RetryBudget(policy, lambda: _describe(request))
        while True:
            try:
                response = self._inner.handle_request(request)
            except httpx.TransportError as exc:
                if (delay := budget.after_error(request.method, exc)) is None:
                    raise
            else:
                if (delay := budget.after_response(request.method, response)) is None:
                    return response
                response.close()
            policy.sleep(delay)

    def close(self) -> None:
        self._inner.close()


class AsyncRetryingTransport(httpx.AsyncBaseTransport):
    """``RetryingTransport`` for ``httpx.AsyncClient``."""

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: RetryPolicy) -> None:
        self._inner = inner
        self._policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        policy: RetryPolicy = request.extensions.get(EXTENSION, self._policy)
        budget = RetryBudget(policy, lambda: _describe(request))
        while True:
            try:
                response = await self._inner.handle_async_request(request)
            except httpx.TransportError as exc:
                if (delay := budget.after_error(request.method, exc)) is None:
                    raise
            else:
                if (delay := budget.after_response(request.method, response)) is None:
                    return response
                await response.aclose()
            await policy.async_sleep(delay)

    async def aclose(self) -> None:
        await self._inner.aclose()
