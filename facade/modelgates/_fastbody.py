"""The download fast path: a plain ``Content-Length`` body read straight from the socket.

Why: through httpx a body crosses h11's receive buffer, a fresh ``bytes`` per read and
several Python layers per chunk; measured (``make bench``), that keeps a sync download at
about 0.7x curl and an async one at about 0.3x, at three times curl's CPU per GiB. Once
httpx has parsed the headers, a body of known length on a plain connection is only bytes:
here they are received with ``recv_into`` (``MSG_WAITALL``: one system call per MiB) into a
few reused 1 MiB buffers and written from memoryviews; the sha256 runs on a second thread
(``_files.BackgroundHasher``), which hands each buffer back when it is hashed.

When it applies (``why_not`` names the first reason it does not, and the caller takes the
general path, httpx's own ``iter_raw``): a plain-HTTP, HTTP/1.1, identity-encoded body with a
``Content-Length``, on the facade's own connection pool (``_transport.large_read_transport``:
not a proxy, not another transport), not yet started, under asyncio's selector event loop
for the async client (not trio, uvloop or the Windows proactor). It relies on httpx, httpcore,
h11 and anyio internals, each named in the reason when it is missing, so an upgrade that
moves one makes downloads take the general path (slower, never wrong) and
``tests/test_fastbody.py`` fails naming what moved.

What h11 (and anyio, for async) had already read past the headers is taken first. A
download's connection is closed afterwards, never pooled: httpcore never saw the body, so
its state is no longer the truth (``close`` does it; httpcore's own response close would
too, as the exchange never reached DONE, and ``tests/test_fastbody.py`` checks the pool is
empty). A part of a parallel download, read to its end, instead hands its connection back
(``hand_back``: h11 and anyio set to where reading the body themselves would have left
them), so the next part goes out on the same socket; a part may also write its next
request before its body ends (``NextAnswer``: HTTP/1.1 pipelining) and read that answer's
head itself, with h11.

Async: the event loop has stopped reading the socket (anyio pauses it between reads), so a
worker thread reads a duplicate of its file descriptor; the driver hands the body to the
thread in slices of ``SLICE_SECONDS``, so cancellation and progress land between slices.
Sync and async drive the same ``FastBody.pump``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

import httpcore
import httpx

from ._errors import APIConnectionError, APITimeoutError

logger = logging.getLogger("modelgates")

#: Size of each reused receive buffer (the bench's sweet spot, as for ``_transport.READ_SIZE``).
BUFFER_SIZE: Final = 1024 * 1024
#: Buffers in flight: one being received while the hasher works on the others.
BUFFERS: Final = 4
#: One ``pump`` call returns after about this long, so the caller can report progress and
#: (async) notice cancellation; a slice costs one thread hop, negligible at this length.
SLICE_SECONDS: Final = 0.05

_WAITALL: Final = getattr(socket, "MSG_WAITALL", 0)


class Buffers:
    """Reused buffers of ``size`` bytes, at most ``most`` of them: ``take`` gives one back
    from ``give``, else a new one while fewer than ``most`` exist, else waits for one. What
    a reader holds then does not grow with what it reads (a body's receive buffers, the
    parts of a parallel download sharing theirs, the blocks its sha256 reads back)."""

    def __init__(self, size: int, most: int) -> None:
        self._size = size
        self._most = most
        self._made = 0
        self._lock = threading.Lock()
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()

    def take(self) -> bytearray:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                if self._made < self._most:
                    self._made += 1
                    return bytearray(self._size)
        return self._free.get()

    def give(self, buffer: bytearray) -> None:
        self._free.put(buffer)


def _broken(exc: OSError) -> APIConnectionError:
    return APIConnectionError(f"connection failed ({type(exc).__name__}): {exc}")


class Sink(Protocol):
    """Where a body goes (``_files.AtomicWriter``, or a part writer of a parallel download):
    ``release`` is called once ``chunk``'s buffer may be reused."""

    def write(
        self, chunk: bytes | bytearray | memoryview, release: Callable[[], None] | None = None
    ) -> None: ...


class _Wire:
    """What ``_inspect`` found behind a response: the connection and where its body is."""

    def __init__(
        self,
        connection: Any,
        sock: Any,
        prefix: list[bytes],
        remaining: int,
        read_timeout: float | None,
        protocol: Any = None,
    ) -> None:
        self.connection = connection  # httpcore's (Async)HTTP11Connection
        self.sock = sock
        self.prefix = prefix
        self.remaining = remaining
        self.read_timeout = read_timeout
        #: Async: anyio's protocol, whose queue of bytes read ahead went into ``prefix``.
        self.protocol = protocol


def _attr(obj: object, name: str, owner: str) -> Any:
    """``obj.name``, or a ``_Missing`` naming what an upgrade removed."""
    value = getattr(obj, name, _MISSING)
    if value is _MISSING:
        raise _Missing(f"{owner} has no attribute {name!r}")
    return value


_MISSING = object()


class _Missing(Exception):
    pass


def _headers_reason(response: httpx.Response) -> str | None:
    if response.http_version != "HTTP/1.1":
        return f"{response.http_version}, not HTTP/1.1"
    if response.request.url.scheme != "http":
        return "TLS (https)"
    if "transfer-encoding" in response.headers:
        return f"Transfer-Encoding: {response.headers['transfer-encoding']} (chunked)"
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        return f"Content-Encoding: {encoding} (compressed)"
    length = response.headers.get("content-length", "")
    if not length.isdigit():
        return "no Content-Length"
    if response.is_stream_consumed or response.num_bytes_downloaded:
        return "the body was already started"
    return None


def _inspect(response: httpx.Response) -> _Wire | str:
    reason = _headers_reason(response)
    if reason is not None:
        return reason
    try:
        return _inspect_connection(response)
    except _Missing as exc:
        return f"the download fast path no longer applies: {exc}"


def _inspect_connection(response: httpx.Response) -> _Wire | str:
    # Imported here: the sync and async halves of httpcore, and our own stream wrappers.
    from httpcore._async import connection_pool as async_pool
    from httpcore._async import http11 as async_http11
    from httpcore._sync import connection_pool as sync_pool
    from httpcore._sync import http11 as sync_http11
    from httpx._transports.default import AsyncResponseStream, ResponseStream

    from ._transport import _AsyncLargeReadStream, _LargeReadStream

    bound = _attr(response, "stream", "httpx Response")
    wrapped = _attr(bound, "_stream", f"httpx {type(bound).__name__}")
    if not isinstance(wrapped, ResponseStream | AsyncResponseStream):
        return f"another transport ({type(wrapped).__name__}, not httpx's HTTP transport)"
    pool_stream = _attr(wrapped, "_httpcore_stream", f"httpx {type(wrapped).__name__}")
    asynchronous = isinstance(pool_stream, async_pool.PoolByteStream)
    if not asynchronous and not isinstance(pool_stream, sync_pool.PoolByteStream):
        return f"httpcore answered with {type(pool_stream).__name__}, not PoolByteStream"
    pool = _attr(pool_stream, "_pool", "httpcore PoolByteStream")
    if type(pool) not in (httpcore.ConnectionPool, httpcore.AsyncConnectionPool):
        return f"a proxy ({type(pool).__name__})"
    byte_stream = _attr(pool_stream, "_stream", "httpcore PoolByteStream")
    http11 = async_http11 if asynchronous else sync_http11
    if not isinstance(byte_stream, http11.HTTP11ConnectionByteStream):
        return f"httpcore {type(byte_stream).__name__} is not an HTTP/1.1 body"
    connection = _attr(byte_stream, "_connection", "httpcore HTTP11ConnectionByteStream")
    network = _attr(connection, "_network_stream", "httpcore HTTP11Connection")
    ours = _AsyncLargeReadStream if asynchronous else _LargeReadStream
    if type(network) is not ours:
        return f"another connection pool ({type(network).__name__}, not the facade's own)"
    state = _attr(connection, "_h11_state", "httpcore HTTP11Connection")
    import h11

    if state.our_state is not h11.DONE or state.their_state is not h11.SEND_BODY:
        return f"h11 is in state {state.our_state}/{state.their_state}, not DONE/SEND_BODY"
    reader = _attr(state, "_reader", "h11 Connection")
    if type(reader).__name__ != "ContentLengthReader":
        return f"h11 reads the body with {type(reader).__name__}, not ContentLengthReader"
    remaining = _attr(reader, "_remaining", "h11 ContentLengthReader")
    buffered = bytes(_attr(state, "_receive_buffer", "h11 Connection"))
    inner = _attr(network, "_stream", f"modelgates {type(network).__name__}")
    prefix = [buffered]
    protocol = None
    if asynchronous:
        found = _asyncio_socket(inner, prefix)
        if isinstance(found, str):
            return found
        sock, protocol = found
    else:
        sock = _attr(inner, "_sock", f"httpcore {type(inner).__name__}")
        if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket):
            return f"the connection is a {type(sock).__name__}, not a plain socket"
    prefix = [p for p in prefix if p]
    if sum(map(len, prefix)) > remaining:
        return "more bytes arrived than the body holds"
    timeout = response.request.extensions.get("timeout", {}).get("read")
    return _Wire(connection, sock, prefix, remaining, timeout, protocol)


def _asyncio_socket(inner: object, prefix: list[bytes]) -> tuple[Any, Any] | str:
    """The raw socket under httpcore's anyio stream and anyio's protocol, with what the
    protocol had read ahead appended to ``prefix``; or why there is none to read from
    another thread."""
    anyio_stream = _attr(inner, "_stream", f"httpcore {type(inner).__name__}")
    if type(anyio_stream).__module__ != "anyio._backends._asyncio":
        return f"the async backend is not asyncio ({type(anyio_stream).__module__})"
    transport = _attr(anyio_stream, "_transport", "anyio SocketStream")
    protocol = _attr(anyio_stream, "_protocol", "anyio SocketStream")
    if type(transport).__module__ != "asyncio.selector_events":
        return f"the event loop's transport is {type(transport).__name__}, not asyncio's selector"
    if transport.is_closing() or transport.is_reading() or transport.get_write_buffer_size():
        return "the event loop is still using the socket"
    if _attr(protocol, "exception", "anyio StreamProtocol") is not None:
        return "the connection already failed"
    prefix.extend(_attr(protocol, "read_queue", "anyio StreamProtocol"))
    _attr(protocol, "read_event", "anyio StreamProtocol")  # cleared by ``hand_back``
    raw = transport.get_extra_info("socket")
    if raw is None:
        return "the event loop's transport has no socket"
    return raw, protocol


def why_not(response: httpx.Response) -> str | None:
    """Why ``response``'s body cannot take the fast path, or None when it can."""
    found = _inspect(response)
    return found if isinstance(found, str) else None


def open_body(response: httpx.Response, buffers: Buffers | None = None) -> FastBody | None:
    """The fast body of ``response``, or None (then read it with httpx; the reason is
    logged at DEBUG). The caller ends it with ``close()`` (sync) or ``aclose()``.
    ``buffers``: where its receive buffers come from and go back to, shared by bodies one
    after another (a parallel download's parts), so no body allocates its own."""
    found = _inspect(response)
    if isinstance(found, str):
        logger.debug("download fast path does not apply: %s", found)
        return None
    asynchronous = isinstance(response.stream, httpx.AsyncByteStream)
    return FastBody(found, asynchronous=asynchronous, buffers=buffers)


def _receive_timeout(sock: socket.socket, seconds: float | None) -> None:
    """Blocking reads that give up after ``seconds`` (``SO_RCVTIMEO``): unlike a Python
    socket timeout, no poll() before each read, and ``MSG_WAITALL`` fills a whole buffer."""
    sock.setblocking(True)
    if seconds is None:
        seconds = 0.0  # no limit
    whole = int(seconds)
    micro = max(int((seconds - whole) * 1_000_000), 0 if seconds == 0 else 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("@ll", whole, micro))


class FastBody:
    """The rest of one response body, read straight from its socket (module docstring)."""

    def __init__(
        self,
        wire: _Wire,
        *,
        asynchronous: bool,
        buffers: Buffers | None = None,
    ) -> None:
        self._wire = wire
        self._asynchronous = asynchronous
        self._prefix = wire.prefix
        #: Body bytes not yet handed to the sink.
        self.remaining = wire.remaining
        self._length = wire.remaining
        self._read_timeout = wire.read_timeout
        # The async socket belongs to the event loop: the worker reads a duplicate of it.
        if asynchronous:
            raw = wire.sock
            self._sock = socket.socket(raw.family, raw.type, raw.proto, fileno=os.dup(raw.fileno()))
        else:
            self._sock = wire.sock
        self._buffers = Buffers(BUFFER_SIZE, BUFFERS) if buffers is None else buffers
        self._last_bytes = time.monotonic()
        self._started = False
        self._moved = 0
        self._closed = False
        #: Requests written ahead on this socket whose answers are not being read yet.
        self._ahead = 0

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def take_moved(self) -> int:
        """Bytes handed to the sink since the last call (counted even when ``pump`` raised)."""
        moved, self._moved = self._moved, 0
        return moved

    def pump(self, sink: Sink, seconds: float | None = SLICE_SECONDS) -> None:
        """Move body bytes to ``sink`` until the body is done or about ``seconds`` passed
        (None: until done; the first call returns with its first bytes). Raises
        ``APIConnectionError`` when the connection breaks, ``APITimeoutError`` after the read
        timeout without a byte; what arrived before is in ``sink`` either way, and counted
        by ``take_moved``."""
        while self._prefix:
            chunk = self._prefix.pop(0)[: self.remaining]
            self.remaining -= len(chunk)  # before the sink, which may say it has enough
            self._moved += len(chunk)
            sink.write(chunk)
        if not self.remaining:
            return
        sock, timeout = self._sock, self._read_timeout
        wait = timeout if seconds is None else seconds if timeout is None else min(timeout, seconds)
        # The first call returns with its first bytes: progress starts with them.
        deadline = (
            None if seconds is None else time.monotonic() + (seconds if self._started else 0.0)
        )
        self._started = True
        _receive_timeout(sock, wait)
        try:
            while self.remaining:
                buffer = self._buffers.take()
                view = memoryview(buffer)[: min(BUFFER_SIZE, self.remaining)]
                got, idle, closed = 0, False, False
                try:
                    while got < len(view):
                        n = sock.recv_into(view[got:], 0, _WAITALL)
                        if n == 0:
                            closed = True
                            break
                        got += n
                        if deadline is not None and time.monotonic() >= deadline:
                            break  # the slice is over: hand back what this buffer has
                except (BlockingIOError, TimeoutError):
                    idle = True
                except OSError as exc:
                    self._hand(sink, buffer, view, got)
                    raise _broken(exc) from exc
                self._hand(sink, buffer, view, got)
                now = time.monotonic()
                if got:
                    self._last_bytes = now
                if idle:
                    if timeout is not None and now - self._last_bytes >= timeout:
                        raise APITimeoutError(
                            f"timed out (ReadTimeout): no bytes for {timeout:g} s"
                            f" ({self._length - self.remaining} of {self._length} received)"
                        )
                    if seconds is not None:
                        # A pause: hand back now, and return after the first bytes that end it.
                        self._started = False
                        break
                elif closed:
                    raise APIConnectionError(
                        "connection failed (RemoteProtocolError): peer closed connection"
                        " without sending complete message body"
                        f" (received {self._length - self.remaining} bytes,"
                        f" expected {self._length})"
                    )
                if deadline is not None and now >= deadline:
                    break
        finally:
            if self._asynchronous:  # the duplicate shares the loop's file: give it back as it was
                sock.setblocking(False)

    def _hand(self, sink: Sink, buffer: bytearray, view: memoryview, got: int) -> None:
        if got:
            self.remaining -= got
            self._moved += got
            sink.write(view[:got], functools.partial(self._buffers.give, buffer))
        else:
            self._buffers.give(buffer)

    def hand_back(self) -> bool:
        """After the whole body, give the connection back to httpcore for its next request
        (keep-alive: a parallel download's next range goes out on the same socket, its TCP
        window already open). httpcore never saw the body, so this makes its state what
        reading the body itself would have: h11 at the end of the message with nothing
        buffered (the bytes it held, and anyio's read-ahead, were this body's start).
        Returns False when the body is not complete, the server announced a close, or an
        internal moved: then ``close``/``aclose`` it. Async: call it on the event loop's
        thread (the socket it reads is then closed: only the duplicate)."""
        if self._closed or self.remaining or self._prefix or self._ahead:
            return False
        import h11

        try:
            state = _attr(self._wire.connection, "_h11_state", "httpcore HTTP11Connection")
            reader = _attr(state, "_reader", "h11 Connection")
            buffered = _attr(state, "_receive_buffer", "h11 Connection")
            extract = _attr(buffered, "maybe_extract_at_most", "h11 ReceiveBuffer")
            _attr(reader, "_remaining", "h11 ContentLengthReader")
        except _Missing as exc:
            logger.debug("a fast body's connection is closed, not reused: %s", exc)
            return False
        if type(reader).__name__ != "ContentLengthReader" or state.their_state is not h11.SEND_BODY:
            return False
        extract(len(buffered))
        protocol = self._wire.protocol
        if protocol is not None:  # what it had read ahead was taken; it must wait anew
            protocol.read_queue.clear()
            protocol.read_event.clear()
        reader._remaining = 0
        try:
            event = state.next_event()
        except h11.RemoteProtocolError:
            return False
        # The server's state after the message (not DONE when it announced a close).
        if not isinstance(event, h11.EndOfMessage) or state.states[h11.SERVER] is not h11.DONE:
            return False
        self._closed = True
        _receive_timeout(self._sock, None)  # httpcore sets its own timeout on each call
        if self._asynchronous:
            self._sock.setblocking(False)
            self._sock.close()  # the duplicate
        return True

    def send(self, data: bytes) -> None:
        """Write ``data`` (a request: ``NextAnswer``) on this body's socket."""
        sock = self._sock
        self._ahead += 1  # from the first byte on: never handed back with half a request
        sock.setblocking(True)  # async: between reads the loop's file is non-blocking
        try:
            sock.sendall(data)
        except OSError as exc:
            raise _broken(exc) from exc
        finally:
            if self._asynchronous:
                sock.setblocking(False)

    def receive(self, seconds: float) -> bytes | None:
        """The next bytes on the socket (up to 64 KiB); b"" at EOF, None when none came
        within ``seconds``."""
        sock = self._sock
        _receive_timeout(sock, seconds)
        try:
            return sock.recv(65536)
        except (BlockingIOError, TimeoutError):
            return None
        except OSError as exc:
            raise _broken(exc) from exc
        finally:
            if self._asynchronous:
                sock.setblocking(False)

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    def next_body(self, prefix: list[bytes], remaining: int) -> None:
        """Go on with the body of the answer to a request written ahead: ``prefix`` is what
        arrived with its headers, ``remaining`` the rest of its length."""
        self._prefix = [p for p in prefix if p]
        self.remaining = self._length = remaining + sum(map(len, self._prefix))
        self._started = False
        self._last_bytes = time.monotonic()
        self._ahead -= 1

    def close(self) -> None:
        """Sync: close the connection (httpcore never saw the body: it must not be reused)."""
        if not self._closed:
            self._closed = True
            self._wire.connection.close()

    async def aclose(self) -> None:
        """Async: close our duplicate, then the connection, even when cancelled."""
        if not self._closed:
            self._closed = True
            self._sock.close()
            import anyio

            with anyio.CancelScope(shield=True), contextlib.suppress(OSError):
                await self._wire.connection.aclose()


class NextAnswer:
    """A range request written on a fast body's socket before that body ends (HTTP/1.1
    pipelining): the server answers it right after the current answer, so the connection
    does not stand idle for a round trip between two ranges. The request is the one httpx
    sent for the current answer (same URL and headers, the API key among them, on the same
    connection to the same origin) with ``headers`` replaced. Once the current body is done,
    ``read_head`` reads the answer's status and headers; the caller either takes its body
    (``FastBody.next_body``) or closes the connection (the body is left unread)."""

    def __init__(self, body: FastBody, request: httpx.Request, headers: dict[str, str]) -> None:
        import h11

        self._h11 = h11.Connection(h11.CLIENT)
        replaced = {name.lower().encode() for name in headers}
        raw = [(k, v) for k, v in request.headers.raw if k.lower() not in replaced]
        raw += [(k.encode(), v.encode()) for k, v in headers.items()]
        data = self._h11.send(
            h11.Request(method=request.method, target=request.url.raw_path, headers=raw)
        )
        data = (data or b"") + (self._h11.send(h11.EndOfMessage()) or b"")
        body.send(data)

    def read_head(
        self, body: FastBody, wait: float, stopping: Callable[[], bool]
    ) -> tuple[int, httpx.Headers, list[bytes], int, bool] | None:
        """Status, headers, the body bytes that came with them, the rest of the body's
        length, and whether the server closes the connection after it; None for an answer
        whose body is not a plain ``Content-Length`` one, or when ``stopping()``. Raises
        ``APIConnectionError`` when no answer comes (EOF, or nothing for ``wait`` s)."""
        import h11

        conn = self._h11
        waited, step = 0.0, 10 * SLICE_SECONDS  # ``stopping`` is looked at this often
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    if stopping():
                        return None
                    data = body.receive(step)
                    if data is None:
                        waited += step
                        if waited >= wait:
                            raise APITimeoutError(f"timed out: no answer for {wait:g} s")
                        continue
                    conn.receive_data(data)  # b"": h11 reports the close
                elif not isinstance(event, h11.InformationalResponse):
                    break
            if not isinstance(event, h11.Response):
                raise APIConnectionError(
                    "connection failed (RemoteProtocolError): the server closed the"
                    " connection without answering"
                )
            headers = httpx.Headers(list(event.headers))
            length = headers.get("content-length", "")
            if not length.isdigit() or "transfer-encoding" in headers:
                return None
            prefix: list[bytes] = []
            while isinstance(piece := conn.next_event(), h11.Data):
                prefix.append(bytes(piece.data))
        except h11.RemoteProtocolError as exc:
            raise APIConnectionError(f"connection failed (RemoteProtocolError): {exc}") from exc
        closes = event.http_version != b"1.1" or "close" in headers.get("connection", "").lower()
        rest = int(length) - sum(map(len, prefix))
        return event.status_code, headers, prefix, rest, closes
