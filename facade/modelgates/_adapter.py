"""The one module of the facade that imports the generated ``modelgates_api`` package.

Everything the facade needs from generated code passes through here, so a regeneration
that renames or reshapes something breaks this file (and the contract test that names the
assumption), never the rest of the facade or its users.

Assumptions on generated code, each pinned by ``tests/test_adapter.py`` (and run against
variants of the document by ``tests/regeneration/``):
- each ``api.videos.<operation>._get_kwargs`` gives the method, the URL relative to the
  base URL (path parameters percent-encoded), query parameters and (create) the JSON body.
  The facade borrows these request shapes and sends them itself: the generated download
  reads the whole body into memory, and the generated parsers of error bodies raise on
  HTML. Successful JSON bodies are parsed with the generated ``from_dict``.
- ``VideoGenerationResponse`` and ``VideoModelsListResponse``/``VideoModel`` carry the
  fields read below; the overlay makes their enums plain strings.
- ``AuthenticatedClient`` takes ``base_url``, ``token``, ``timeout`` and
  ``follow_redirects``, and uses an httpx client given to ``set_httpx_client`` /
  ``set_async_httpx_client`` for every call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from modelgates_api import AuthenticatedClient
from modelgates_api.api.videos import (
    create_video,
    download_video_content,
    get_video,
    list_video_models,
)
from modelgates_api.models import (
    VideoGenerationRequest,
    VideoGenerationResponse,
    VideoModelsListResponse,
)
from modelgates_api.types import Unset

from ._errors import InvalidParameterError, ResponseShapeError
from ._keys import APIKey
from ._types import VideoJob, VideoModel


@attrs.frozen
class RequestShape:
    """One operation call: method, URL relative to the base URL, query, JSON body."""

    operation: str
    method: str
    url: str
    params: dict[str, Any] = attrs.field(factory=dict)
    json: dict[str, Any] | None = None


def _shape(operation: str, kwargs: dict[str, Any]) -> RequestShape:
    return RequestShape(
        operation=operation,
        method=str(kwargs["method"]).upper(),
        url=str(kwargs["url"]),
        params=dict(kwargs.get("params") or {}),
        json=kwargs.get("json"),
    )


def download_request(job_id: str, index: int) -> RequestShape:
    """The request for ``GET /videos/{jobId}/content?index=N``, as the spec defines it."""
    return _shape("download_video_content", download_video_content._get_kwargs(job_id, index=index))


def create_request(
    model: str,
    prompt: str | None,
    fields: Mapping[str, Any],
    extra_body: Mapping[str, Any] | None = None,
) -> RequestShape:
    """``POST /videos``: the generated model checks model and prompt; the typed ``fields``
    (``None``: not sent) and ``extra_body`` (fields a newer API added) are sent as given, so
    values a newer API accepts can be sent before regenerating. A field given both ways is
    refused by name: which one was meant cannot be guessed."""
    extra = dict(extra_body or {})
    for name in extra:
        if not isinstance(name, str):
            raise InvalidParameterError(f"extra_body keys must be str, not {name!r}")
        if name in {"model", "prompt"} or fields.get(name) is not None:
            raise InvalidParameterError(
                f"{name} is passed both as {name}= and in extra_body; pass it once"
            )
    sent = {name: value for name, value in fields.items() if value is not None}
    for where, values in (("", sent), ("extra_body", extra)):
        for name, value in values.items():
            try:
                json.dumps(value)
            except (TypeError, ValueError) as exc:
                label = f"{where}[{name!r}]" if where else name
                raise InvalidParameterError(
                    f"{label}={value!r} cannot be sent as JSON: {exc}"
                ) from None
    required: dict[str, Any] = {"model": model}
    if prompt is not None:
        required["prompt"] = prompt
    body = VideoGenerationRequest.from_dict(required)
    shape = _shape("create_video", create_video._get_kwargs(body=body))
    return attrs.evolve(shape, json={**(shape.json or {}), **sent, **extra})


def get_request(job_id: str) -> RequestShape:
    return _shape("get_video", get_video._get_kwargs(job_id))


def models_request() -> RequestShape:
    return _shape("list_video_models", list_video_models._get_kwargs())


def _opt(value: Any) -> Any:
    return None if isinstance(value, Unset) else value


def _tuple(value: Any) -> tuple[Any, ...] | None:
    value = _opt(value)
    return None if value is None else tuple(value)


def parse_job(operation: str, data: Any) -> VideoJob:
    """A ``VideoGenerationResponse`` body as the facade's ``VideoJob``."""
    try:
        parsed = VideoGenerationResponse.from_dict(data)
        usage = _opt(parsed.usage)
        return VideoJob(
            id=parsed.id,
            status=str(parsed.status),
            polling_url=parsed.polling_url,
            error=_opt(parsed.error),
            generation_id=_opt(parsed.generation_id),
            unsigned_urls=_tuple(parsed.unsigned_urls) or (),
            cost=_opt(usage.cost) if usage is not None else None,
            is_byok=_opt(usage.is_byok) if usage is not None else None,
            raw=dict(data),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ResponseShapeError(operation, f"{type(exc).__name__}: {exc}") from exc


def parse_models(data: Any) -> list[VideoModel]:
    """A ``VideoModelsListResponse`` body as the facade's ``VideoModel`` list."""
    try:
        parsed = VideoModelsListResponse.from_dict(data)
        models = []
        for raw, model in zip(data["data"], parsed.data, strict=True):
            skus = _opt(model.pricing_skus)
            models.append(
                VideoModel(
                    id=model.id,
                    name=model.name,
                    canonical_slug=model.canonical_slug,
                    created=model.created,
                    description=_opt(model.description),
                    supported_resolutions=_tuple(model.supported_resolutions),
                    supported_aspect_ratios=_tuple(model.supported_aspect_ratios),
                    supported_sizes=_tuple(model.supported_sizes),
                    supported_durations=_tuple(model.supported_durations),
                    supported_frame_images=_tuple(model.supported_frame_images),
                    generate_audio=model.generate_audio,
                    seed=model.seed,
                    allowed_passthrough_parameters=tuple(model.allowed_passthrough_parameters),
                    pricing_skus=dict(skus.additional_properties) if skus is not None else None,
                    raw=dict(raw),
                )
            )
        return models
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ResponseShapeError("list_video_models", f"{type(exc).__name__}: {exc}") from exc


class RawClient(AuthenticatedClient):
    """The generated client, configured by the facade, whose repr shows no token.

    The generated ``AuthenticatedClient`` puts the token in its repr; this subclass keeps
    everything else. Copies made with ``with_headers``/``with_timeout``/``with_cookies``
    stay of this class (attrs ``evolve`` keeps the class) and so stay redacted.
    """

    def __repr__(self) -> str:
        return f"AuthenticatedClient(base_url={self._base_url!r}, token='<redacted>')"


def raw_client(
    base_url: str,
    key: APIKey,
    timeout: httpx.Timeout,
    *,
    sync_client: httpx.Client | None = None,
    async_client: httpx.AsyncClient | None = None,
) -> AuthenticatedClient:
    """A generated ``AuthenticatedClient`` that sends its calls through the facade's httpx
    client (same key, base URL, timeouts, transport)."""
    client = RawClient(
        base_url=base_url, token=key.reveal(), timeout=timeout, follow_redirects=True
    )
    if sync_client is not None:
        client.set_httpx_client(sync_client)
    if async_client is not None:
        client.set_async_httpx_client(async_client)
    return client
