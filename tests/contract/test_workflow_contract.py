"""The facade's workflow end to end, against whichever modelgates_api is importable.

tests/regeneration/ runs this directory against packages generated from variants of the
document; each test says which operation and which assumption it holds the generated code to.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import modelgates_api
from modelgates import ModelGates, VideoJobFailedError
from modelgates.emulator import DEMO_JOB_ID, Emulator, Output, demo_video


def test_the_package_under_test_is_the_expected_one() -> None:
    expected = os.environ.get("MODELGATES_API_EXPECTED_DIR")
    if expected:  # set by tests/regeneration for a variant
        assert Path(modelgates_api.__file__).parent == Path(expected)


def test_create_video_accepts_model_prompt_and_passes_other_fields(
    client: ModelGates, emulator: Emulator
) -> None:
    """create_video: _get_kwargs(body=VideoGenerationRequest) gives POST /videos with a JSON
    body; fields the facade adds are sent as given; the 202 parses as a job."""
    job = client.videos.create(model="emulator/video-1", prompt="a cat", resolution="720p")
    assert job.status == "pending"
    assert emulator.requests_to("api")[-1].method == "POST"


@pytest.mark.off_document("answers a status a newer API added")
def test_get_video_parses_status_including_unknown_ones(
    client: ModelGates, emulator: Emulator
) -> None:
    """get_video: VideoGenerationResponse.from_dict takes id, polling_url, status (any
    string), unsigned_urls and usage, and keeps unknown fields."""
    job = emulator.add_job(polls_to_complete=1, progress=("queued",), extra={"new_field": 1})
    assert client.videos.get(job.id).status == "queued"
    done = client.videos.get(job.id)
    assert done.status == "completed" and done.unsigned_urls and done.raw["new_field"] == 1


def test_wait_reports_failure(client: ModelGates, emulator: Emulator) -> None:
    """get_video: the error text of a failed job reaches VideoJobFailedError."""
    job = emulator.add_job(final_status="failed", error="boom")
    with pytest.raises(VideoJobFailedError) as info:
        client.videos.wait(job.id, poll_interval=0.01)
    assert info.value.job.error == "boom"


def test_list_video_models_parses_capabilities(client: ModelGates) -> None:
    """list_video_models: VideoModelsListResponse.from_dict gives models with their
    supported_* lists (nullable) and pricing_skus."""
    first, lite, *_ = client.videos.models()
    assert first.supported_resolutions == ("480p", "720p", "1080p")
    assert lite.supported_sizes is None


def test_download_video_content_streams_any_video_type(client: ModelGates, tmp_path: Path) -> None:
    """download_video_content: _get_kwargs gives the request; the body is streamed."""
    assert client.videos.download(DEMO_JOB_ID, tmp_path).bytes_written == len(demo_video())


def test_download_all(client: ModelGates, emulator: Emulator, tmp_path: Path) -> None:
    job = emulator.add_job(outputs=[Output.generated(1000, seed=i) for i in range(3)])
    assert len(client.videos.download_all(job.id, tmp_path)) == 3
