"""AsyncModelGates: the same behaviour as ModelGates, with await, async with, async for."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import anyio
import pytest

from modelgates import (
    APIConnectionError,
    AsyncModelGates,
    BadGatewayError,
    DestinationExistsError,
    InvalidParameterError,
    NotFoundError,
    UnexpectedContentError,
)
from modelgates.emulator import DEMO_JOB_ID, Emulator, Faults, Output, StatusFault, demo_video
from tests.conftest import KEY
from tests.helpers import leftovers, parked

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024


async def test_download_and_hash(
    async_client: AsyncModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(24 * MiB, seed=9)])
    result = await async_client.videos.download(job.id, tmp_path)
    assert result.path == tmp_path / f"{job.id}.mp4"
    assert result.bytes_written == 24 * MiB
    assert result.sha256 == job.outputs[0].sha256
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == result.sha256


async def test_file_writes_run_off_the_event_loop(
    async_client: AsyncModelGates,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelgates import _files

    loop_thread = threading.get_ident()
    writer_threads: set[int] = set()
    original = _files.AtomicWriter.write

    def spy(
        self: _files.AtomicWriter, chunk: _files.Chunk, release: _files.Release | None = None
    ) -> None:
        writer_threads.add(threading.get_ident())
        original(self, chunk, release)

    monkeypatch.setattr(_files.AtomicWriter, "write", spy)
    job = emulator.add_job(outputs=[Output.generated(4 * MiB)])
    await async_client.videos.download(job.id, tmp_path)
    assert writer_threads and loop_thread not in writer_threads


async def test_stream(async_client: AsyncModelGates) -> None:
    async with async_client.videos.stream(DEMO_JOB_ID) as video:
        assert video.content_type == "application/octet-stream"
        assert video.content_length == len(demo_video())
        chunks = [chunk async for chunk in video.iter_bytes()]
    assert b"".join(chunks) == demo_video()


async def test_errors_and_refusals(
    async_client: AsyncModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError):
        await async_client.videos.download("missing", tmp_path)
    with pytest.raises(InvalidParameterError):
        await async_client.videos.download("..", tmp_path)
    (tmp_path / "taken.mp4").write_bytes(b"x")
    with pytest.raises(DestinationExistsError):
        await async_client.videos.download(DEMO_JOB_ID, tmp_path / "taken.mp4")
    html = emulator.add_job(faults=Faults(ok_body="html"))
    with pytest.raises(UnexpectedContentError):
        await async_client.videos.download(html.id, tmp_path / "h.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.mp4"]


async def test_status_error_with_html_body(emulator: Emulator, tmp_path: Path) -> None:
    job = emulator.add_job(faults=Faults(statuses=[StatusFault(502, body="html")] * 5))
    async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url, max_retries=0) as client:
        with pytest.raises(BadGatewayError) as info:
            await client.videos.download(job.id, tmp_path)
    assert "<html>" in info.value.body


async def test_mid_stream_drop_leaves_destination_untouched(
    emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(8 * MiB)], faults=Faults(drop_at=[5 * MiB]))
    async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url, max_retries=0) as client:
        with pytest.raises(APIConnectionError):
            await client.videos.download(job.id, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
    assert leftovers(tmp_path) == []
    assert parked(tmp_path) == [".out.mp4.modelgates-partial"]


async def test_cancellation_leaves_destination_untouched(
    emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(
        outputs=[Output.generated(8 * MiB)], faults=Faults(stall_at=2 * MiB, stall_seconds=5)
    )
    dest = tmp_path / "out.mp4"
    async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        with anyio.move_on_after(0.5) as scope:
            await client.videos.download(job.id, dest)
    assert scope.cancelled_caught
    assert not dest.exists()
    assert leftovers(tmp_path) == []
    assert parked(tmp_path) == [".out.mp4.modelgates-partial"]


async def test_no_authorization_on_cross_origin_redirect(
    async_client: AsyncModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(outputs=[Output.generated(MiB)], faults=Faults(redirect=True))
    await async_client.videos.download(job.id, tmp_path)
    (api,) = emulator.requests_to("api")
    (storage,) = emulator.requests_to("storage")
    assert api.authorization == f"Bearer {KEY}"
    assert storage.authorization is None


async def test_key_not_in_reprs(async_client: AsyncModelGates) -> None:
    for text in (repr(async_client), repr(async_client.raw)):
        assert KEY not in text
