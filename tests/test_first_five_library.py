"""What a new library user meets first (issue #14): messages in Python's words, required
fields by name, job ids that survive every error, file-system errors about ``dest``."""

from __future__ import annotations

import errno
import inspect
import io
import os
import pickle
import pydoc
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import modelgates
from modelgates import (
    AsyncModelGates,
    AsyncVideos,
    FileSystemError,
    InvalidAPIKeyError,
    InvalidBaseURLError,
    InvalidParameterError,
    MissingAPIKeyError,
    ModelGates,
    ModelGatesError,
    RetryPolicy,
    VideoJobFailedError,
    VideoJobTimeoutError,
    Videos,
)
from modelgates._adapter import REQUIRED_CREATE_FIELDS
from modelgates._cli import ProgressBar
from modelgates._errors import file_system_error
from modelgates.emulator import DEMO_JOB_ID, Emulator
from tests.conftest import KEY

MODEL = "emulator/video-1"


def _fast(emulator: Emulator, **kwargs: Any) -> ModelGates:
    return ModelGates(api_key=KEY, base_url=emulator.base_url, **kwargs)


# -- required fields ----------------------------------------------------------------------


def _without(field: str) -> dict[str, Any]:
    given: dict[str, Any] = {"model": MODEL, "prompt": "a cat"}
    assert set(REQUIRED_CREATE_FIELDS) <= set(given), "a new required field needs a value here"
    given[field] = None  # a keyword left out is None; model has no default to leave out
    return given


def test_required_fields_come_from_the_generated_model() -> None:
    assert REQUIRED_CREATE_FIELDS == ("model", "prompt")


@pytest.mark.parametrize("method", ["create", "generate"])
@pytest.mark.parametrize("field", REQUIRED_CREATE_FIELDS)
def test_each_required_field_left_out_is_named_before_any_request(
    emulator: Emulator, tmp_path: Path, method: str, field: str
) -> None:
    extra = {"dest": tmp_path} if method == "generate" else {}
    with _fast(emulator) as client:
        call: Callable[..., object] = getattr(client.videos, method)
        for check in (False, True):  # the capability check's request comes after
            with pytest.raises(InvalidParameterError, match=rf"^{field} is required by the API"):
                call(**_without(field), check=check, **extra)
    assert emulator.requests_to("api") == []


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["create", "generate"])
@pytest.mark.parametrize("field", REQUIRED_CREATE_FIELDS)
async def test_each_required_field_left_out_is_named_async(
    emulator: Emulator, tmp_path: Path, method: str, field: str
) -> None:
    extra = {"dest": tmp_path} if method == "generate" else {}
    async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        with pytest.raises(InvalidParameterError, match=rf"^{field} is required by the API"):
            await getattr(client.videos, method)(**_without(field), **extra)
    assert emulator.requests_to("api") == []


# -- generate never loses the job ---------------------------------------------------------


def test_every_error_of_generate_after_create_carries_the_job_id(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.polls_to_complete = 5
    with _fast(emulator) as client:
        with pytest.raises(VideoJobTimeoutError) as timed_out:
            client.videos.generate(model=MODEL, prompt="p", dest=tmp_path, timeout=0)
        job_id = timed_out.value.job_id
        assert job_id is not None and job_id in str(timed_out.value)
        notes = timed_out.value.__notes__
        assert notes == [
            f"video job {job_id} exists; continue it with: client.videos.wait({job_id!r}), "
            f"then client.videos.download({job_id!r}, {str(tmp_path)!r})"
        ]
        with pytest.raises(VideoJobFailedError) as failed:
            client.videos.generate(model=MODEL, prompt="[fail]", poll_interval=0.01)
        assert failed.value.job_id == failed.value.job.id
        assert not getattr(failed.value, "__notes__", [])  # nothing to continue

        emulator.polls_to_complete = 0
        (tmp_path / "taken.mp4").write_bytes(b"mine")
        with pytest.raises(ModelGatesError) as exists:
            client.videos.generate(model=MODEL, prompt="p", dest=tmp_path / "taken.mp4")
        assert exists.value.job_id is not None
        assert "client.videos.download(" in exists.value.__notes__[0]

        def interrupt(job: object) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt) as stopped:
            client.videos.generate(model=MODEL, prompt="p", on_update=interrupt)
        assert stopped.value.job_id.startswith("job-")  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_async_generate_errors_carry_the_job_id(emulator: Emulator, tmp_path: Path) -> None:
    emulator.polls_to_complete = 5
    async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        with pytest.raises(VideoJobTimeoutError) as info:
            await client.videos.generate(model=MODEL, prompt="p", dest=tmp_path, timeout=0)
    assert info.value.job_id in emulator.jobs


def test_the_interrupted_download_says_what_it_kept(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelgates import _files

    writes = 0
    real_write = _files.AtomicWriter.write

    def write_then_interrupt(
        self: _files.AtomicWriter, chunk: _files.Chunk, release: _files.Release | None = None
    ) -> None:
        nonlocal writes
        real_write(self, chunk, release)
        writes += 1
        if writes == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(_files.AtomicWriter, "write", write_then_interrupt)
    with _fast(emulator) as client, pytest.raises(KeyboardInterrupt) as info:
        client.videos.download(DEMO_JOB_ID, tmp_path / "v.mp4", overwrite=True)
    (note,) = info.value.__notes__
    dest = str(tmp_path / "v.mp4")
    assert note.startswith("kept ") and note.endswith(
        f"bytes of {dest!r}; client.videos.download('job-demo', {dest!r}, overwrite=True) "
        "continues from there"
    )


# -- messages -----------------------------------------------------------------------------


def test_file_system_errors_name_dest_and_are_the_matching_os_error(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "f").write_bytes(b"a file")
    with _fast(emulator) as client:
        with pytest.raises(NotADirectoryError) as in_the_way:
            client.videos.download(DEMO_JOB_ID, tmp_path / "f" / "x.mp4")
        assert isinstance(in_the_way.value, FileSystemError)
        assert str(in_the_way.value) == (
            f"cannot write {str(tmp_path / 'f' / 'x.mp4')!r}: a file is in the way where a "
            "directory is needed"
        )

        def read_only(*args: object, **kwargs: object) -> tuple[int, str]:
            raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / ".x.mp4.k2.part"))

        monkeypatch.setattr(tempfile, "mkstemp", read_only)
        with pytest.raises(FileSystemError) as refused:
            client.videos.download(DEMO_JOB_ID, tmp_path / "x.mp4")
    assert str(refused.value) == f"cannot write {str(tmp_path / 'x.mp4')!r}: Read-only file system"
    assert refused.value.errno == errno.EROFS and refused.value.dest == str(tmp_path / "x.mp4")
    assert ".part" not in str(refused.value)


def test_file_system_errors_pickle_as_their_class() -> None:
    exc = file_system_error(PermissionError(errno.EACCES, "Permission denied", "t.part"), "d.mp4")
    assert isinstance(exc, PermissionError) and isinstance(exc, ModelGatesError)
    copy = pickle.loads(pickle.dumps(exc))
    assert (
        type(copy) is type(exc)
        and str(copy) == str(exc) == "cannot write 'd.mp4': Permission denied"
    )
    assert (copy.errno, copy.dest, copy.filename) == (errno.EACCES, "d.mp4", "d.mp4")


def test_library_messages_name_parameters(emulator: Emulator, tmp_path: Path) -> None:
    (tmp_path / "x.mp4").write_bytes(b"mine")
    with _fast(emulator) as client:
        with pytest.raises(modelgates.DestinationExistsError, match=r"pass overwrite=True"):
            client.videos.download(DEMO_JOB_ID, tmp_path / "x.mp4")
        with pytest.raises(InvalidParameterError, match=r"^poll_interval must be > 0"):
            client.videos.wait(DEMO_JOB_ID, poll_interval=0)
    with pytest.raises(modelgates.InsecureURLError, match=r"pass allow_insecure_http=True"):
        ModelGates(api_key=KEY, base_url="http://example.com/v1")
    with pytest.raises(InvalidBaseURLError, match=r"^base_url 'htp://x' is not an absolute"):
        ModelGates(api_key=KEY, base_url="htp://x")
    assert issubclass(InvalidBaseURLError, InvalidParameterError)


def test_connection_errors_name_the_request_and_the_base_urls_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dead = "http://127.0.0.1:9/api/v1"
    policy = RetryPolicy(max_retries=0)
    with ModelGates(api_key=KEY, base_url=dead, retry=policy) as client:
        with pytest.raises(modelgates.APIConnectionError) as info:
            client.videos.get("job-1")
    assert f"GET {dead}/videos/job-1 (base URL from the base_url argument)" in str(info.value)
    monkeypatch.setenv("MODELGATES_BASE_URL", "http://user:pw@127.0.0.1:9/api/v1")
    with ModelGates(api_key=KEY, retry=policy) as client:
        with pytest.raises(modelgates.APIConnectionError) as info:
            client.videos.download("job-1", "x.mp4")
    message = str(info.value)
    assert "(base URL from MODELGATES_BASE_URL)" in message and "pw" not in message


def test_keys_blank_or_not_a_string_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELGATES_API_KEY", "   ")
    with pytest.raises(MissingAPIKeyError, match=r"^MODELGATES_API_KEY is set but blank"):
        ModelGates()
    with pytest.raises(InvalidAPIKeyError, match=r"^api_key must be a str, not int"):
        ModelGates(api_key=123)  # type: ignore[arg-type]


def test_max_retries_and_retry_policy_cannot_contradict(emulator: Emulator) -> None:
    with pytest.raises(InvalidParameterError, match=r"max_retries=5 contradicts"):
        _fast(emulator, max_retries=5, retry=RetryPolicy(max_retries=1))
    with _fast(emulator, max_retries=1, retry=RetryPolicy(max_retries=1)) as agreed:
        assert agreed.max_retries == 1
    with _fast(emulator, retry=RetryPolicy(max_retries=4)) as policy_only:
        assert policy_only.max_retries == 4
    with _fast(emulator, max_retries=3) as count_only:
        assert count_only.retry.max_retries == 3
    with _fast(emulator) as default:
        assert default.max_retries == 2


def test_progress_rate_counts_from_the_first_body_byte() -> None:
    now = [0.0]
    out = io.StringIO()
    bar = ProgressBar(out, clock=lambda: now[0])
    now[0] = 600.0  # ten minutes waiting for the job
    bar(1024 * 1024, 10 * 1024 * 1024)
    assert "-- B/s" in out.getvalue() and "ETA" not in out.getvalue()
    now[0] = 601.0
    bar(11 * 1024 * 1024 // 2, 10 * 1024 * 1024)  # +4.5 MiB in 1 s
    assert out.getvalue().endswith("5.5 MiB / 10.0 MiB   55%  4.5 MiB/s  ETA 0:01")


# -- logging and documentation ------------------------------------------------------------


def test_modelgates_log_prints_each_request_without_the_key(emulator: Emulator) -> None:
    code = "from modelgates import ModelGates\nwith ModelGates() as c: c.videos.get('job-demo')"
    env = {**os.environ, "MODELGATES_API_KEY": KEY, "MODELGATES_BASE_URL": emulator.base_url}
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert quiet.returncode == 0 and quiet.stderr == ""
    loud = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False,
        env={**env, "MODELGATES_LOG": "info"},
    )  # fmt: skip
    url = f"{emulator.base_url}/videos/job-demo"
    assert loud.returncode == 0, loud.stderr
    assert loud.stderr.startswith(f"modelgates: GET {url} -> 200 OK (")
    assert KEY not in loud.stderr


def test_help_shows_videos_and_raw() -> None:
    text = pydoc.render_doc(ModelGates, renderer=pydoc.plaintext)  # type: ignore[attr-defined]
    assert re.search(r"^ \|  videos\n \|      Video generation: ", text, re.M), text
    assert re.search(r"^ \|  raw\n \|      The generated ``modelgates_api`` client", text, re.M)


@pytest.mark.parametrize(
    ("async_class", "sync_class"), [(AsyncVideos, Videos), (AsyncModelGates, ModelGates)]
)
def test_async_methods_have_their_sync_twins_docstrings(
    async_class: type, sync_class: type
) -> None:
    public = [name for name in vars(sync_class) if not name.startswith("_")]
    assert public
    for name in public:
        sync_doc = inspect.getdoc(getattr(sync_class, name))
        assert sync_doc, f"{sync_class.__name__}.{name} has no docstring"
        assert inspect.getdoc(getattr(async_class, name)) == sync_doc, name


def test_generate_docstring_names_its_exceptions_and_both_timeouts() -> None:
    doc = inspect.getdoc(Videos.generate) or ""
    for name in ("VideoJobFailedError", "VideoJobTimeoutError", "InvalidParameterError",
                 "FileSystemError", "DestinationExistsError", "job_id"):  # fmt: skip
        assert name in doc, name
    assert "bounds the wait" in doc and "each network read" in doc
