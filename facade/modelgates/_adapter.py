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
  HTML.
- ``VideoGenerationResponse`` (with ``VideoGenerationUsage``) and
  ``VideoModelsListResponse``/``VideoModel`` have the fields read below, by those names.
  Successful JSON bodies are read by those names here, not by the generated ``from_dict``
  (``_Reader`` says why).
- ``VideoGenerationRequest`` is an attrs class whose fields without a default are exactly
  the document's required request fields (``REQUIRED_CREATE_FIELDS``).
- ``AuthenticatedClient`` takes ``base_url``, ``token``, ``timeout`` and
  ``follow_redirects``, and uses an httpx client given to ``set_httpx_client`` /
  ``set_async_httpx_client`` for every call.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
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
    VideoGenerationUsage,
    VideoModelsListResponse,
)
from modelgates_api.models import VideoModel as GeneratedVideoModel

from ._errors import InvalidParameterError, ResponseShapeError, param, setting
from ._keys import APIKey
from ._types import VideoJob, VideoModel

logger = logging.getLogger("modelgates")


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


#: The fields the bundled document requires of ``POST /videos``, read from the generated
#: model (so a regenerated document that requires more, or less, is followed as it is).
REQUIRED_CREATE_FIELDS: tuple[str, ...] = tuple(
    field.name
    for field in attrs.fields(VideoGenerationRequest)
    if field.init and field.default is attrs.NOTHING
)


def check_required(given: Mapping[str, Any]) -> None:
    """Refuse, by name, a request that leaves out (or gives None for) a required field;
    a field the document makes optional is simply left out."""
    missing = [name for name in REQUIRED_CREATE_FIELDS if given.get(name) is None]
    if missing:
        names = ", ".join(param(name) for name in missing)
        raise InvalidParameterError(
            f"{names} {'is' if len(missing) == 1 else 'are'} required by the API (POST /videos)"
        )


def create_request(
    model: str,
    prompt: str | None,
    fields: Mapping[str, Any],
    extra_body: Mapping[str, Any] | None = None,
) -> RequestShape:
    """``POST /videos``: the generated model checks the required fields; the typed
    ``fields`` (``None``: not sent) and ``extra_body`` (fields a newer API added) are sent as
    given, so values a newer API accepts can be sent before regenerating. A field given both
    ways is refused by name: which one was meant cannot be guessed."""
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
                label = f"{where}[{name!r}]={value!r}" if where else setting(name, repr(value))
                raise InvalidParameterError(
                    f"{label or name} cannot be sent as JSON: {exc}"
                ) from None
    given: dict[str, Any] = {**sent, **extra, "model": model}
    if prompt is not None:
        given["prompt"] = prompt
    check_required(given)
    body = VideoGenerationRequest.from_dict({name: given[name] for name in REQUIRED_CREATE_FIELDS})
    shape = _shape("create_video", create_video._get_kwargs(body=body))
    rest = {name: value for name, value in given.items() if name not in REQUIRED_CREATE_FIELDS}
    return attrs.evolve(shape, json={**(shape.json or {}), **rest})


def get_request(job_id: str) -> RequestShape:
    return _shape("get_video", get_video._get_kwargs(job_id))


def models_request() -> RequestShape:
    return _shape("list_video_models", list_video_models._get_kwargs())


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _list_of(item: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: isinstance(value, list) and all(item(v) for v in value)


def _str_map(value: object) -> bool:
    return isinstance(value, dict) and all(_is_str(k) and _is_str(v) for k, v in value.items())


class _Reader:
    """Reads one JSON object field by field, as the facade's types need them.

    Why not the generated ``from_dict``: it raises ``KeyError`` on any missing required
    field (a server that lags its document, or leads it by making a field nullable, would
    break every call) and casts wrong types through unchecked. Here a field that is missing
    or of another type reads as ``None`` (logged at DEBUG), and only what the facade cannot
    do without raises ``ResponseShapeError``. The names read are the generated model's own
    (``_generated_fields`` checks each against it), so a regeneration that renames a field
    still fails by name, in the contract tests.
    """

    def __init__(self, operation: str, data: object, schema: type, where: str = "") -> None:
        if not isinstance(data, dict):
            raise ResponseShapeError(
                operation,
                f"{where.rstrip('.') or 'the body'} is {type(data).__name__}, not an object",
            )
        self.operation = operation
        self.data: dict[str, Any] = data
        self.known = _generated_fields(schema)
        self.where = where

    def get(self, name: str, check: Callable[[object], bool]) -> Any:
        if name not in self.known:
            raise ResponseShapeError(
                self.operation, f"the generated model has no field {name!r}: the facade reads it"
            )
        value = self.data.get(name)
        if value is None or check(value):
            return value
        logger.debug(
            "%s: %s%r is %s, not the documented type: read as None",
            self.operation, self.where, name, type(value).__name__,
        )  # fmt: skip
        return None

    def required(self, name: str, check: Callable[[object], bool]) -> Any:
        """A field without which the answer is of no use."""
        value = self.get(name, check)
        if value is None or value == "":
            got = "missing" if name not in self.data else repr(self.data[name])[:80]
            raise ResponseShapeError(self.operation, f"{self.where}{name!r} is {got}")
        return value


@functools.cache
def _generated_fields(schema: type) -> frozenset[str]:
    return frozenset(field.name for field in attrs.fields(schema))


def _tuple(value: list[Any] | None) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)


def parse_job(operation: str, data: Any) -> VideoJob:
    """A ``VideoGenerationResponse`` body as the facade's ``VideoJob`` (see ``_Reader``:
    only a missing ``id`` or ``status`` raises)."""
    job = _Reader(operation, data, VideoGenerationResponse)
    usage_data = job.get("usage", lambda v: isinstance(v, dict))
    usage = (
        _Reader(operation, usage_data, VideoGenerationUsage, "usage.")
        if usage_data is not None
        else None
    )
    cost = usage.get("cost", _is_number) if usage is not None else None
    return VideoJob(
        id=job.required("id", _is_str),
        status=job.required("status", _is_str),
        polling_url=job.get("polling_url", _is_str),
        error=job.get("error", _is_str),
        generation_id=job.get("generation_id", _is_str),
        unsigned_urls=tuple(job.get("unsigned_urls", _list_of(_is_str)) or ()),
        cost=None if cost is None else float(cost),
        is_byok=usage.get("is_byok", _is_bool) if usage is not None else None,
        raw=dict(data),
    )


def parse_models(data: Any) -> list[VideoModel]:
    """A ``VideoModelsListResponse`` body as the facade's ``VideoModel`` list (see
    ``_Reader``: only a list that is not one, or a model without ``id``, raises)."""
    operation = "list_video_models"
    listing = _Reader(operation, data, VideoModelsListResponse)
    items = listing.required("data", lambda v: isinstance(v, list))
    return [_parse_model(operation, item, f"data[{i}].") for i, item in enumerate(items)]


def _parse_model(operation: str, data: Any, where: str) -> VideoModel:
    model = _Reader(operation, data, GeneratedVideoModel, where)
    return VideoModel(
        id=model.required("id", _is_str),
        name=model.get("name", _is_str),
        canonical_slug=model.get("canonical_slug", _is_str),
        created=model.get("created", _is_int),
        description=model.get("description", _is_str),
        supported_resolutions=_tuple(model.get("supported_resolutions", _list_of(_is_str))),
        supported_aspect_ratios=_tuple(model.get("supported_aspect_ratios", _list_of(_is_str))),
        supported_sizes=_tuple(model.get("supported_sizes", _list_of(_is_str))),
        supported_durations=_tuple(model.get("supported_durations", _list_of(_is_int))),
        supported_frame_images=_tuple(model.get("supported_frame_images", _list_of(_is_str))),
        generate_audio=model.get("generate_audio", _is_bool),
        seed=model.get("seed", _is_bool),
        allowed_passthrough_parameters=tuple(
            model.get("allowed_passthrough_parameters", _list_of(_is_str)) or ()
        ),
        pricing_skus=model.get("pricing_skus", _str_map),
        raw=dict(data),
    )


#: What ``client.raw`` is, for the facade's annotations (which may not import
#: ``modelgates_api`` themselves).
GeneratedClient = AuthenticatedClient


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
