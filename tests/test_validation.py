"""Job ids and indices: rejected before any request, or sent as exactly one path segment."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelgates import InvalidParameterError, ModelGates, NotFoundError
from modelgates.emulator import DEMO_JOB_ID, Emulator


def _must_reject(job_id: str) -> bool:
    return (
        len(job_id) > 1024
        or job_id in {"", ".", ".."}
        or any(unicodedata.category(c) in {"Cc", "Cs"} for c in job_id)
    )


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    job_id=st.one_of(
        st.text(max_size=300), st.sampled_from([".", "..", "", "a/../b", "%2e%2e", "?#&", " "])
    )
)
def test_any_text_is_one_path_segment_or_rejected(
    job_id: str, client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    before = len(emulator.requests_to("api"))
    try:
        client.videos.download(job_id, tmp_path / "out.mp4", overwrite=True)
    except InvalidParameterError:
        assert _must_reject(job_id), f"rejected a good job id {job_id!r}"
        assert len(emulator.requests_to("api")) == before, "a request was sent"
        return
    except NotFoundError:
        pass
    assert not _must_reject(job_id), f"sent a bad job id {job_id!r}"
    sent = emulator.requests_to("api")[before:]
    assert len(sent) == 1
    segments = sent[0].path.split("/")
    assert segments[:4] == ["", "api", "v1", "videos"] and segments[5:] == ["content"]
    assert unquote(segments[4]) == job_id
    assert sent[0].query == "index=0"


@pytest.mark.parametrize("job_id", [None, 42, b"job-abc", ["job"]])
def test_non_string_job_ids_are_rejected(
    client: ModelGates, job_id: object, tmp_path: Path
) -> None:
    with pytest.raises(InvalidParameterError, match="job_id must be a str"):
        client.videos.download(job_id, tmp_path)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (True, "must be an int, not bool"),
        (False, "not bool"),
        (-1, ">= 0, got -1"),
        (1.0, "not float"),
        ("0", "not str"),
        (None, "not NoneType"),
    ],
)
def test_bad_indices_are_rejected_before_any_request(
    client: ModelGates, emulator: Emulator, tmp_path: Path, index: object, message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        client.videos.download(DEMO_JOB_ID, tmp_path, index=index)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError), client.videos.stream(DEMO_JOB_ID, index=index):  # type: ignore[arg-type]
        pass
    assert emulator.requests_to("api") == []
    assert list(tmp_path.iterdir()) == []


def test_a_very_long_job_id_is_refused_by_name(client: ModelGates) -> None:
    """httpx would raise its own InvalidURL ("URL too long") for an id like this."""
    with pytest.raises(InvalidParameterError, match="30000 characters long"):
        client.videos.get("é" * 30000)


def test_other_bad_arguments_are_named_before_any_request(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    import datetime

    with pytest.raises(InvalidParameterError, match="dest must be a path"):
        client.videos.download(DEMO_JOB_ID, 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="on_progress must be a callable"):
        client.videos.download(DEMO_JOB_ID, tmp_path, on_progress=5)  # type: ignore[arg-type]
    with pytest.raises(
        InvalidParameterError, match=r"extra_body\['when'\]=datetime\.date.*cannot be sent as JSON"
    ):
        client.videos.create(
            model="emulator/video-1", prompt="p", extra_body={"when": datetime.date(2026, 1, 1)}
        )
    assert emulator.requests_to("api") == []
    assert list(tmp_path.iterdir()) == []
