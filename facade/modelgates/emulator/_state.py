"""The emulator's jobs, outputs and faults: plain data the HTTP handler reads and updates
under one lock."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Literal

import attrs

from modelgates._types import TERMINAL_STATUSES

from ._content import demo_video, generated_chunks, generated_sha256

BodyKind = Literal["json", "html", "empty"]


@attrs.define
class Output:
    """One video of a job: the demo MP4, or ``size`` deterministic bytes from ``seed``.

    Served as ``application/octet-stream``, the media type the bundled document declares;
    ``content_type="video/mp4"`` (as newer APIs send) when a test asks for it."""

    size: int
    seed: int | None = None
    content_type: str = "application/octet-stream"
    #: Bump to change the ETag and Last-Modified (the video was replaced upstream).
    version: int = 1

    @classmethod
    def demo(cls, content_type: str = "application/octet-stream") -> Output:
        return cls(size=len(demo_video()), seed=None, content_type=content_type)

    @classmethod
    def generated(cls, size: int, seed: int = 1) -> Output:
        return cls(size=size, seed=seed)

    @property
    def _content_seed(self) -> int | None:
        # A new version is a different video: other bytes, not only another ETag.
        return None if self.seed is None else self.seed + (self.version - 1) * 7919

    def chunks(self, start: int, end: int) -> Iterator[memoryview]:
        seed = self._content_seed
        if seed is None:
            view = memoryview(demo_video())
            yield view[start:end]
        else:
            yield from generated_chunks(seed, start, end)

    @property
    def sha256(self) -> str:
        """Of the current version's bytes."""
        seed = self._content_seed
        if seed is None:
            return hashlib.sha256(demo_video()).hexdigest()
        return generated_sha256(seed, self.size)

    def etag(self, job_id: str, index: int) -> str:
        basis = f"{job_id}\0{index}\0{self.seed}\0{self.size}\0{self.version}"
        return '"' + hashlib.sha256(basis.encode()).hexdigest()[:20] + '"'


@attrs.define
class StatusFault:
    """Answer ``status`` instead of the real response, with a body of ``body`` kind."""

    status: int
    body: BodyKind = "json"
    retry_after: str | None = None


def pop_status_fault(queue: list[StatusFault | int]) -> StatusFault | None:
    """The next injected status of a queue (a bare int is a JSON-bodied fault)."""
    if not queue:
        return None
    fault = queue.pop(0)
    return fault if isinstance(fault, StatusFault) else StatusFault(fault)


@attrs.define
class Faults:
    """Misbehaviour of one job's content endpoint, each consumed as it is used.

    - ``statuses``: answered first, one per request, before any real answer.
    - ``drop_at``: body offsets; a response that reaches the first one sends up to it and
      then closes the connection (the offset is then used up).
    - ``stall_at``/``stall_seconds``: pause that long once the body reaches that offset.
    - ``ignore_range``: always send the whole body with 200.
    - ``redirect``: answer 302 to a signed URL on another origin (the storage server).
    - ``ok_body``: answer 200 with a JSON or HTML body instead of the video.
    - ``change_on_drop``: the video is replaced upstream when a drop happens (new bytes,
      new ETag and Last-Modified), as if regenerated while a client was downloading it.
    """

    statuses: list[StatusFault | int] = attrs.field(factory=list)
    drop_at: list[int] = attrs.field(factory=list)
    stall_at: int | None = None
    stall_seconds: float = 0.0
    ignore_range: bool = False
    redirect: bool = False
    ok_body: BodyKind | None = None
    change_on_drop: bool = False

    def next_status(self) -> StatusFault | None:
        return pop_status_fault(self.statuses)


@attrs.define
class Job:
    """A video generation job, moving pending -> in_progress -> ``final_status``.

    It finishes after ``polls_to_complete`` polls, or ``seconds_to_complete`` seconds,
    whichever comes first (0 polls: already finished).
    """

    id: str
    model: str = "emulator/video-1"
    prompt: str = ""
    outputs: list[Output] = attrs.field(factory=lambda: [Output.demo()])
    final_status: str = "completed"
    error: str | None = None
    polls_to_complete: int = 0
    seconds_to_complete: float | None = None
    #: Statuses shown before the job finishes, one per poll (the last one repeats); a newer
    #: API's statuses (``"queued"``, say) can be shown here.
    progress: tuple[str, ...] = ("pending", "in_progress")
    faults: Faults = attrs.field(factory=Faults)
    created_at: float = attrs.field(factory=time.time)
    polls: int = 0
    #: Body bytes written to sockets for this job's content, all responses together.
    bytes_served: int = 0
    extra: dict[str, object] = attrs.field(factory=dict)
    #: Where the emulator POSTs the signed event when the job ends (``_webhooks``).
    callback_url: str | None = None

    def status(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.polls >= self.polls_to_complete or (
            self.seconds_to_complete is not None
            and now - self.created_at >= self.seconds_to_complete
        ):
            return self.final_status
        return self.progress[min(self.polls, len(self.progress) - 1)]

    def as_json(self, base_url: str) -> dict[str, object]:
        status = self.status()
        body: dict[str, object] = {
            "id": self.id,
            "polling_url": f"{base_url}/videos/{self.id}",
            "status": status,
            **self.extra,
        }
        if status == "completed":
            body["generation_id"] = f"gen-{self.id}"
            body["unsigned_urls"] = [
                f"{base_url}/videos/{self.id}/content?index={i}" for i in range(len(self.outputs))
            ]
            body["usage"] = {"cost": 0.0, "is_byok": False}
        elif status in TERMINAL_STATUSES and self.error is not None:
            body["error"] = self.error
        return body


#: Models with the ids the real API lists, so examples written for it (the README's) run
#: unchanged against the emulator. Their capabilities are plausible, not authoritative.
REALISTIC_MODELS: list[dict[str, object]] = [
    {
        "id": "google/veo-3.1",
        "canonical_slug": "google/veo-3.1",
        "name": "Google: Veo 3.1",
        "created": 1760486400,
        "description": "Text and image to video with native audio.",
        "supported_resolutions": ["720p", "1080p"],
        "supported_aspect_ratios": ["16:9", "9:16"],
        "supported_sizes": None,
        "supported_durations": [4, 6, 8],
        "supported_frame_images": ["first_frame", "last_frame"],
        "generate_audio": True,
        "seed": True,
        "allowed_passthrough_parameters": ["negative_prompt", "person_generation"],
        "pricing_skus": {"per_second": "0.40"},
    },
    {
        "id": "openai/sora-2",
        "canonical_slug": "openai/sora-2",
        "name": "OpenAI: Sora 2",
        "created": 1759363200,
        "description": "Video with synchronized audio from text or an image.",
        "supported_resolutions": ["720p"],
        "supported_aspect_ratios": ["16:9", "9:16"],
        "supported_sizes": ["1280x720", "720x1280"],
        "supported_durations": [4, 8, 12],
        "supported_frame_images": ["first_frame"],
        "generate_audio": True,
        "seed": False,
        "allowed_passthrough_parameters": [],
        "pricing_skus": {"per_second": "0.10"},
    },
    {
        "id": "bytedance/seedance-2.0",
        "canonical_slug": "bytedance/seedance-2.0",
        "name": "ByteDance: Seedance 2.0",
        "created": 1767225600,
        "description": "Multi-shot video; takes image, video and audio references.",
        "supported_resolutions": ["480p", "720p", "1080p"],
        "supported_aspect_ratios": ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"],
        "supported_sizes": None,
        "supported_durations": [5, 10],
        "supported_frame_images": ["first_frame", "last_frame"],
        "generate_audio": True,
        "seed": True,
        "allowed_passthrough_parameters": ["camera_fixed"],
        "pricing_skus": {"per_million_tokens": "2.50"},
    },
]

MODELS: list[dict[str, object]] = [
    {
        "id": "emulator/video-1",
        "canonical_slug": "emulator/video-1",
        "name": "Emulator Video 1",
        "created": 1767225600,
        "description": "The emulator's model: returns the bundled demo video.",
        "supported_resolutions": ["480p", "720p", "1080p"],
        "supported_aspect_ratios": ["16:9", "9:16", "1:1"],
        "supported_sizes": ["1280x720", "720x1280", "1920x1080"],
        "supported_durations": [4, 8],
        "supported_frame_images": ["first_frame", "last_frame"],
        "generate_audio": True,
        "seed": True,
        "allowed_passthrough_parameters": [],
        "pricing_skus": {"per_second": "0.01"},
    },
    {
        "id": "emulator/video-lite",
        "canonical_slug": "emulator/video-lite",
        "name": "Emulator Video Lite",
        "created": 1767225600,
        "supported_resolutions": ["480p"],
        "supported_aspect_ratios": ["16:9"],
        "supported_sizes": None,
        "supported_durations": [4],
        "supported_frame_images": None,
        "generate_audio": None,
        "seed": None,
        "allowed_passthrough_parameters": [],
    },
    *REALISTIC_MODELS,
]


@attrs.frozen
class CreatePlan:
    """How the emulator answers one ``POST /videos`` (returned by ``Emulator.on_create``).

    Unset fields keep the emulator's defaults. ``reject`` answers that status (a 429, say)
    instead of creating a job; ``fail`` is the error of a job that ends ``failed``;
    ``seconds_to_complete`` alone makes completion depend on time, not on polls.
    """

    seconds_to_complete: float | None = None
    polls_to_complete: int | None = None
    outputs: tuple[Output, ...] | None = None
    fail: str | None = None
    faults: Faults | None = None
    reject: StatusFault | int | None = None

    def job_fields(self) -> dict[str, object]:
        """The ``add_job`` arguments this plan overrides."""
        fields: dict[str, object] = {}
        if self.seconds_to_complete is not None:
            fields["seconds_to_complete"] = self.seconds_to_complete
            fields["polls_to_complete"] = 2**31  # time decides, not polls
        if self.polls_to_complete is not None:
            fields["polls_to_complete"] = self.polls_to_complete
        if self.outputs is not None:
            fields["outputs"] = list(self.outputs)
        if self.fail is not None:
            fields["final_status"] = "failed"
            fields["error"] = self.fail
        if self.faults is not None:
            fields["faults"] = self.faults
        return fields
