"""Parallel ranges against a real nginx (installed from Debian when missing, as the bench
does): parts with If-Range and nginx's own ETag, a file replaced mid-download, nginx without
ranges, and a link that drops connections."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelgates import ModelGates

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import bench
from bench_links import JOB, Origin
from linkemu import LinkEmulator

MiB = 1024 * 1024
SIZE = 8 * MiB


@pytest.fixture
def origin() -> Iterator[Origin]:
    nginx = bench._ensure_nginx()
    if nginx is None:
        pytest.skip("nginx is missing and cannot be installed here")
    # nginx's workers run unprivileged: pytest's own temporary tree (0700) is closed to them.
    with tempfile.TemporaryDirectory(prefix="nginx-parallel-") as root:
        server = Origin(nginx, Path(root) / "srv", SIZE, ranges=True)
        yield server
        server.stop()


def _statuses(origin: Origin) -> list[int]:
    return [int(line.split()[0]) for line in origin.log.read_text().splitlines() if line]


def test_parts_from_nginx_with_if_range(origin: Origin, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{origin.port}/api/v1"
    with ModelGates(api_key="k", base_url=base) as client:
        result = client.videos.download(JOB, tmp_path / "v.mp4", connections=4)
    expected = hashlib.sha256(origin.data.read_bytes()).hexdigest()
    assert (
        result.sha256 == expected == hashlib.sha256((tmp_path / "v.mp4").read_bytes()).hexdigest()
    )
    statuses = _statuses(origin)
    assert len(statuses) > 2 and set(statuses) == {206}  # the probe and every part: ranges


def test_a_file_replaced_on_nginx_mid_download_is_not_spliced(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelgates import _parallel

    # Automatic mode, made to split this small file: the file changes during the probe, so
    # every part is asked for after the change.
    monkeypatch.setattr(_parallel, "MIN_PARALLEL", 2 * MiB)
    monkeypatch.setattr(_parallel, "PROBE_BYTES", MiB)
    old = origin.data.read_bytes()
    new = os.urandom(SIZE)
    replaced = threading.Event()

    def replace(done: int, total: int | None) -> None:
        if not replaced.is_set():
            replaced.set()
            temp = origin.data.with_name("new")
            temp.write_bytes(new)
            stat = origin.data.stat()
            os.utime(temp, (stat.st_atime + 10, stat.st_mtime + 10))  # nginx's ETag changes
            os.replace(temp, origin.data)

    # Through a slow link, so that parts are still to be asked for when the file changes.
    with (
        LinkEmulator(("127.0.0.1", origin.port), conn_rate=4e6) as link,
        ModelGates(api_key="k", base_url=f"http://127.0.0.1:{link.port}/api/v1") as client,
    ):
        result = client.videos.download(JOB, tmp_path / "v.mp4", on_progress=replace)
    got = (tmp_path / "v.mp4").read_bytes()
    assert got == new, f"old: {got == old}, statuses {_statuses(origin)}"
    assert result.sha256 == hashlib.sha256(new).hexdigest()
    assert 200 in _statuses(origin)  # nginx refused a stale If-Range with the whole new file


def test_nginx_without_ranges_is_read_on_one_connection(tmp_path: Path) -> None:
    nginx = bench._ensure_nginx()
    if nginx is None:
        pytest.skip("nginx is missing and cannot be installed here")
    with tempfile.TemporaryDirectory(prefix="nginx-parallel-") as root:
        plain = Origin(nginx, Path(root) / "srv", SIZE, ranges=False)  # max_ranges 0
        try:
            base = f"http://127.0.0.1:{plain.port}/api/v1"
            with ModelGates(api_key="k", base_url=base) as client:
                result = client.videos.download(JOB, tmp_path / "v.mp4", connections=4)
            assert (tmp_path / "v.mp4").read_bytes() == plain.data.read_bytes()
            assert result.sha256 == hashlib.sha256(plain.data.read_bytes()).hexdigest()
            assert _statuses(plain) == [200]  # the whole body, once: no part was asked for
        finally:
            plain.stop()


def test_parts_through_a_link_that_drops_connections_are_byte_identical(
    origin: Origin, tmp_path: Path
) -> None:
    from modelgates import RetryPolicy

    policy = RetryPolicy(max_retries=5, sleep=lambda _: None)
    with (
        LinkEmulator(("127.0.0.1", origin.port), conn_rate=8e6, drop_every=2 * MiB, seed=7) as link,
        ModelGates(
            api_key="k", base_url=f"http://127.0.0.1:{link.port}/api/v1", retry=policy
        ) as client,
    ):
        result = client.videos.download(JOB, tmp_path / "v.mp4", connections=4)
        assert link.drops > 0
    assert (tmp_path / "v.mp4").read_bytes() == origin.data.read_bytes()
    assert result.sha256 == hashlib.sha256(origin.data.read_bytes()).hexdigest()
