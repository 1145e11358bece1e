"""The generated low-level package: it imports, and its download operation sends what the
API expects, authenticated by the client's token alone."""

from __future__ import annotations

import httpx

from modelgates_api import AuthenticatedClient
from modelgates_api.api.videos import (
    create_video,
    download_video_content,
    get_video,
    list_video_models,
)
from modelgates_api.types import File


def test_pinned_operation_modules_import() -> None:
    for module in (create_video, get_video, download_video_content, list_video_models):
        for function in ("sync", "sync_detailed", "asyncio", "asyncio_detailed"):
            assert callable(getattr(module, function)), f"{module.__name__}.{function}"


def test_download_sends_bearer_token_and_no_other_credentials() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, content=b"\x00\x00\x00\x18ftypmp42", headers={"Content-Type": "video/mp4"}
        )

    client = AuthenticatedClient(base_url="https://modelgates.ai/api/v1", token="sk-test-key")
    client.set_httpx_client(
        httpx.Client(
            base_url="https://modelgates.ai/api/v1",
            transport=httpx.MockTransport(handler),
            headers={"Authorization": "Bearer sk-test-key"},
        )
    )
    parsed = download_video_content.sync("job-abc123", client=client, index=0)

    assert isinstance(parsed, File)
    assert parsed.payload.read() == b"\x00\x00\x00\x18ftypmp42"
    (request,) = seen
    assert request.method == "GET"
    assert request.url.path == "/api/v1/videos/job-abc123/content"
    assert request.url.params.multi_items() == [("index", "0")]
    assert request.url.query == b"index=0"
    assert request.headers.get_list("Authorization") == ["Bearer sk-test-key"]
    assert "cookie" not in request.headers
    assert "sk-test-key" not in str(request.url)


def test_authenticated_client_adds_the_token_header_itself() -> None:
    """Without set_httpx_client the generated client builds its own httpx client and puts
    the token in the Authorization header; nothing else carries it."""
    client = AuthenticatedClient(base_url="https://modelgates.ai/api/v1", token="sk-test-key")
    httpx_client = client.get_httpx_client()
    assert httpx_client.headers.get_list("Authorization") == ["Bearer sk-test-key"]
    assert not httpx_client.cookies
    kwargs = download_video_content._get_kwargs("job-abc123", index=0)
    request = httpx_client.build_request(**kwargs)
    assert str(request.url) == "https://modelgates.ai/api/v1/videos/job-abc123/content?index=0"
    assert request.headers.get_list("Authorization") == ["Bearer sk-test-key"]
    httpx_client.close()
