"""The facade's own result types: stable across regenerations of ``modelgates_api``."""

from __future__ import annotations

from pathlib import Path

import attrs


@attrs.frozen
class DownloadResult:
    """A video saved to disk.

    ``sha256`` is the hex digest of exactly the bytes written to ``path``.
    """

    path: Path
    bytes_written: int
    content_type: str | None
    sha256: str
