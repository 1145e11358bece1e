"""``ModelGates`` and ``AsyncModelGates``: the objects people hold.

A client resolves its configuration once (key, base URL, timeouts, retries), owns the httpx
clients for all its requests (one connection pool), and hands out resources
(``client.videos``) that do the work. ``client.raw`` is the generated low-level client on
the same connections, for endpoints the facade does not wrap yet; its error statuses raise
the facade's exceptions.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Self

import attrs
import httpx

from . import _adapter
from ._keys import APIKey, resolve_api_key
from ._retry import RetryPolicy
from ._transport import (
    ClientConfig,
    TimeoutTypes,
    check_base_url,
    make_timeout,
    resolve_base_url,
)
from ._validation import check_retries
from ._videos import AsyncVideos, Videos

DEFAULT_MAX_RETRIES = 2


def _configure(
    api_key: str | APIKey | None,
    base_url: str | httpx.URL | None,
    timeout: TimeoutTypes,
    max_retries: int,
    allow_insecure_http: bool,
    retry: RetryPolicy | None,
) -> ClientConfig:
    max_retries = check_retries(max_retries)
    if retry is None:
        retry = RetryPolicy(max_retries=max_retries)
    elif max_retries != DEFAULT_MAX_RETRIES:
        retry = attrs.evolve(retry, max_retries=max_retries)
    url = check_base_url(
        resolve_base_url(base_url, os.environ), allow_insecure_http=allow_insecure_http
    )
    return ClientConfig(
        base_url=url,
        key=resolve_api_key(api_key),
        timeout=make_timeout(timeout),
        retry=retry,
    )


class _ClientBase:
    """What both clients show of their configuration (never the key)."""

    _config: ClientConfig

    @property
    def base_url(self) -> str:
        return str(self._config.base_url)

    @property
    def timeout(self) -> httpx.Timeout:
        return self._config.timeout

    @property
    def max_retries(self) -> int:
        return self._config.retry.max_retries

    @property
    def retry(self) -> RetryPolicy:
        return self._config.retry

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"


class ModelGates(_ClientBase):
    """The ModelGates API client.

    ``api_key`` defaults to ``MODELGATES_API_KEY``, else the file named by
    ``MODELGATES_API_KEY_FILE``; ``base_url`` to ``MODELGATES_BASE_URL``, else
    ``https://modelgates.ai/api/v1``. ``timeout`` is seconds or an ``httpx.Timeout`` (default:
    connect 10 s, 60 s of read inactivity, no cap on a whole download). ``transport`` is an
    httpx transport to send requests through (tests, proxies).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        allow_insecure_http: bool = False,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._config = _configure(
            api_key, base_url, timeout, max_retries, allow_insecure_http, retry
        )
        self._http, self._json_http = self._config.sync_clients(transport)
        self.videos = Videos(self._http, self._json_http, self._config)
        self.raw = _adapter.raw_client(
            str(self._config.base_url),
            self._config.key,
            self._config.timeout,
            sync_client=self._json_http,
        )

    def close(self) -> None:
        self._json_http.close()
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncModelGates(_ClientBase):
    """``ModelGates`` for asyncio (and trio): the same arguments, ``await``-ed methods."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        allow_insecure_http: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._config = _configure(
            api_key, base_url, timeout, max_retries, allow_insecure_http, retry
        )
        self._http, self._json_http = self._config.async_clients(transport)
        self.videos = AsyncVideos(self._http, self._json_http, self._config)
        self.raw = _adapter.raw_client(
            str(self._config.base_url),
            self._config.key,
            self._config.timeout,
            async_client=self._json_http,
        )

    async def close(self) -> None:
        await self._json_http.aclose()
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
