"""Servers lag and lead their published documents: the facade reads what they really send.

A field that is missing, or of another type than documented, reads as ``None`` (``raw``
keeps the JSON as sent); only what the facade cannot do without (a job's ``id`` and
``status``, a model's ``id``) raises ``ResponseShapeError``, naming the field.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from modelgates import ModelGates, ResponseShapeError
from modelgates._adapter import parse_job, parse_models
from modelgates.emulator import Emulator


def documented_model(**changes: Any) -> dict[str, Any]:
    model: dict[str, Any] = {
        "id": "google/veo-3.1",
        "canonical_slug": "google/veo-3.1",
        "name": "Veo 3.1",
        "created": 1767225600,
        "supported_resolutions": ["720p", "1080p"],
        "supported_aspect_ratios": ["16:9"],
        "supported_sizes": None,
        "supported_durations": [4, 8],
        "supported_frame_images": ["first_frame"],
        "generate_audio": True,
        "seed": False,
        "allowed_passthrough_parameters": ["negative_prompt"],
        "pricing_skus": {"per_second": "0.4"},
    }
    model.update(changes)
    return {key: value for key, value in model.items() if value is not ...}


def test_a_model_without_its_required_nullable_fields_still_parses() -> None:
    missing = dict.fromkeys(
        ["supported_sizes", "supported_frame_images", "generate_audio", "seed", "created"], ...
    )
    (model,) = parse_models({"data": [documented_model(**missing)]})
    assert model.id == "google/veo-3.1" and model.supported_resolutions == ("720p", "1080p")
    assert (model.supported_sizes, model.supported_frame_images) == (None, None)
    assert (model.generate_audio, model.seed, model.created) == (None, None, None)
    assert "seed" not in model.raw and model.raw["name"] == "Veo 3.1"


def test_a_model_field_of_the_wrong_type_reads_as_none_and_raw_keeps_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    odd = documented_model(
        created="2026-01-01",
        name=7,
        supported_durations=["4", 8],
        generate_audio="yes",
        seed=1,
        pricing_skus=["0.4"],
        allowed_passthrough_parameters="negative_prompt",
    )
    with caplog.at_level(logging.DEBUG, logger="modelgates"):
        (model,) = parse_models({"data": [odd]})
    assert (model.created, model.name, model.supported_durations) == (None, None, None)
    assert (model.generate_audio, model.seed, model.pricing_skus) == (None, None, None)
    assert model.allowed_passthrough_parameters == ()
    assert model.supported_resolutions == ("720p", "1080p")  # the rest is read as sent
    assert model.raw["created"] == "2026-01-01" and model.raw["supported_durations"] == ["4", 8]
    assert "data[0].'created' is str" in caplog.text


def test_a_model_without_an_id_is_refused_by_name() -> None:
    with pytest.raises(ResponseShapeError, match=r"data\[1\]\.'id' is missing"):
        parse_models({"data": [documented_model(), documented_model(id=...)]})
    with pytest.raises(ResponseShapeError, match=r"data\[0\]\.'id' is 42"):
        parse_models({"data": [documented_model(id=42)]})
    with pytest.raises(ResponseShapeError, match=r"'data' is missing"):
        parse_models({"models": []})
    with pytest.raises(ResponseShapeError, match=r"data\[0\] is str, not an object"):
        parse_models({"data": ["google/veo-3.1"]})


def test_a_job_missing_what_it_can_do_without_still_parses() -> None:
    job = parse_job("get_video", {"id": "job-1", "status": "in_progress"})
    assert (job.id, job.status, job.polling_url, job.unsigned_urls) == (
        "job-1",
        "in_progress",
        None,
        (),
    )
    odd = {
        "id": "job-2",
        "status": "completed",
        "polling_url": 12,
        "unsigned_urls": "https://x/1",
        "usage": {"cost": "0.5", "is_byok": "no"},
        "error": {"message": "structured"},
    }
    job = parse_job("get_video", odd)
    assert (job.polling_url, job.unsigned_urls, job.cost, job.is_byok, job.error) == (
        None,
        (),
        None,
        None,
        None,
    )
    assert job.raw == odd
    assert parse_job("get_video", {**odd, "usage": "free"}).cost is None
    assert parse_job("get_video", {**odd, "usage": {"cost": 2}}).cost == 2.0


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"status": "pending"}, "'id' is missing"),
        ({"id": "", "status": "pending"}, "'id' is ''"),
        ({"id": "job-1"}, "'status' is missing"),
        ({"id": "job-1", "status": None}, "'status' is None"),
        ({"id": 5, "status": "pending"}, "'id' is 5"),
        (["job-1"], "the body is list, not an object"),
    ],
)
def test_a_job_without_id_or_status_is_refused_by_name(body: object, named: str) -> None:
    with pytest.raises(ResponseShapeError, match="the answer to create_video") as info:
        parse_job("create_video", body)
    assert named in str(info.value)


@pytest.mark.off_document("serves models without the required fields the document lists")
def test_models_from_a_server_that_lags_its_document(
    client: ModelGates, emulator: Emulator
) -> None:
    """End to end: a real HTTP answer without `seed` and `supported_sizes` (required)."""
    lagging = documented_model(seed=..., supported_sizes=...)
    emulator.route("GET", "/videos/models", lambda *_: (200, {"data": [lagging]}))
    (model,) = client.videos.models()
    assert (model.id, model.seed, model.supported_sizes) == ("google/veo-3.1", None, None)


@pytest.mark.off_document("answers a job whose polling_url is not a string")
def test_a_job_from_a_server_that_sends_another_type(
    client: ModelGates, emulator: Emulator
) -> None:
    job = emulator.add_job(polls_to_complete=5, extra={"polling_url": None})
    seen = client.videos.get(job.id)
    assert (seen.id, seen.status, seen.polling_url) == (job.id, "pending", None)
