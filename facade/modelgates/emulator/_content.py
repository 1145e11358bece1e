"""What the emulator serves as video content.

A demo output is a real, small, playable MP4 shipped with the package. Large outputs are
deterministic bytes of any size, made on the fly from a seed: a pseudo-random block whose
length is not a power of two is repeated, so a body of many GB costs one block of memory and
a resume from a wrong offset cannot produce the right bytes by accident.
"""

from __future__ import annotations

import functools
import hashlib
import random
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
