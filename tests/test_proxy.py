"""Proxies as a user meets them: a real forward proxy process (proxy.py, from PyPI) between
the client and the emulator, named by ``HTTP_PROXY`` as httpx reads it, or configured on the
user's own ``httpx.Client``.

What is proven against the proxy's own access log (one line per proxied connection): the
facade's requests go through it (httpx drops environment proxies once it is handed a
transport, which the facade always does), a download that drops mid-body resumes through
it, ``NO_PROXY`` bypasses it, and the key never reaches a host other than the API's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelgates import AsyncModelGates, ModelGates, RetryPolicy
from modelgates.emulator import DEMO_JOB_ID, Emulator, Faults, Output
from tests.conftest import KEY

PROXY = Path(sys.executable).with_name("proxy")
MiB = 1024 * 1024


class ForwardProxy:
    """A running ``proxy`` (proxy.py) on loopback, and what its access log says."""

    def __init__(self, workdir: Path) -> None:
        port_file, self.log = workdir / "proxy.port", workdir / "proxy.log"
        self._process = subprocess.Popen(
            [str(PROXY), "--hostname", "127.0.0.1", "--port", "0", "--port-file", str(port_file),
             "--num-workers", "1", "--num-acceptors", "1", "--log-level", "INFO",
             "--log-file", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            if time.monotonic() > deadline or self._process.poll() is not None:
                self.stop()
                raise RuntimeError(f"proxy.py did not start: {self.lines()}")
            text = port_file.read_text() if port_file.exists() else ""
            if text.strip():
                self.port = int(text.split()[0])
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    break
                except OSError:
                    pass
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[str]:
        text = self.log.read_text() if self.log.exists() else ""
        return [line for line in text.splitlines() if "access_log" in line]

    def proxied(self, what: str, count: int = 1, timeout: float = 10.0) -> list[str]:
        """The access-log lines naming ``what``, once there are ``count`` of them (the log
        line of a connection is written when it closes)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.lines() if what in line]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


@pytest.fixture(scope="module")
def forward_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForwardProxy]:
    proxy = ForwardProxy(tmp_path_factory.mktemp("proxy"))
    yield proxy
    proxy.stop()


@pytest.fixture
def via_env(forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch) -> ForwardProxy:
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    monkeypatch.setenv("http_proxy", forward_proxy.url)
    return forward_proxy


def _path(emulator: Emulator, job_id: str) -> str:
    return f"127.0.0.1:{emulator.port}/api/v1/videos/{job_id}/content"


def test_a_dropped_download_resumes_through_the_environment_proxy(
    via_env: ForwardProxy, emulator: Emulator, tmp_path: Path
) -> None:
    output = Output.generated(3 * MiB, seed=7)
    job = emulator.add_job(outputs=[output], faults=Faults(drop_at=[MiB + 123]))
    policy = RetryPolicy(max_retries=3, sleep=lambda _: None)
    with ModelGates(api_key=KEY, base_url=emulator.base_url, retry=policy) as client:
        result = client.videos.download(job.id, tmp_path / "v.mp4")
    assert result.sha256 == output.sha256
    ranges = [r.headers.get("range") for r in emulator.requests_to("api")]
    assert ranges == ["bytes=0-", f"bytes={MiB + 123}-"]  # the first asks whether ranges work
    # Both attempts crossed the proxy: the dropped one and the resumed one.
    assert len(via_env.proxied(_path(emulator, job.id), count=2)) == 2


def test_no_proxy_goes_direct(
    via_env: ForwardProxy, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with ModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        job = client.videos.get(DEMO_JOB_ID)
    assert job.id == DEMO_JOB_ID
    with ModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        client.videos.models()
    assert via_env.proxied(f"127.0.0.1:{emulator.port}/api/v1/videos/models", timeout=1) == []


def test_the_key_never_reaches_the_storage_host_through_the_proxy(
    via_env: ForwardProxy, emulator: Emulator, tmp_path: Path
) -> None:
    job = emulator.add_job(faults=Faults(redirect=True))
    with ModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        client.videos.download(job.id, tmp_path / "v.mp4")
    (api,) = emulator.requests_to("api")
    (storage,) = emulator.requests_to("storage")
    assert api.authorization == f"Bearer {KEY}"
    assert storage.authorization is None
    assert KEY not in str(storage.headers)
    storage_port = emulator.storage_url.split(":")[2].split("/")[0]
    assert via_env.proxied(f"127.0.0.1:{storage_port}/storage/{job.id}/0")


@pytest.mark.anyio
async def test_the_async_client_uses_the_environment_proxy(
    via_env: ForwardProxy, emulator: Emulator
) -> None:
    async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        assert (await client.videos.get(DEMO_JOB_ID)).id == DEMO_JOB_ID
    assert via_env.proxied(f"127.0.0.1:{emulator.port}/api/v1/videos/{DEMO_JOB_ID}")


def test_a_users_transport_gets_no_environment_proxy(
    via_env: ForwardProxy, emulator: Emulator
) -> None:
    """As in httpx: whoever passes a transport decides where it connects."""
    marker = "job-own-transport"
    emulator.add_job(marker)
    with ModelGates(
        api_key=KEY, base_url=emulator.base_url, transport=httpx.HTTPTransport()
    ) as client:
        client.videos.get(marker)
    assert via_env.proxied(marker, timeout=1) == []


def test_http_client_with_its_own_proxy_and_hooks(
    forward_proxy: ForwardProxy, emulator: Emulator, tmp_path: Path
) -> None:
    assert "HTTP_PROXY" not in os.environ
    seen: list[str] = []
    job = emulator.add_job(
        outputs=[Output.generated(2 * MiB, seed=3)], faults=Faults(drop_at=[MiB], redirect=True)
    )
    with httpx.Client(
        proxy=forward_proxy.url, event_hooks={"request": [lambda r: seen.append(r.url.path)]}
    ) as http_client:
        policy = RetryPolicy(max_retries=3, sleep=lambda _: None)
        with ModelGates(
            api_key=KEY, base_url=emulator.base_url, http_client=http_client, retry=policy
        ) as client:
            result = client.videos.download(job.id, tmp_path / "v.mp4")
        assert not http_client.is_closed  # the user's to close
    assert result.sha256 == job.outputs[0].sha256
    assert [r.authorization for r in emulator.requests_to("storage")] == [None, None]
    assert seen[0] == f"/api/v1/videos/{job.id}/content"
    assert len(seen) == 4  # content -> storage (dropped), content -> storage (resumed)
    assert forward_proxy.proxied(f"/storage/{job.id}/0", count=2)
