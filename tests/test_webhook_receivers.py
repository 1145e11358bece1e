"""docs/webhooks.md's receivers, as written there, under the real servers of their
frameworks (werkzeug for Flask, uvicorn for Starlette) on loopback; the emulator delivers
to them and they download the video."""

from __future__ import annotations

import contextlib
import importlib.util
import re
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from modelgates import ModelGates
from modelgates.emulator import DEFAULT_WEBHOOK_SECRET, Emulator, demo_video
from tests._spec import ROOT
from tests.conftest import KEY

DOCS = (ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8")
BLOCKS = {
    match.group(1): match.group(0).split("\n", 1)[1]
    for match in re.finditer(r"# (receiver_\w+\.py)\n.*?(?=```)", DOCS, flags=re.DOTALL)
}


def _load(name: str, directory: Path) -> ModuleType:
    """The docs' file, written out and imported as the user's own module would be."""
    path = directory / name
    path.write_text(BLOCKS[name], encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _werkzeug(app: Any) -> Iterator[str]:
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def _uvicorn(app: Any) -> Iterator[str]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


SERVERS = {"receiver_flask.py": _werkzeug, "receiver_starlette.py": _uvicorn}


def test_the_docs_have_both_receivers() -> None:
    assert set(BLOCKS) == set(SERVERS)


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_the_docs_receiver_downloads_the_video_once(
    name: str, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELGATES_API_KEY", KEY)
    monkeypatch.setenv("MODELGATES_BASE_URL", emulator.base_url)
    monkeypatch.setenv("MODELGATES_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET)
    monkeypatch.chdir(tmp_path)
    module = _load(name, tmp_path)
    emulator.webhook_faults.bad_signature = 1
    emulator.webhook_faults.duplicate = 1
    try:
        with (
            SERVERS[name](module.app) as base,
            ModelGates(api_key=KEY, base_url=emulator.base_url) as client,
        ):
            job = client.videos.create(
                model="emulator/video-1",
                prompt="a fox",
                callback_url=f"{base}/webhooks/modelgates",
            )
            deliveries = emulator.wait_for_webhooks(timeout=30)
    finally:
        client_of_module = getattr(module, "client", None)
        if client_of_module is not None:
            client_of_module.close()
        sys.modules.pop(Path(name).stem, None)
    assert [(d.status, d.fault) for d in deliveries] == [
        (400, "bad_signature"),
        (200, None),
        (200, "duplicate"),
    ]
    assert (tmp_path / "videos" / f"{job.id}.mp4").read_bytes() == demo_video()
    content = [r for r in emulator.requests_to("api") if r.path.endswith(f"/{job.id}/content")]
    assert len(content) == 1, "the duplicate must not download again"
