"""The facade's own result types: stable across regenerations of ``modelgates_api``."""

from __future__ import annotations

from pathlib import Path

import attrs


@attrs.frozen
class DownloadResult:
    """A video saved to disk.

    ``sha256`` is the hex digest of exactly the bytes written to ``path``, or None when
    the download was made with ``checksum=False``.
    """

    path: Path
    bytes_written: int
    content_type: str | None
    sha256: str | None


#: Statuses after which a job changes no more. Others (including ones a newer API adds)
#: mean "not finished yet".
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "expired"})
FAILED_STATUSES = frozenset({"failed", "cancelled", "expired"})


@attrs.frozen
class VideoJob:
    """A video generation job as the API last described it.

    ``status`` is a plain string: ``pending``, ``in_progress``, ``completed``, ``failed``,
    ``cancelled``, ``expired``, or a value a newer API added. Other fields are ``None`` when
    the server left them out or sent another type than documented; ``raw`` is the whole
    JSON object as sent, unknown fields included.
    """

    id: str
    status: str
    polling_url: str | None = None
    error: str | None = None
    generation_id: str | None = None
    unsigned_urls: tuple[str, ...] = ()
    cost: float | None = None
    is_byok: bool | None = None
    raw: dict[str, object] = attrs.field(factory=dict, eq=False, repr=False)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def output_count(self) -> int:
        """How many videos the job made (at least one once completed)."""
        return max(len(self.unsigned_urls), 1) if self.status == "completed" else 0


@attrs.frozen
class VideoModel:
    """A video generation model and the values it accepts (``None``: not listed, or not of
    the documented type; ``raw`` has what the server sent)."""

    id: str
    name: str | None = None
    canonical_slug: str | None = None
    created: int | None = None
    description: str | None = None
    supported_resolutions: tuple[str, ...] | None = None
    supported_aspect_ratios: tuple[str, ...] | None = None
    supported_sizes: tuple[str, ...] | None = None
    supported_durations: tuple[int, ...] | None = None
    supported_frame_images: tuple[str, ...] | None = None
    generate_audio: bool | None = None
    seed: bool | None = None
    allowed_passthrough_parameters: tuple[str, ...] = ()
    pricing_skus: dict[str, str] | None = attrs.field(default=None, eq=False)
    raw: dict[str, object] = attrs.field(factory=dict, eq=False, repr=False)
