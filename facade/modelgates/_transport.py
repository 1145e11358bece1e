"""The httpx clients the facade sends everything through, and where the API key may go.

The key is attached by ``OriginBearerAuth`` per request, and only to requests for the base
URL's origin: a redirect to signed storage on another host never carries it (httpx strips
it on cross-origin redirects too; this does not depend on that). A base URL that would send
the key in clear text to anything but loopback is refused before any connection is tried.

Timeouts are always explicit: the generated client's default is no timeout at all.

Every exchange goes through the retrying transport, whatever carries it: the facade's own
pool, a proxy named by ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` (minus ``NO_PROXY``, read
as httpx reads them), a user's ``transport=``, or a user's configured ``http_client=``.
httpx applies no environment proxy once it is handed a transport, so the facade mounts
them itself (``ConnectionPool``); a user's own ``transport=`` gets none, as in httpx.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, Final

import attrs
import httpcore
import httpx
from httpx._client import UseClientDefault
from httpx._utils import get_environment_proxies

from . import __version__
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    InsecureURLError,
    InvalidBaseURLError,
    InvalidParameterError,
    argument,
    param,
    setting,
    status_error,
)
from ._keys import APIKey
from ._log import AsyncLoggedTransport, LoggedTransport, describe
from ._retry import AsyncRetryingTransport, RetryingTransport, RetryPolicy

DEFAULT_BASE_URL: Final = "https://modelgates.ai/api/v1"
ENV_BASE_URL: Final = "MODELGATES_BASE_URL"
#: Where the base URL came from: the ``base_url`` argument, ``MODELGATES_BASE_URL``, or
#: None for the default. Requests carry it (this extension) so that a connection error
#: can say which setting to fix.
SOURCE_EXTENSION: Final = "modelgates.base_url_source"
#: Connect within 10 s; a read may wait 60 s for the next bytes; a whole download has no cap.
DEFAULT_TIMEOUT: Final = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)
USER_AGENT: Final = f"modelgates-python/{__version__}"

TimeoutTypes = float | httpx.Timeout | None


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, url.port or default_port)


def _named(source: str | None) -> str:
    """The setting a base URL came from, in the caller's words."""
    if source == "base_url":
        return param("base_url")
    return source or "the default base URL"


def check_base_url(
    base_url: str | httpx.URL,
    *,
    allow_insecure_http: bool = False,
    source: str | None = "base_url",
) -> httpx.URL:
    """The parsed base URL, if the API key may be sent to it. ``source`` names where it
    came from (see ``SOURCE_EXTENSION``) for the messages."""
    where = _named(source)
    try:
        url = httpx.URL(str(base_url))
    except httpx.InvalidURL as exc:
        raise InvalidBaseURLError(f"{where} {str(base_url)!r} is not a URL: {exc}") from None
    if url.scheme not in {"http", "https"} or not url.host:
        raise InvalidBaseURLError(
            f"{where} {str(base_url)!r} is not an absolute http:// or https:// URL"
        )
    if url.scheme == "http" and not is_loopback(url.host) and not allow_insecure_http:
        allow = setting("allow_insecure_http", "True")
        raise InsecureURLError(
            f"{where} {str(url)!r} is plain http to {url.host!r}, which would send the API key "
            f"in clear text; use https, a loopback host, or pass {allow}"
        )
    # Keep a trailing slash off, so relative operation paths join under it.
    return url.copy_with(path=url.path.rstrip("/") or "/")


def resolve_base_url(
    base_url: str | httpx.URL | None, environ: Mapping[str, str]
) -> tuple[str, str | None]:
    """The base URL to use and where it came from (see ``SOURCE_EXTENSION``)."""
    if base_url is not None:
        return str(base_url), "base_url"
    from_env = environ.get(ENV_BASE_URL, "").strip()
    if from_env:
        return from_env, ENV_BASE_URL
    return DEFAULT_BASE_URL, None


def make_timeout(timeout: TimeoutTypes) -> httpx.Timeout:
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise InvalidParameterError(
            f"timeout must be seconds > 0 or an httpx.Timeout, not {timeout!r}"
        )
    # A number bounds connecting and each wait for bytes, not a whole multi-GB download.
    return httpx.Timeout(
        float(timeout), connect=min(float(timeout), DEFAULT_TIMEOUT.connect or 10.0)
    )


class OriginBearerAuth(httpx.Auth):
    """``Authorization: Bearer <key>`` on requests to one origin, and on no others."""

    def __init__(self, key: APIKey, base_url: httpx.URL) -> None:
        self._key = key
        self._origin = origin(base_url)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if origin(request.url) == self._origin:
            request.headers["Authorization"] = f"Bearer {self._key.reveal()}"
        else:
            request.headers.pop("Authorization", None)
        yield request

    def __repr__(self) -> str:
        return f"OriginBearerAuth(origin={self._origin!r}, key=<redacted>)"


@attrs.frozen
class RequestOptions:
    """openai-python's per-call extras: headers and query parameters added to each request
    one call sends, and its timeout (None: the client's)."""

    headers: dict[str, str] = attrs.field(factory=dict)
    query: dict[str, Any] = attrs.field(factory=dict)
    timeout: httpx.Timeout | None = None

    @property
    def client_timeout(self) -> httpx.Timeout | UseClientDefault:
        """What ``httpx.Client.request(timeout=)`` takes: ``None`` there means no timeout."""
        return httpx.USE_CLIENT_DEFAULT if self.timeout is None else self.timeout


def request_options(
    extra_headers: Mapping[str, str] | None,
    extra_query: Mapping[str, Any] | None,
    timeout: TimeoutTypes,
    *,
    timeout_name: str = "timeout",
) -> RequestOptions:
    """The per-call extras, checked: each wrong one is refused by its parameter's name."""
    headers: dict[str, str] = {}
    for name, value in _mapping("extra_headers", extra_headers).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidParameterError(
                f"extra_headers must map str to str, not {name!r}: {type(value).__name__}"
            )
        headers[name] = value
    try:
        per_call = None if timeout is None else make_timeout(timeout)
    except InvalidParameterError:
        raise InvalidParameterError(
            f"{timeout_name} must be seconds > 0 or an httpx.Timeout, not {timeout!r}"
        ) from None
    return RequestOptions(
        headers=headers, query=dict(_mapping("extra_query", extra_query)), timeout=per_call
    )


def _mapping(name: str, value: object) -> Mapping[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidParameterError(f"{name} must be a mapping, not {type(value).__name__}")
    return value


NO_OPTIONS: Final[RequestOptions] = RequestOptions()


@attrs.frozen
class ConnectionPool:
    """The transports one client and every ``with_options`` copy of it share.

    ``direct`` carries what no proxy mount claims; ``mounts`` are the environment's proxy
    patterns (``None``: ``NO_PROXY``, go direct), as httpx would mount them itself.
    """

    direct: httpx.BaseTransport | httpx.AsyncBaseTransport
    mounts: dict[str, httpx.BaseTransport | httpx.AsyncBaseTransport | None] = attrs.field(
        factory=dict
    )


def sync_pool(
    transport: httpx.BaseTransport | None = None, http_client: httpx.Client | None = None
) -> ConnectionPool:
    """The connections of a ``ModelGates``: the user's transport or client, else the
    facade's own pool with the environment's proxies."""
    return _pool(transport, http_client, httpx.Client, ThroughClient, large_read_transport)


def async_pool(
    transport: httpx.AsyncBaseTransport | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> ConnectionPool:
    """``sync_pool`` for ``AsyncModelGates``."""
    return _pool(
        transport, http_client, httpx.AsyncClient, AsyncThroughClient, async_large_read_transport
    )


def _pool(
    transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None,
    http_client: object,
    client_class: type[httpx.Client] | type[httpx.AsyncClient],
    through: Callable[[Any], httpx.BaseTransport | httpx.AsyncBaseTransport],
    own: Callable[[httpx.Proxy | None], httpx.BaseTransport | httpx.AsyncBaseTransport],
) -> ConnectionPool:
    if transport is not None and http_client is not None:
        raise InvalidParameterError("pass transport= or http_client=, not both")
    if http_client is not None:
        if not isinstance(http_client, client_class):
            raise InvalidParameterError(
                f"http_client must be an httpx.{client_class.__name__}, "
                f"not {type(http_client).__name__}"
            )
        return ConnectionPool(through(http_client))
    if transport is not None:
        return ConnectionPool(transport)
    mounts: dict[str, httpx.BaseTransport | httpx.AsyncBaseTransport | None] = {
        pattern: None if url is None else own(httpx.Proxy(url))
        for pattern, url in get_environment_proxies().items()
    }
    return ConnectionPool(own(None), mounts)


def _with_client_headers(client: httpx.Client | httpx.AsyncClient, request: httpx.Request) -> None:
    """The user's client's default headers, under the facade's own."""
    for name, value in client.headers.multi_items():
        request.headers.setdefault(name, value)


class ThroughClient(httpx.BaseTransport):
    """Sends each exchange through a user's configured ``httpx.Client``: its proxies and
    mounts, CA and client certificates, event hooks and default headers apply; the
    facade's auth (origin-bound key), redirects, retries, timeouts and errors wrap it.

    Redirects stay with the facade's client (each hop gets its own auth decision), and the
    user's own ``auth`` is not applied (the key is the facade's). Closing the facade
    leaves the user's client open: whoever made it closes it.
    """

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _with_client_headers(self._client, request)
        return self._client.send(request, stream=True, auth=None, follow_redirects=False)


class AsyncThroughClient(httpx.AsyncBaseTransport):
    """``ThroughClient`` for a user's ``httpx.AsyncClient``."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _with_client_headers(self._client, request)
        return await self._client.send(request, stream=True, auth=None, follow_redirects=False)


@attrs.frozen
class ClientConfig:
    """What every request of one facade client shares."""

    base_url: httpx.URL
    key: APIKey
    timeout: httpx.Timeout
    retry: RetryPolicy
    #: Where ``base_url`` came from (see ``SOURCE_EXTENSION``).
    base_url_source: str | None = "base_url"

    def _client_kwargs(self) -> dict[str, object]:
        return {
            "base_url": self.base_url,
            "auth": OriginBearerAuth(self.key, self.base_url),
            "timeout": self.timeout,
            "headers": {"User-Agent": USER_AGENT},
            "follow_redirects": True,
            "trust_env": True,
        }

    def sync_clients(self, pool: ConnectionPool) -> tuple[httpx.Client, httpx.Client]:
        """Two httpx clients on ``pool``, each of its transports behind this configuration's
        retries: one for streams, one for JSON calls, which raises the facade's errors on
        4xx/5xx. Closing them closes the pool."""

        def retrying(inner: Any) -> httpx.BaseTransport:
            assert isinstance(inner, httpx.BaseTransport)
            sourced = _SourcedTransport(inner, self.base_url_source)
            return RetryingTransport(LoggedTransport(sourced), self.retry)

        transport = retrying(pool.direct)
        mounts = {k: None if t is None else retrying(t) for k, t in pool.mounts.items()}
        kwargs = self._client_kwargs()
        stream = httpx.Client(transport=transport, mounts=mounts, **kwargs)  # type: ignore[arg-type]
        hooks = {"response": [raise_for_status]}
        json = httpx.Client(transport=transport, mounts=mounts, event_hooks=hooks, **kwargs)  # type: ignore[arg-type]
        return stream, json

    def async_clients(self, pool: ConnectionPool) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        def retrying(inner: Any) -> httpx.AsyncBaseTransport:
            assert isinstance(inner, httpx.AsyncBaseTransport)
            sourced = _AsyncSourcedTransport(inner, self.base_url_source)
            return AsyncRetryingTransport(AsyncLoggedTransport(sourced), self.retry)

        transport = retrying(pool.direct)
        mounts = {k: None if t is None else retrying(t) for k, t in pool.mounts.items()}
        kwargs = self._client_kwargs()
        stream = httpx.AsyncClient(transport=transport, mounts=mounts, **kwargs)  # type: ignore[arg-type]
        hooks = {"response": [araise_for_status]}
        json = httpx.AsyncClient(
            transport=transport,
            mounts=mounts,
            event_hooks=hooks,
            **kwargs,  # type: ignore[arg-type]
        )
        return stream, json


#: Bytes asked of the socket per read on the facade's own connections. httpcore asks for
#: 64 KiB; on a fast link the per-read cost (h11 parsing, a chunk through httpx) then bounds
#: throughput. Measured on loopback (make bench): 64 KiB ~2.1 GB/s, 1 MiB ~2.8 GB/s, while
#: 4 MiB is slower again (each read allocates a buffer that big).
READ_SIZE: Final = 1024 * 1024


class _ReadSizer:
    """How much to ask of the socket: grows to ``READ_SIZE`` while reads come back full.

    Reads start at the size httpcore asks (64 KiB) and double each time the socket fills
    one, so a large body is read 1 MiB at a time while a small JSON answer never pays for
    a 1 MiB buffer (measured: a fixed 1 MiB read adds about 20 us to every small request).
    """

    def __init__(self) -> None:
        self._size = 0

    def ask(self, max_bytes: int) -> int:
        return max(max_bytes, self._size)

    def got(self, asked: int, received: int, max_bytes: int) -> None:
        if received == asked:
            self._size = min(asked * 2, READ_SIZE)
        elif received < asked // 4:
            self._size = max_bytes


class _LargeReadStream(httpcore.NetworkStream):
    """A socket stream whose reads are sized by ``_ReadSizer``. Its type is also how
    ``_fastbody`` knows a connection is the facade's own (and may read a body from it)."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream
        self._sizer = _ReadSizer()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        size = self._sizer.ask(max_bytes)
        data = self._stream.read(size, timeout)
        self._sizer.got(size, len(data), max_bytes)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _LargeReadStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _AsyncLargeReadStream(httpcore.AsyncNetworkStream):
    """``_LargeReadStream`` for the async pool: fewer, larger reads mean fewer trips
    through the event loop (measured: 32 KiB average reads, the loop's own cost dominant)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._sizer = _ReadSizer()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        size = self._sizer.ask(max_bytes)
        data = await self._stream.read(size, timeout)
        self._sizer.got(size, len(data), max_bytes)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _AsyncLargeReadStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _LargeReadBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _LargeReadStream(
            self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _LargeReadStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _AsyncLargeReadBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _AsyncLargeReadStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(path, timeout, socket_options)
        return _AsyncLargeReadStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def large_read_transport(proxy: httpx.Proxy | None = None) -> httpx.HTTPTransport:
    """httpx's own transport (through ``proxy``, if any), with reads sized by
    ``_ReadSizer`` on its connections only.

    httpx does not expose httpcore's ``network_backend``; the pool's is wrapped in place.
    If a future httpcore moves it, this degrades to the default read size (slower, never
    wrong), and ``tests/test_transport.py`` says so.
    """
    transport = httpx.HTTPTransport(proxy=proxy)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _LargeReadBackend(backend)  # type: ignore[union-attr]
    return transport


def async_large_read_transport(proxy: httpx.Proxy | None = None) -> httpx.AsyncHTTPTransport:
    """``large_read_transport`` for ``httpx.AsyncClient``."""
    transport = httpx.AsyncHTTPTransport(proxy=proxy)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.AsyncNetworkBackend):
        pool._network_backend = _AsyncLargeReadBackend(backend)  # type: ignore[union-attr]
    return transport


def raise_for_status(response: httpx.Response) -> None:
    """Response hook: an error status becomes the facade's exception, whatever the body
    (before generated code would try to parse an HTML page as JSON)."""
    if response.is_error:
        response.read()
        raise status_error(response.status_code, response.headers, response.content)


async def araise_for_status(response: httpx.Response) -> None:
    if response.is_error:
        await response.aread()
        raise status_error(response.status_code, response.headers, response.content)


class _SourcedTransport(httpx.BaseTransport):
    """Marks each request with where its base URL came from (``SOURCE_EXTENSION``)."""

    def __init__(self, inner: httpx.BaseTransport, source: str | None) -> None:
        self._inner = inner
        self._source = source

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions[SOURCE_EXTENSION] = self._source
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class _AsyncSourcedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, source: str | None) -> None:
        self._inner = inner
        self._source = source

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions[SOURCE_EXTENSION] = self._source
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def connection_error(exc: httpx.TransportError) -> APIConnectionError:
    """The facade's error for an httpx transport failure (the request never got an answer):
    which request, and where its base URL came from, so the message says what to check."""
    detail = str(exc) or type(exc).__name__
    try:
        request: httpx.Request | None = exc.request
    except RuntimeError:  # raised outside a client: no request attached
        request = None
    timed_out = isinstance(exc, httpx.TimeoutException)
    what = "timed out" if timed_out else "connection failed"
    if request is not None:
        source = request.extensions.get(SOURCE_EXTENSION, "base_url")
        where = argument("base_url") if source == "base_url" else _named(source)
        origin_of = f"base URL from {where}" if source is not None else where
        what += f" {'on' if timed_out else 'to'} {describe(request)} ({origin_of})"
    message = f"{what} ({type(exc).__name__}): {detail}"
    return APITimeoutError(message) if timed_out else APIConnectionError(message)
