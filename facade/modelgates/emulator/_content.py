"""What the emulator serves as video content.

A demo output is a real, small, playable MP4 shipped with the package. Large outputs are
deterministic bytes of any size, made on the fly from a seed: a pseudo-random block whose
length is not a power of two is repeated, so a body of many GB costs one block of memory and
a resume from a wrong offset cannot produce the right bytes by accident. A large *playable*
output is the demo MP4 followed by one ``free`` box of such bytes: players and ffprobe skip
``free`` boxes, so it still plays, and nothing big is ever stored.
"""

from __future__ import annotations

import functools
import hashlib
import random
import struct
from collections.abc import Iterator
from importlib import resources

#: The repeating period of generated bodies: 1 MiB plus an odd amount.
PERIOD = 1024 * 1024 + 4099
#: The largest slice handed to a socket write at once.
MAX_CHUNK = 256 * 1024


@functools.cache
def demo_video() -> bytes:
    """The bundled demo MP4 (H.264 + AAC, 320x180, 3 s)."""
    return resources.files(__package__).joinpath("demo.mp4").read_bytes()


@functools.lru_cache(maxsize=8)
def _block(seed: int) -> memoryview:
    block = random.Random(seed).randbytes(PERIOD)  # noqa: S311 - test data, not secrets
    # One period plus a chunk, so any window of MAX_CHUNK bytes is a slice, never a copy.
    return memoryview(block + block[:MAX_CHUNK])


def generated_chunks(seed: int, start: int, end: int) -> Iterator[memoryview]:
    """Bytes ``[start, end)`` of the generated body for ``seed``, in slices of at most
    ``MAX_CHUNK``."""
    block = _block(seed)
    offset = start
    while offset < end:
        i = offset % PERIOD
        n = min(MAX_CHUNK, end - offset)
        yield block[i : i + n]
        offset += n


def generated_sha256(seed: int, size: int) -> str:
    """The sha256 of a whole generated body, for tests to check a download against."""
    digest = hashlib.sha256()
    for chunk in generated_chunks(seed, 0, size):
        digest.update(chunk)
    return digest.hexdigest()


def _free_box_header(length: int) -> bytes:
    """The header of a ``free`` box of ``length`` bytes in all (64-bit size past 4 GiB)."""
    if length < 2**32:
        return struct.pack(">I4s", length, b"free")
    return struct.pack(">I4sQ", 1, b"free", length)


def smallest_playable_size() -> int:
    """The smallest size above the demo video's that a playable output can have (the demo
    plus an empty ``free`` box); the demo's own size is allowed too."""
    return len(demo_video()) + 8


def playable_chunks(seed: int, size: int, start: int, end: int) -> Iterator[memoryview]:
    """Bytes ``[start, end)`` of a ``size``-byte playable MP4: the demo video, then a ``free``
    box filled with the generated body for ``seed``."""
    demo = demo_video()
    padding = size - len(demo)
    if padding != 0 and padding < 8:
        raise ValueError(f"a playable output is {len(demo)} or at least {len(demo) + 8} bytes")
    head = demo + (_free_box_header(padding) if padding else b"")
    if start < len(head):
        yield memoryview(head)[start : min(end, len(head))]
    if end > len(head):
        yield from generated_chunks(seed, max(start, len(head)) - len(head), end - len(head))
