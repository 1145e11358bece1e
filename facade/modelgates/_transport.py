"""The httpx clients the facade sends everything through, and where the API key may go.

The key is attached by ``OriginBearerAuth`` per request, and only to requests for the base
URL's origin: a redirect to signed storage on another host never carries it (httpx strips
it on cross-origin redirects too; this does not depend on that). A base URL that would send
the key in clear text to anything but loopback is refused before any connection is tried.

Timeouts are always explicit: the generated client's default is no timeout at all.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Generator, Iterable, Mapping
from typing import Any, Final

import attrs
import httpcore
import httpx

from . import __version__
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    InsecureURLError,
    InvalidParameterError,
    status_error,
)
from ._keys import APIKey
from ._retry import AsyncRetryingTransport, RetryingTransport, RetryPolicy

DEFAULT_BASE_URL: Final = "https://modelgates.ai/api/v1"
ENV_BASE_URL: Final = "MODELGATES_BASE_URL"
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


def check_base_url(base_url: str | httpx.URL, *, allow_insecure_http: bool = False) -> httpx.URL:
    """The parsed base URL, if the API key may be sent to it."""
    try:
        url = httpx.URL(str(base_url))
    except httpx.InvalidURL as exc:
        raise InvalidParameterError(f"base_url {str(base_url)!r} is not a URL: {exc}") from None
    if url.scheme not in {"http", "https"} or not url.host:
        raise InvalidParameterError(
            f"base_url {str(base_url)!r} must be an absolute http:// or https:// URL"
        )
    if url.scheme == "http" and not is_loopback(url.host) and not allow_insecure_http:
        raise InsecureURLError(
            f"base_url {str(url)!r} is plain http to {url.host!r}, which would send the API key "
            "in clear text; use https, a loopback host, or pass allow_insecure_http=True"
        )
    # Keep a trailing slash off, so relative operation paths join under it.
    return url.copy_with(path=url.path.rstrip("/") or "/")


def resolve_base_url(base_url: str | httpx.URL | None, environ: Mapping[str, str]) -> str:
    if base_url is not None:
        return str(base_url)
    return environ.get(ENV_BASE_URL, "").strip() or DEFAULT_BASE_URL


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
class ClientConfig:
    """What every request of one facade client shares."""

    base_url: httpx.URL
    key: APIKey
    timeout: httpx.Timeout
    retry: RetryPolicy

    def _client_kwargs(self) -> dict[str, object]:
        return {
            "base_url": self.base_url,
            "auth": OriginBearerAuth(self.key, self.base_url),
            "timeout": self.timeout,
            "headers": {"User-Agent": USER_AGENT},
            "follow_redirects": True,
            "trust_env": True,
        }

    def sync_clients(
        self, transport: httpx.BaseTransport | None = None
    ) -> tuple[httpx.Client, httpx.Client]:
        """Two httpx clients on one retrying transport (one connection pool): one for
        streams, one for JSON calls, which raises the facade's errors on 4xx/5xx."""
        retrying = RetryingTransport(transport or large_read_transport(), self.retry)
        kwargs = self._client_kwargs()
        stream = httpx.Client(transport=retrying, **kwargs)  # type: ignore[arg-type]
        hooks = {"response": [raise_for_status]}
        json = httpx.Client(transport=retrying, event_hooks=hooks, **kwargs)  # type: ignore[arg-type]
        return stream, json

    def async_clients(
        self, transport: httpx.AsyncBaseTransport | None = None
    ) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        retrying = AsyncRetryingTransport(transport or async_large_read_transport(), self.retry)
        kwargs = self._client_kwargs()
        stream = httpx.AsyncClient(transport=retrying, **kwargs)  # type: ignore[arg-type]
        hooks = {"response": [araise_for_status]}
        json = httpx.AsyncClient(transport=retrying, event_hooks=hooks, **kwargs)  # type: ignore[arg-type]
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
    """A socket stream whose reads are sized by ``_ReadSizer``."""

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


def large_read_transport() -> httpx.HTTPTransport:
    """httpx's own transport, with reads sized by ``_ReadSizer`` on its connections only.

    httpx does not expose httpcore's ``network_backend``; the pool's is wrapped in place.
    If a future httpcore moves it, this degrades to the default read size (slower, never
    wrong), and ``tests/test_transport.py`` says so.
    """
    transport = httpx.HTTPTransport()
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _LargeReadBackend(backend)  # type: ignore[union-attr]
    return transport


def async_large_read_transport() -> httpx.AsyncHTTPTransport:
    """``large_read_transport`` for ``httpx.AsyncClient``."""
    transport = httpx.AsyncHTTPTransport()
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


def connection_error(exc: httpx.TransportError) -> APIConnectionError:
    """The facade's error for an httpx transport failure (the request never got an answer)."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"timed out ({type(exc).__name__}): {detail}")
    return APIConnectionError(f"connection failed ({type(exc).__name__}): {detail}")
