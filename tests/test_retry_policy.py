"""The retry rules, per method and cause (unit tests on httpx.MockTransport)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from modelgates import RetryPolicy
from modelgates._retry import RetryingTransport


def _client(
    handler: Callable[[httpx.Request], httpx.Response], delays: list[float]
) -> httpx.Client:
    policy = RetryPolicy(max_retries=2, sleep=delays.append)
    return httpx.Client(transport=RetryingTransport(httpx.MockTransport(handler), policy))


def _failing(
    exc: type[httpx.TransportError] | None = None, status: int = 200
) -> tuple[list[int], Callable[[httpx.Request], httpx.Response]]:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if exc is not None:
            raise exc("boom", request=request)
        return httpx.Response(status)

    return calls, handler


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.ReadTimeout,
        httpx.ReadError,
        httpx.RemoteProtocolError,
    ],
)
def test_get_retries_every_transport_error(exc: type[httpx.TransportError]) -> None:
    calls, handler = _failing(exc)
    delays: list[float] = []
    with _client(handler, delays) as client, pytest.raises(exc):
        client.get("https://api.test/x")
    assert len(calls) == 3 and len(delays) == 2


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ConnectTimeout])
def test_post_retries_only_what_cannot_have_been_sent(exc: type[httpx.TransportError]) -> None:
    calls, handler = _failing(exc)
    with _client(handler, []) as client, pytest.raises(exc):
        client.post("https://api.test/videos", json={})
    assert len(calls) == 3


@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.RemoteProtocolError]
)
def test_post_is_not_retried_once_it_may_have_arrived(exc: type[httpx.TransportError]) -> None:
    calls, handler = _failing(exc)
    with _client(handler, []) as client, pytest.raises(exc):
        client.post("https://api.test/videos", json={})
    assert len(calls) == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses(status: int) -> None:
    calls, handler = _failing(status=status)
    with _client(handler, []) as client:
        assert client.get("https://api.test/x").status_code == status
        assert len(calls) == 3
        calls.clear()
        assert client.post("https://api.test/videos").status_code == status
        assert len(calls) == 1  # a 5xx after a POST may have created a billed job


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 422])
def test_never_retried_statuses(status: int) -> None:
    calls, handler = _failing(status=status)
    with _client(handler, []) as client:
        assert client.get("https://api.test/x").status_code == status
    assert len(calls) == 1


def test_full_jitter_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=4.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (8, 4.0)]:
        samples = [policy.backoff(attempt) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling / 2  # jitter spreads over the whole range
    assert policy.backoff(1, retry_after=2.5) == 2.5
    assert RetryPolicy(max_retry_after=3).backoff(1, retry_after=60) == 3


def test_retry_after_http_date_is_honoured() -> None:
    import time
    from email.utils import formatdate

    calls: list[int] = []
    delays: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(
                503, headers={"Retry-After": formatdate(time.time() + 30, usegmt=True)}
            )
        return httpx.Response(200)

    with _client(handler, delays) as client:
        assert client.get("https://api.test/x").status_code == 200
    assert 25 <= delays[0] <= 31


def test_max_retries_zero_turns_retries_off() -> None:
    calls, handler = _failing(status=502)
    policy = RetryPolicy(max_retries=0, sleep=lambda s: None)
    with httpx.Client(transport=RetryingTransport(httpx.MockTransport(handler), policy)) as client:
        client.get("https://api.test/x")
    assert len(calls) == 1
