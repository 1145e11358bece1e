"""Small helpers shared by the integration tests."""

from __future__ import annotations

import struct
from pathlib import Path


def leftovers(directory: Path) -> list[str]:
    """Temporary download files left in a directory (there should never be any)."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


def parked(directory: Path) -> list[str]:
    """Interrupted downloads kept for a later call to continue."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".modelgates-partial"))


def mp4_top_level_boxes(data: bytes) -> list[str]:
    """The ISO BMFF top-level box types of an MP4, checking that the boxes tile the file."""
    boxes: list[str] = []
    offset = 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        elif size == 0:
            size = len(data) - offset
        assert size >= 8, f"bad box size {size} at {offset}"
        boxes.append(kind.decode("ascii"))
        offset += size
    assert offset == len(data), "boxes do not end at the end of the file"
    return boxes
