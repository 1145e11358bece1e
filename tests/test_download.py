"""Downloads against the emulator over real sockets: the bytes, the file, the errors."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from modelgates import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    DestinationExistsError,
    InsecureURLError,
    ModelGates,
    NotFoundError,
    UnexpectedContentError,
)
from modelgates.emulator import DEMO_JOB_ID, Emulator, Faults, Output, StatusFault, demo_video
from tests.conftest import KEY
from tests.helpers import leftovers, mp4_top_level_boxes, parked
from tests.test_errors import STATUS_CLASSES

MiB = 1024 * 1024


def test_small_video_lands_whole_with_its_hash(client: ModelGates, tmp_path: Path) -> None:
    result = client.videos.download(DEMO_JOB_ID, tmp_path / "demo.mp4")
    data = (tmp_path / "demo.mp4").read_bytes()
    assert data == demo_video()
    assert result.path == tmp_path / "demo.mp4"
    assert result.bytes_written == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.content_type == "application/octet-stream"
    assert mp4_top_level_boxes(data)[:1] == ["ftyp"]
    assert leftovers(tmp_path) == []


def test_directory_destination_takes_the_job_id(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job("job/../../evil", outputs=[Output.demo(), Output.generated(1000)])
    first = client.videos.download(job.id, tmp_path)
    second = client.videos.download(job.id, str(tmp_path), index=1)
    assert first.path == tmp_path / "job_.._.._evil.mp4"
    assert second.path == tmp_path / "job_.._.._evil-1.mp4"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.path.name, second.path.name])


def test_trailing_separator_creates_the_directory(client: ModelGates, tmp_path: Path) -> None:
    result = client.videos.download(DEMO_JOB_ID, f"{tmp_path}/new/dir/")
    assert result.path == tmp_path / "new" / "dir" / "job-demo.mp4"


def test_missing_parent_directories_are_created_as_for_a_directory(
    client: ModelGates, tmp_path: Path
) -> None:
    """One rule for ``new/`` and ``new/x.mp4``: the missing parents are made."""
    result = client.videos.download(DEMO_JOB_ID, tmp_path / "no" / "such.mp4")
    assert result.path == tmp_path / "no" / "such.mp4" and result.path.is_file()


def test_existing_file_is_not_overwritten_unless_asked(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"precious")
    with pytest.raises(DestinationExistsError, match="overwrite=True"):
        client.videos.download(DEMO_JOB_ID, dest)
    assert dest.read_bytes() == b"precious"
    assert emulator.requests_to("api") == []  # refused before any request
    client.videos.download(DEMO_JOB_ID, dest, overwrite=True)
    assert dest.read_bytes() == demo_video()


@pytest.mark.parametrize("kind", ["json", "html"])
def test_200_that_is_not_a_video_is_an_error(
    client: ModelGates, emulator: Emulator, tmp_path: Path, kind: str
) -> None:
    job = emulator.add_job(faults=Faults(ok_body=kind))  # type: ignore[arg-type]
    with pytest.raises(UnexpectedContentError) as info:
        client.videos.download(job.id, tmp_path / "out.mp4")
    assert info.value.content_type in {"application/json", "text/html"}
    assert list(tmp_path.iterdir()) == []


# Every status the spec documents, and a 5xx it does not.
STATUSES = [(s, cls) for s, cls in STATUS_CLASSES if s in {400, 401, 402, 404, 429, 500, 502, 503}]


@pytest.mark.parametrize(("status", "cls"), STATUSES)
@pytest.mark.parametrize("body", ["json", "html", "empty"])
def test_error_status_becomes_its_class(
    emulator: Emulator,
    tmp_path: Path,
    status: int,
    cls: type[APIStatusError],
    body: str,
) -> None:
    fault = StatusFault(status, body=body, retry_after="1")  # type: ignore[arg-type]
    job = emulator.add_job(faults=Faults(statuses=[fault] * 10))
    with ModelGates(api_key=KEY, base_url=emulator.base_url, max_retries=0) as client:
        with pytest.raises(cls) as info:
            client.videos.download(job.id, tmp_path / "out.mp4")
    exc = info.value
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.request_id is not None and exc.request_id.startswith("req_")
    if body == "json":
        assert exc.code == status
        assert exc.message == f"Injected {status}"
        assert exc.user_id == "user_emulator"
    elif body == "html":
        assert exc.code is None
        assert "<html>" in exc.body
    else:
        assert exc.body == ""
    if status == 429:
        assert exc.retry_after == 1.0
    assert list(tmp_path.iterdir()) == []


def test_real_401_and_404_from_the_emulator(emulator: Emulator, tmp_path: Path) -> None:
    with ModelGates(api_key="sk-wrong", base_url=emulator.base_url) as client:
        with pytest.raises(AuthenticationError) as auth:
            client.videos.download(DEMO_JOB_ID, tmp_path)
    assert auth.value.message == "Missing or invalid API key"
    with ModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        with pytest.raises(NotFoundError, match="no output 3"):
            client.videos.download(DEMO_JOB_ID, tmp_path, index=3)
    assert list(tmp_path.iterdir()) == []


def test_mid_stream_drop_leaves_the_destination_untouched(
    emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(
        outputs=[Output.generated(8 * MiB)], faults=Faults(drop_at=[3 * MiB, 3 * MiB])
    )
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"old")
    with ModelGates(api_key=KEY, base_url=emulator.base_url, max_retries=0) as client:
        with pytest.raises(APIConnectionError):
            client.videos.download(job.id, dest, overwrite=True)
        assert dest.read_bytes() == b"old"
        assert leftovers(tmp_path) == []
        assert parked(tmp_path) == [".out.mp4.modelgates-partial"]  # for a later call
        with pytest.raises(APIConnectionError):
            client.videos.download(job.id, dest, overwrite=True, resume=False)
        assert dest.read_bytes() == b"old"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_keyboard_interrupt_leaves_the_destination_untouched(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(16 * MiB)])
    dest = tmp_path / "out.mp4"

    def interrupt(done: int, total: int | None) -> None:
        assert done < 16 * MiB  # the first report comes with the first bytes, mid-stream
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        client.videos.download(job.id, dest, on_progress=interrupt, resume=False)
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_progress_is_reported_with_the_total(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(4 * MiB)])
    calls: list[tuple[int, int | None]] = []
    client.videos.download(job.id, tmp_path, on_progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (4 * MiB, 4 * MiB)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert len(calls) <= 12  # throttled: a fast local download is a handful of calls


def test_stream_gives_headers_and_bytes(client: ModelGates) -> None:
    with client.videos.stream(DEMO_JOB_ID) as video:
        assert video.content_type == "application/octet-stream"
        assert video.content_length == len(demo_video())
        assert b"".join(video.iter_bytes()) == demo_video()


def test_stream_raises_status_errors_on_entry(client: ModelGates) -> None:
    with pytest.raises(NotFoundError), client.videos.stream("no-such-job"):
        pytest.fail("the body of a failed stream must not run")


def test_no_authorization_on_cross_origin_redirect(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(
        outputs=[Output.generated(2 * MiB, seed=5)], faults=Faults(redirect=True)
    )
    result = client.videos.download(job.id, tmp_path)
    assert result.bytes_written == 2 * MiB
    (api,) = emulator.requests_to("api")
    (storage,) = emulator.requests_to("storage")
    assert api.authorization == f"Bearer {KEY}"
    assert storage.authorization is None
    assert storage.path.startswith("/storage/")


def test_plain_http_to_a_remote_host_is_refused_before_connecting() -> None:
    with pytest.raises(InsecureURLError, match="allow_insecure_http"):
        ModelGates(api_key=KEY, base_url="http://example.com/api/v1")
    # Loopback in every spelling is fine; an explicit opt-in allows the rest.
    for url in ("http://localhost:1/v1", "http://127.8.9.10/v1", "http://[::1]:8/v1"):
        ModelGates(api_key=KEY, base_url=url).close()
    ModelGates(api_key=KEY, base_url="http://example.com/v1", allow_insecure_http=True).close()


def test_generated_client_default_of_no_timeout_never_applies(emulator: Emulator) -> None:
    with ModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        assert client.timeout.connect == 10.0 and client.timeout.read == 60.0
        assert client.raw.get_httpx_client().timeout == client.timeout
    with ModelGates(api_key=KEY, base_url=emulator.base_url, timeout=5) as client:
        assert client.timeout.read == 5.0
    custom = httpx.Timeout(3.0, read=120.0)
    with ModelGates(api_key=KEY, base_url=emulator.base_url, timeout=custom) as client:
        assert client.timeout == custom


def test_key_never_in_reprs_logs_or_exceptions(
    emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "modelgates"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    errors: list[BaseException] = []
    job = emulator.add_job(faults=Faults(statuses=[StatusFault(500)], redirect=True))
    with ModelGates(api_key=KEY, base_url=emulator.base_url, max_retries=0) as client:
        texts = [
            repr(client),
            repr(client.raw),
            repr(client.videos),
            repr(client.raw.with_headers({})),
        ]
        texts.append(repr(client.raw.get_httpx_client().headers))
        client.videos.download(DEMO_JOB_ID, tmp_path)
        for job_id in (job.id, "missing"):
            try:
                client.videos.download(job_id, tmp_path / "x.mp4")
            except APIStatusError as exc:
                errors.append(exc)
        client.videos.download(job.id, tmp_path / "y.mp4")  # via the redirect
    with ModelGates(api_key=KEY, base_url="http://127.0.0.1:9/api/v1", max_retries=0) as client:
        try:
            client.videos.download(DEMO_JOB_ID, tmp_path / "z.mp4")
        except APIConnectionError as exc:
            errors.append(exc)
    assert len(errors) == 3
    for error in errors:
        texts += [str(error), repr(error), repr(error.args), repr(error.__dict__)]
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    texts += [r.getMessage() for r in caplog.records] + [repr(r.args) for r in caplog.records]
    leaked = [t for t in texts if KEY in t]
    assert leaked == []
    # And the files we wrote hold only video.
    for path in tmp_path.iterdir():
        assert KEY.encode() not in path.read_bytes()


BIG_DOWNLOAD = textwrap.dedent(
    """
    import json, resource, sys
    from modelgates import ModelGates
    base_url, key, warm_job, big_job, out_dir = sys.argv[1:]
    with ModelGates(api_key=key, base_url=base_url) as client:
        client.videos.download(warm_job, out_dir + "/warm.mp4")  # imports, pools, buffers
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = client.videos.download(big_job, out_dir + "/big.mp4")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_kib": after - before, "bytes": result.bytes_written,
                      "sha256": result.sha256}))
    """
)


@pytest.mark.slow
def test_256_mib_in_constant_memory(emulator: Emulator, tmp_path: Path) -> None:
    size = 256 * MiB
    big = emulator.add_job(outputs=[Output.generated(size, seed=42)])
    warm = emulator.add_job(outputs=[Output.generated(4 * MiB, seed=1)])
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            BIG_DOWNLOAD,
            emulator.base_url,
            KEY,
            warm.id,
            big.id,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=240,
    )
    report = json.loads(completed.stdout)
    expected = big.outputs[0].sha256
    assert report["bytes"] == size
    assert report["sha256"] == expected
    assert os.path.getsize(tmp_path / "big.mp4") == size
    digest = hashlib.sha256()
    with open(tmp_path / "big.mp4", "rb") as f:
        while block := f.read(4 * MiB):
            digest.update(block)
    assert digest.hexdigest() == expected
    assert report["growth_kib"] < 64 * 1024, f"peak RSS grew {report['growth_kib']} KiB"
