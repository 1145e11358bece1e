"""The names and signatures the README documents. Changing one is a breaking change: this
test is where that is decided, not by accident."""

from __future__ import annotations

import inspect

import modelgates
from modelgates import AsyncModelGates, AsyncVideos, DownloadResult, ModelGates, Videos

CLIENT_INIT = (
    "(*, api_key: 'str | None' = None, base_url: 'str | None' = None, "
    "timeout: 'float | httpx.Timeout | None' = None, max_retries: 'int | None' = None, "
    "allow_insecure_http: 'bool' = False, transport: '{transport} | None' = None, "
    "retry: 'RetryPolicy | None' = None, http_client: '{http_client} | None' = None) -> 'None'"
)
DOWNLOAD = (
    "(job_id: 'str', dest: 'str | os.PathLike[str]', *, index: 'int' = 0, "
    "overwrite: 'bool' = False, on_progress: 'ProgressCallback | None' = None, "
    "resume: 'bool' = True, expected_sha256: 'str | None' = None, checksum: 'bool' = True, "
    "max_retries: 'int | None' = None, timeout: 'float | httpx.Timeout | None' = None, "
    "extra_headers: 'Mapping[str, str] | None' = None, "
    "extra_query: 'Mapping[str, Any] | None' = None, "
    "connections: 'int | None' = None) -> 'DownloadResult'"
)
CREATE = (
    "(*, model: 'str', prompt: 'str | None' = None, check: 'bool' = False, "
    "extra_headers: 'Mapping[str, str] | None' = None, "
    "extra_query: 'Mapping[str, Any] | None' = None, "
    "extra_body: 'Mapping[str, Any] | None' = None, "
    "timeout: 'float | httpx.Timeout | None' = None, "
    "**fields: 'Unpack[VideoRequestFields]') -> 'VideoJob'"
)


def _sig(obj: object) -> str:
    return str(inspect.signature(obj))  # type: ignore[arg-type]


def test_exported_names() -> None:
    assert set(modelgates.__all__) >= {
        "ModelGates",
        "AsyncModelGates",
        "DownloadResult",
        "ModelGatesError",
        "MissingAPIKeyError",
        "APIConnectionError",
        "APITimeoutError",
        "APIStatusError",
        "BadRequestError",
        "AuthenticationError",
        "PaymentRequiredError",
        "NotFoundError",
        "RateLimitError",
        "InternalServerError",
        "BadGatewayError",
    }
    for name in modelgates.__all__:
        assert hasattr(modelgates, name), name


def test_client_signatures() -> None:
    assert _sig(ModelGates.__init__).replace("self, ", "") == CLIENT_INIT.format(
        transport="httpx.BaseTransport", http_client="httpx.Client"
    )
    assert _sig(AsyncModelGates.__init__).replace("self, ", "") == CLIENT_INIT.format(
        transport="httpx.AsyncBaseTransport", http_client="httpx.AsyncClient"
    )
    assert _sig(Videos.create).replace("self, ", "") == CREATE
    assert _sig(AsyncVideos.create).replace("self, ", "") == CREATE
    assert _sig(Videos.download).replace("self, ", "") == DOWNLOAD
    assert _sig(AsyncVideos.download).replace("self, ", "") == DOWNLOAD
    assert (
        _sig(Videos.stream)
        .replace("self, ", "")
        .startswith("(job_id: 'str', *, index: 'int' = 0, extra_headers")
    )
    assert (
        _sig(AsyncVideos.stream)
        .replace("self, ", "")
        .startswith("(job_id: 'str', *, index: 'int' = 0, extra_headers")
    )
    assert inspect.iscoroutinefunction(AsyncVideos.download)


def test_download_result_fields() -> None:
    assert [f.name for f in DownloadResult.__attrs_attrs__] == [
        "path",
        "bytes_written",
        "content_type",
        "sha256",
    ]


def test_webhooks_module() -> None:
    from modelgates import webhooks

    assert webhooks.WebhookVerificationError is modelgates.WebhookVerificationError
    assert issubclass(webhooks.WebhookVerificationError, modelgates.ModelGatesError)
    common = (
        "(payload: 'RawBody', headers: 'HeaderSource', secret: 'SecretSource | None' = None, "
        "*, tolerance: 'float | None' = 300.0, signature_header: 'str' = "
        "'X-ModelGates-Signature'"
    )
    assert _sig(webhooks.verify) == common + ") -> 'None'"
    assert _sig(webhooks.unwrap) == (
        common + ", idempotency_header: 'str' = 'X-ModelGates-Idempotency-Key') -> 'VideoJobEvent'"
    )
    assert [f.name for f in webhooks.VideoJobEvent.__attrs_attrs__] == [
        "type",
        "created_at",
        "idempotency_key",
        "job",
        "raw",
    ]
    for name in webhooks.__all__:
        assert hasattr(webhooks, name), name
