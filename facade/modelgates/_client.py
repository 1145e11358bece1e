"""``ModelGates`` and ``AsyncModelGates``: the objects people hold.

A client resolves its configuration once (key, base URL, timeouts, retries), owns the httpx
clients for all its requests (one connection pool), and hands out resources
(``client.videos``) that do the work. ``client.raw`` is the generated low-level client on
the same connections, for endpoints the facade does not wrap yet; its error statuses raise
the facade's exceptions. ``with_options`` gives a copy with another timeout or retry
budget on the same connections (openai-python's convention).
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Self

import attrs
import httpx

from . import _adapter, _log
from ._docs import share_docstrings
from ._errors import InvalidParameterError
from ._keys import APIKey, resolve_api_key
from ._retry import RetryPolicy
from ._transport import (
    ClientConfig,
    ConnectionPool,
    TimeoutTypes,
    async_pool,
    check_base_url,
    make_timeout,
    resolve_base_url,
    sync_pool,
)
from ._validation import check_retries
from ._videos import AsyncVideos, Videos

DEFAULT_MAX_RETRIES = 2


def _retry_policy(max_retries: int | None, retry: RetryPolicy | None) -> RetryPolicy:
    """One rule: ``retry`` is the whole policy; ``max_retries`` alone is its shorthand.
    Both at once is refused unless they agree, as either silently winning surprises."""
    if max_retries is not None:
        max_retries = check_retries(max_retries)
    if retry is None:
        return RetryPolicy(max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max_retries)
    if not isinstance(retry, RetryPolicy):
        raise InvalidParameterError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
    if max_retries is not None and max_retries != retry.max_retries:
        raise InvalidParameterError(
            f"max_retries={max_retries} contradicts retry=RetryPolicy(max_retries="
            f"{retry.max_retries}): give one of them (the policy's max_retries is its count)"
        )
    return retry


def _configure(
    api_key: str | APIKey | None,
    base_url: str | httpx.URL | None,
    timeout: TimeoutTypes,
    max_retries: int | None,
    allow_insecure_http: bool,
    retry: RetryPolicy | None,
) -> ClientConfig:
    _log.configure_from_env(os.environ)
    policy = _retry_policy(max_retries, retry)
    raw_url, source = resolve_base_url(base_url, os.environ)
    url = check_base_url(raw_url, allow_insecure_http=allow_insecure_http, source=source)
    return ClientConfig(
        base_url=url,
        key=resolve_api_key(api_key),
        timeout=make_timeout(timeout),
        retry=policy,
        base_url_source=source,
    )


class _ClientBase:
    """What both clients show of their configuration (never the key)."""

    _config: ClientConfig
    _pool: ConnectionPool
    #: False for a ``with_options`` copy: the connections are its original's to close.
    _owns_pool: bool

    def _evolved(self, timeout: TimeoutTypes, max_retries: int | None) -> ClientConfig:
        config = self._config
        if timeout is not None:
            config = attrs.evolve(config, timeout=make_timeout(timeout))
        if max_retries is not None:
            retry = attrs.evolve(config.retry, max_retries=check_retries(max_retries))
            config = attrs.evolve(config, retry=retry)
        return config

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
    httpx transport to send requests through (tests). ``http_client`` is a configured
    ``httpx.Client`` (proxies, a custom CA, client certificates, event hooks) to send them
    through; the key (sent to the base URL's origin only), retries, timeouts and errors
    are still the facade's, and the client stays yours to close. Without either,
    ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``/``NO_PROXY`` apply as in httpx.

    Retries: ``max_retries`` (default 2) is shorthand for ``retry=RetryPolicy(max_retries=N)``;
    giving both with different counts raises ``InvalidParameterError``.
    ``MODELGATES_LOG=info`` (or ``debug``) prints each request and retry on stderr.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        allow_insecure_http: bool = False,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        config = _configure(api_key, base_url, timeout, max_retries, allow_insecure_http, retry)
        self._setup(config, sync_pool(transport, http_client), owns_pool=True)

    def _setup(self, config: ClientConfig, pool: ConnectionPool, *, owns_pool: bool) -> None:
        self._config, self._pool, self._owns_pool = config, pool, owns_pool
        self._http, self._json_http = config.sync_clients(pool)
        self._videos = Videos(self._http, self._json_http, config)
        self._raw = _adapter.raw_client(
            str(config.base_url), config.key, config.timeout, sync_client=self._json_http
        )

    @property
    def videos(self) -> Videos:
        """Video generation: ``create``, ``get``, ``wait``, ``models``, ``download``,
        ``download_all``, ``generate`` (all three in one) and ``stream``."""
        return self._videos

    @property
    def raw(self) -> _adapter.GeneratedClient:
        """The generated ``modelgates_api`` client on this client's connections (same key,
        base URL, timeouts, retries, error classes), for endpoints ``videos`` does not wrap:
        ``get_video.sync(job_id, client=client.raw)``."""
        return self._raw

    def with_options(
        self, *, timeout: float | httpx.Timeout | None = None, max_retries: int | None = None
    ) -> Self:
        """A client with another ``timeout`` or ``max_retries`` (None: unchanged) on the
        same connection pool: ``client.with_options(max_retries=5).videos.get(job_id)``.
        Closing the copy leaves the connections open; closing this client closes them."""
        copy = object.__new__(type(self))
        copy._setup(self._evolved(timeout, max_retries), self._pool, owns_pool=False)
        return copy

    def close(self) -> None:
        """Close the connections (``with ModelGates() as client:`` does it for you)."""
        if self._owns_pool:
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
        max_retries: int | None = None,
        allow_insecure_http: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        config = _configure(api_key, base_url, timeout, max_retries, allow_insecure_http, retry)
        self._setup(config, async_pool(transport, http_client), owns_pool=True)

    def _setup(self, config: ClientConfig, pool: ConnectionPool, *, owns_pool: bool) -> None:
        self._config, self._pool, self._owns_pool = config, pool, owns_pool
        self._http, self._json_http = config.async_clients(pool)
        self._videos = AsyncVideos(self._http, self._json_http, config)
        self._raw = _adapter.raw_client(
            str(config.base_url), config.key, config.timeout, async_client=self._json_http
        )

    @property
    def videos(self) -> AsyncVideos:
        return self._videos

    @property
    def raw(self) -> _adapter.GeneratedClient:
        return self._raw

    def with_options(
        self, *, timeout: float | httpx.Timeout | None = None, max_retries: int | None = None
    ) -> Self:
        """As ``ModelGates.with_options``: the copy shares this client's connections."""
        copy = object.__new__(type(self))
        copy._setup(self._evolved(timeout, max_retries), self._pool, owns_pool=False)
        return copy

    async def close(self) -> None:
        if self._owns_pool:
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


share_docstrings(AsyncModelGates, ModelGates)
