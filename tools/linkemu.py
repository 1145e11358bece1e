"""A user-space link emulator: a TCP proxy on loopback that behaves like a real path.

No ``tc``/netem here (the kernels these run on do not offer it to us), so the link is
emulated in the proxy, per byte that crosses it:

- one-way delay in each direction (``delay`` seconds; the round trip is twice that);
- a token bucket per connection (``conn_rate`` bytes/s) and one for the whole link
  (``total_rate``), each with a burst of ``BURST`` bytes: what a CDN's per-connection cap
  and an access link look like from the client;
- bounded memory: each direction of each connection holds at most ``max_buffer`` bytes
  in flight (more waits in the kernel's socket buffers, so the sender sees backpressure);
- slow start (``slow_start``, on by default when there is a delay): each connection's
  sender starts with a window of ``INIT_WINDOW`` bytes per round trip, grows it by every
  byte it sends (doubling each round trip, as TCP's slow start does) and, after an idle
  spell longer than ``RTO``, halves it per RTO down to the initial window again (Linux's
  ``tcp_slow_start_after_idle``). The proxy's own sockets are on loopback, where the
  kernel's window opens at once: without this a new connection would be at full speed
  from its first byte, which no real path gives;
- drops: with ``drop_every`` set, connections are reset after an exponentially distributed
  number of bytes served (mean ``drop_every``, seeded), as on a flaky mobile or Wi-Fi link.

Use it from Python (``with LinkEmulator(("127.0.0.1", port), delay=0.02, ...) as link:``
then connect to ``link.port``) or as a command:
``python tools/linkemu.py --upstream 127.0.0.1:8080 --delay-ms 20 --conn-rate 25e6``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import random
import signal
import socket
import sys
import threading
import time
from typing import Any

#: Bytes a bucket may hold beyond its rate (a short burst, as routers allow).
BURST = 64 * 1024
#: Bytes read from a socket at once.
READ_SIZE = 64 * 1024
#: TCP's initial window (RFC 6928: ten segments of 1448 bytes) and the idle time after
#: which a sender restarts slow start (Linux: its minimum retransmission timeout).
INIT_WINDOW = 10 * 1448
RTO = 0.2


class TokenBucket:
    """``rate`` bytes/s; ``take(n)`` waits until ``n`` tokens are there. ``None``: no cap."""

    def __init__(self, rate: float | None, burst: int = BURST) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        assert self.rate is not None
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def take(self, n: int) -> None:
        if self.rate is None:
            return
        self._refill()
        self._tokens -= n
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / self.rate)


class SlowStart:
    """One sender's congestion window as slow start grows it: at most ``window`` bytes
    leave per round trip, the first of them at once; each byte sent grows the window by
    one (so it doubles each round trip); an idle spell of ``RTO`` or more halves it per
    RTO, down to ``INIT_WINDOW``. Reads are cut to ``room()`` bytes, so a small window
    delays only what it would not have let go yet."""

    def __init__(self, rtt: float) -> None:
        self.rtt = rtt
        self.window = float(INIT_WINDOW)
        self._free_at = time.monotonic()  # when the window lets the next bytes go
        self._last = self._free_at

    def room(self) -> int:
        return max(1448, int(self.window))

    async def take(self, n: int) -> None:
        now = time.monotonic()
        idle = now - self._last
        if idle >= RTO:
            self.window = max(float(INIT_WINDOW), self.window * 0.5 ** min(int(idle / RTO), 64))
        start = max(now, self._free_at)
        self._free_at = start + n * self.rtt / self.window
        self.window += n
        self._last = self._free_at
        if start > now:
            await asyncio.sleep(start - now)


class LinkEmulator:
    """A running link in front of ``upstream``; ``port`` is where clients connect."""

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        delay: float = 0.0,
        conn_rate: float | None = None,
        total_rate: float | None = None,
        drop_every: int | None = None,
        slow_start: bool = True,
        max_buffer: int = 4 * 1024 * 1024,
        seed: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.upstream = upstream
        self.delay = delay
        self.conn_rate = conn_rate
        self.total_rate = total_rate
        self.drop_every = drop_every
        self.slow_start = slow_start and delay > 0
        self.max_buffer = max_buffer
        self._random = random.Random(seed)  # noqa: S311 - a reproducible fault schedule
        self._host, self._port = host, port
        self._total = TokenBucket(total_rate)
        self._next_drop = self._draw_drop(0)
        #: Counters: connections accepted; bytes read from upstream (past the buckets);
        #: bytes delivered to clients (taken by the client socket's kernel buffer, so the
        #: client gets them: what a reset discards from the delay queue and the transport's
        #: buffer is not counted); connection resets made.
        self.connections = 0
        self.bytes_served = 0
        self.bytes_delivered = 0
        self.drops = 0
        self.peak_buffered = 0
        self._buffered = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    def _draw_drop(self, served: int) -> int | None:
        if not self.drop_every:
            return None
        return served + max(1, int(self._random.expovariate(1.0 / self.drop_every)))

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    # -- running -----------------------------------------------------------------------------

    def start(self) -> LinkEmulator:
        self._thread = threading.Thread(target=self._run, name="linkemu", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(
            asyncio.start_server(self._serve, self._host, self._port)
        )
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> LinkEmulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- one connection ----------------------------------------------------------------------

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # stop() cancels what is left
            await self._proxy(client_r, client_w)

    async def _proxy(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.transport.abort()
            return
        for writer in (client_w, server_w):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._writers.add(writer)
        down = TokenBucket(self.conn_rate)
        up = TokenBucket(None)
        window = SlowStart(2 * self.delay) if self.slow_start else None
        pair = (client_w, server_w)
        try:
            await asyncio.gather(
                self._direction(client_r, server_w, up, pair, served=False),
                self._direction(server_r, client_w, down, pair, served=True, window=window),
            )
        finally:
            for writer in pair:
                self._writers.discard(writer)
                writer.transport.abort()

    async def _direction(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        bucket: TokenBucket,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        *,
        served: bool,
        window: SlowStart | None = None,
    ) -> None:
        """Bytes one way: read, pay the buckets, hold ``delay``, write; bounded in flight."""
        queue: collections.deque[tuple[float, bytes]] = collections.deque()
        held = 0
        room = asyncio.Event()
        room.set()
        arrived = asyncio.Event()
        done = False

        async def deliver() -> None:
            nonlocal held
            while True:
                while not queue:
                    if done:
                        return
                    arrived.clear()
                    await arrived.wait()
                due, data = queue[0]
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                queue.popleft()
                writer.write(data)
                await writer.drain()  # the transport holds nothing after it (limits below)
                if served and not writer.transport.is_closing():
                    self.bytes_delivered += len(data)
                held -= len(data)
                self._buffered -= len(data)
                room.set()

        if served:  # drain() returns when the kernel has taken every byte written
            writer.transport.set_write_buffer_limits(high=0)
        sender = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(
                    READ_SIZE if window is None else min(READ_SIZE, window.room())
                )
                if not data:
                    break
                await bucket.take(len(data))
                if window is not None:
                    await window.take(len(data))
                if served:
                    await self._total.take(len(data))
                    if self._drop_now(len(data)):
                        for w in pair:
                            w.transport.abort()
                        return
                queue.append((time.monotonic() + self.delay, data))
                held += len(data)
                self._buffered += len(data)
                self.peak_buffered = max(self.peak_buffered, self._buffered)
                arrived.set()
                while held >= self.max_buffer:
                    room.clear()
                    await room.wait()
            done = True
            arrived.set()
            await sender
            with contextlib.suppress(OSError):
                if writer.can_write_eof():
                    writer.write_eof()
        except (ConnectionError, OSError):
            for w in pair:
                w.transport.abort()
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await sender
            self._buffered -= held if held > 0 else 0

    def _drop_now(self, n: int) -> bool:
        self.bytes_served += n
        if self._next_drop is not None and self.bytes_served >= self._next_drop:
            self.drops += 1
            self._next_drop = self._draw_drop(self.bytes_served)
            return True
        return False

    def stats(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "bytes_served": self.bytes_served,
            "bytes_delivered": self.bytes_delivered,
            "drops": self.drops,
            "peak_buffered": self.peak_buffered,
        }


def _size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    text = text.strip().lower().removesuffix("ib").removesuffix("b")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(float(text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (default: any port)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay")
    parser.add_argument("--conn-rate", type=float, help="bytes/s per connection")
    parser.add_argument("--total-rate", type=float, help="bytes/s for the whole link")
    parser.add_argument("--drop-every", type=_size, help="mean bytes between resets, e.g. 64MiB")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-slow-start",
        action="store_true",
        help="every connection at full speed from its first byte (no real path does that)",
    )
    args = parser.parse_args(argv)
    up_host, _, up_port = args.upstream.rpartition(":")
    host, _, port = args.listen.rpartition(":")
    link = LinkEmulator(
        (up_host, int(up_port)),
        delay=args.delay_ms / 1000,
        conn_rate=args.conn_rate,
        total_rate=args.total_rate,
        drop_every=args.drop_every,
        slow_start=not args.no_slow_start,
        seed=args.seed,
        host=host,
        port=int(port),
    ).start()
    print(f"linkemu: 127.0.0.1:{link.port} -> {args.upstream}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    link.stop()
    print(json.dumps(link.stats()), flush=True)  # the last line: what the link did
    return 0


if __name__ == "__main__":
    sys.exit(main())
