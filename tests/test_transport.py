"""The facade's own transport: large reads for large bodies, small ones for small answers."""

from __future__ import annotations

import httpcore

from modelgates._transport import (
    READ_SIZE,
    _LargeReadBackend,
    _LargeReadStream,
    large_read_transport,
)


class _FakeStream(httpcore.NetworkStream):
    """Answers every read with as many bytes as asked, up to what is left."""

    def __init__(self, available: list[int]) -> None:
        self.available = available
        self.asked: list[int] = []

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.asked.append(max_bytes)
        n = min(max_bytes, self.available.pop(0))
        return b"x" * n


def test_reads_grow_while_full_and_shrink_for_small_answers() -> None:
    fake = _FakeStream([10**9] * 8 + [100, 10**9])
    stream = _LargeReadStream(fake)
    for _ in range(10):
        stream.read(64 * 1024)
    kib = [n // 1024 for n in fake.asked]
    assert kib == [64, 128, 256, 512, 1024, 1024, 1024, 1024, 1024, 64]
    assert max(fake.asked) == READ_SIZE


def test_the_facade_pool_uses_the_large_read_backend() -> None:
    """httpx does not expose httpcore's network backend: if a new httpx or httpcore moves
    it, downloads get slower (never wrong), and this test says why."""
    transport = large_read_transport()
    assert isinstance(transport._pool._network_backend, _LargeReadBackend)
    transport.close()


def test_other_httpx_clients_in_the_process_are_untouched() -> None:
    import httpx

    plain = httpx.HTTPTransport()
    assert not isinstance(plain._pool._network_backend, _LargeReadBackend)
    assert httpcore._sync.http11.HTTP11Connection.READ_NUM_BYTES == 64 * 1024
    plain.close()
