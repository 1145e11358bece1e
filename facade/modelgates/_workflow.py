"""The whole video workflow: create a job, poll it, wait for it, list models, download every
output. What users want is a video, not a download.

JSON calls go through the client's JSON httpx client (retrying transport; error statuses
raise the facade's errors) with request shapes and parsers from ``_adapter``. Waiting and
capability checks are decided here once, for the sync and async clients alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from . import _adapter
from ._errors import (
    InvalidParameterError,
    ResponseShapeError,
    VideoJobFailedError,
    VideoJobTimeoutError,
    param,
    setting,
)
from ._transport import NO_OPTIONS, RequestOptions, connection_error, is_loopback
from ._types import VideoJob, VideoModel

logger = logging.getLogger("modelgates")

JobCallback = Callable[[VideoJob], None]

#: The API's documentation polls about every 30 s; jobs take 30 s to several minutes.
DEFAULT_POLL_INTERVAL = 10.0
DEFAULT_WAIT_TIMEOUT = 30 * 60.0
#: Parallel downloads of one job's outputs in ``download_all``.
DEFAULT_CONCURRENCY = 4

#: Request fields checked against a model's listed capabilities, and where they are listed.
_CAPABILITIES = {
    "resolution": "supported_resolutions",
    "aspect_ratio": "supported_aspect_ratios",
    "size": "supported_sizes",
    "duration": "supported_durations",
}


def check_request(models: Sequence[VideoModel], model: str, fields: Mapping[str, Any]) -> None:
    """Refuse values the model does not list (and a callback URL the API's job events
    would reach in clear text), before a billed request is sent."""
    found = next((m for m in models if m.id == model or m.canonical_slug == model), None)
    if found is None:
        known = ", ".join(sorted(m.id for m in models)) or "none"
        raise InvalidParameterError(f"model {model!r} is not a video model (known: {known})")
    for field, listing in _CAPABILITIES.items():
        value, accepted = fields.get(field), getattr(found, listing)
        if value is not None and accepted is not None and value not in accepted:
            raise InvalidParameterError(
                f"{setting(field, repr(value)) or field} is not accepted by {model}; "
                f"it accepts {', '.join(map(str, accepted))}"
            )
    if fields.get("seed") is not None and found.seed is False:
        raise InvalidParameterError(f"{param('seed')} is not supported by {model}")
    if fields.get("generate_audio") and found.generate_audio is False:
        raise InvalidParameterError(
            f"{setting('generate_audio', 'True') or 'generate_audio'} is not supported by {model}"
        )
    for position, frame in enumerate(fields.get("frame_images") or ()):
        kind = frame.get("frame_type") if isinstance(frame, Mapping) else None
        accepted = found.supported_frame_images
        if accepted is not None and kind not in accepted:
            raise InvalidParameterError(
                f"frame_images[{position}] has frame_type={kind!r}, which {model} does not "
                f"accept; it accepts {', '.join(accepted) or 'no frame images'}"
            )
    check_callback_url(fields.get("callback_url"))


def check_callback_url(url: object) -> None:
    """The API posts job events to ``callback_url``: over https, or plain http only to
    loopback (a receiver under test on this machine)."""
    if url is None:
        return
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else None
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in {"http", "https"} or not parsed.host:
        raise InvalidParameterError(
            f"{param('callback_url')} {url!r} is not an absolute https:// URL"
        )
    if parsed.scheme == "http" and not is_loopback(parsed.host):
        raise InvalidParameterError(
            f"{param('callback_url')} {url!r} is plain http to {parsed.host!r}: the API "
            "requires https (plain http is accepted for loopback receivers only)"
        )


def check_prompt(model: object, prompt: object, fields: dict[str, Any] | None = None) -> None:
    """Before any request (the capability check's included): the required fields are
    there, and model and prompt are strings."""
    _adapter.check_required({**(fields or {}), "model": model, "prompt": prompt})
    if not isinstance(model, str) or not model:
        raise InvalidParameterError(f"{param('model')} must be a non-empty str")
    if prompt is not None and not isinstance(prompt, str):
        raise InvalidParameterError(f"{param('prompt')} must be a str, not {type(prompt).__name__}")


def _json(response: httpx.Response, operation: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ResponseShapeError(operation, "the body is not JSON") from None


def send(
    http: httpx.Client, shape: _adapter.RequestShape, options: RequestOptions = NO_OPTIONS
) -> Any:
    """One JSON call with the call's extras; errors come out as the facade's exceptions."""
    try:
        response = http.request(
            shape.method,
            shape.url,
            params={**options.query, **shape.params} or None,
            json=shape.json,
            headers=options.headers or None,
            timeout=options.client_timeout,
        )
    except httpx.TransportError as exc:
        raise connection_error(exc) from exc
    return _json(response, shape.operation)


async def send_async(
    http: httpx.AsyncClient, shape: _adapter.RequestShape, options: RequestOptions = NO_OPTIONS
) -> Any:
    try:
        response = await http.request(
            shape.method,
            shape.url,
            params={**options.query, **shape.params} or None,
            json=shape.json,
            headers=options.headers or None,
            timeout=options.client_timeout,
        )
    except httpx.TransportError as exc:
        raise connection_error(exc) from exc
    return _json(response, shape.operation)


class Waiter:
    """The decisions of ``videos.wait``: when to report, when to stop, what to raise."""

    def __init__(
        self,
        timeout: float | None,
        poll_interval: float,
        on_update: JobCallback | None,
        clock: Callable[[], float],
    ) -> None:
        if poll_interval <= 0:
            raise InvalidParameterError(
                f"{param('poll_interval')} must be > 0, got {poll_interval}"
            )
        if timeout is not None and timeout < 0:
            raise InvalidParameterError(f"{param('timeout')} must be >= 0 or None, got {timeout}")
        self.timeout = timeout
        self.poll_interval = poll_interval
        self._on_update = on_update
        self._clock = clock
        self._start = clock()
        self._last_status: str | None = None
        #: The job as last seen.
        self.last: VideoJob | None = None

    def seen(self, job: VideoJob) -> float | None:
        """After a poll: None when done (or raises), else seconds until the next poll."""
        self.last = job
        if job.status != self._last_status:
            logger.info("video job %s is %s", job.id, job.status)
            self._last_status = job.status
        if self._on_update is not None:
            self._on_update(job)
        if job.is_failed:
            raise VideoJobFailedError(job)
        if job.is_terminal:
            return None
        waited = self._clock() - self._start
        if self.timeout is not None and waited >= self.timeout:
            raise VideoJobTimeoutError(job, waited)
        if self.timeout is None:
            return self.poll_interval
        return max(0.0, min(self.poll_interval, self.timeout - waited))


def output_indices(job: VideoJob) -> range:
    if job.status != "completed":
        raise InvalidParameterError(f"video job {job.id} is {job.status}, not completed")
    return range(job.output_count)
