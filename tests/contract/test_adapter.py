"""What the facade assumes of the generated code, one test per assumption. When a
regeneration breaks the facade, the failing test here names the operation and the
assumption."""

from __future__ import annotations

import ast
from pathlib import Path

from modelgates import ModelGates
from modelgates._adapter import download_request
from modelgates.emulator import DEMO_JOB_ID, Emulator
from modelgates_api.api.videos import get_video, list_video_models
from tests.conftest import KEY

FACADE = Path(__file__).resolve().parent.parent / "facade" / "modelgates"


def test_download_video_content_request_shape() -> None:
    """download_video_content._get_kwargs gives GET, the path under the base URL with the
    job id as one encoded segment, and index as a query parameter."""
    shape = download_request("job-abc123", 0)
    assert (shape.method, shape.url, shape.params) == (
        "GET",
        "/videos/job-abc123/content",
        {"index": 0},
    )
    assert download_request("a/b?c#d", 2).url == "/videos/a%2Fb%3Fc%23d/content"
    assert download_request("x", 2).params == {"index": 2}


def test_raw_client_sends_generated_calls_through_the_facade(
    client: ModelGates, emulator: Emulator
) -> None:
    """AuthenticatedClient.set_httpx_client: generated calls use the facade's httpx client
    (its key, base URL and timeouts)."""
    response = get_video.sync_detailed(DEMO_JOB_ID, client=client.raw)
    assert response.status_code == 200
    assert response.parsed is not None and response.parsed.id == DEMO_JOB_ID  # type: ignore[union-attr]
    models = list_video_models.sync(client=client.raw)
    assert models is not None and [m.id for m in models.data][:2] == [  # type: ignore[union-attr]
        "emulator/video-1",
        "emulator/video-lite",
    ]
    (first, second) = emulator.requests_to("api")
    assert first.authorization == second.authorization == f"Bearer {KEY}"
    assert first.headers["user-agent"].startswith("modelgates-python/")


def test_raw_client_repr_and_copies_show_no_token(client: ModelGates) -> None:
    for raw in (
        client.raw,
        client.raw.with_headers({"X-A": "1"}),
        client.raw.with_cookies({"c": "1"}),
    ):
        assert KEY not in repr(raw)
        assert "<redacted>" in repr(raw)


def test_only_the_adapter_imports_generated_code() -> None:
    offenders = []
    for path in FACADE.rglob("*.py"):
        if path.name == "_adapter.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "modelgates_api"]
    assert offenders == []
