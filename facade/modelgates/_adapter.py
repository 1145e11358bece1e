"""The one module of the facade that imports the generated ``modelgates_api`` package.

Everything the facade needs from generated code passes through here, so a regeneration
that renames or reshapes something breaks this file (and the contract test that names the
assumption), never the rest of the facade or its users.

Assumptions on generated code, each pinned by ``tests/test_adapter.py``:
- ``api.videos.download_video_content._get_kwargs(job_id, index=...)`` gives the method,
  the URL relative to the base URL (job id percent-encoded) and the query parameters. The
  generated functions read the whole body into memory, so for content we only borrow the
  request shape and stream it ourselves.
- ``AuthenticatedClient`` takes ``base_url``, ``token``, ``timeout`` and
  ``follow_redirects``, and uses an httpx client given to ``set_httpx_client`` /
  ``set_async_httpx_client`` for every call.
"""

from __future__ import annotations

from typing import Any

import attrs
import httpx

from modelgates_api import AuthenticatedClient
from modelgates_api.api.videos import download_video_content

from ._keys import APIKey


@attrs.frozen
class RequestShape:
    """Method, URL relative to the base URL, and query parameters of one operation call."""

    method: str
    url: str
    params: dict[str, Any]


def download_request(job_id: str, index: int) -> RequestShape:
    """The request for ``GET /videos/{jobId}/content?index=N``, as the spec defines it."""
    kwargs = download_video_content._get_kwargs(job_id, index=index)
    return RequestShape(
        method=str(kwargs["method"]).upper(), url=str(kwargs["url"]), params=dict(kwargs["params"])
    )


class RawClient(AuthenticatedClient):
    """The generated client, configured by the facade, whose repr shows no token.

    The generated ``AuthenticatedClient`` puts the token in its repr; this subclass keeps
    everything else. Copies made with ``with_headers``/``with_timeout``/``with_cookies``
    stay of this class (attrs ``evolve`` keeps the class) and so stay redacted.
    """

    def __repr__(self) -> str:
        return f"AuthenticatedClient(base_url={self._base_url!r}, token='<redacted>')"


def raw_client(
    base_url: str,
    key: APIKey,
    timeout: httpx.Timeout,
    *,
    sync_client: httpx.Client | None = None,
    async_client: httpx.AsyncClient | None = None,
) -> AuthenticatedClient:
    """A generated ``AuthenticatedClient`` that sends its calls through the facade's httpx
    client (same key, base URL, timeouts, transport)."""
    client = RawClient(
        base_url=base_url, token=key.reveal(), timeout=timeout, follow_redirects=True
    )
    if sync_client is not None:
        client.set_httpx_client(sync_client)
    if async_client is not None:
        client.set_async_httpx_client(async_client)
    return client
