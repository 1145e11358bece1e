"""Error responses become the right exception class with the spec's fields, whatever the
body looks like; exceptions pickle."""

from __future__ import annotations

import json
import pickle

import pytest

from modelgates import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    InternalServerError,
    MissingAPIKeyError,
    ModelGatesError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitError,
    UnexpectedContentError,
)
from modelgates._errors import parse_retry_after, status_error

STATUS_CLASSES = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (402, PaymentRequiredError),
    (404, NotFoundError),
    (429, RateLimitError),
    (500, InternalServerError),
    (502, BadGatewayError),
    (503, InternalServerError),
    (504, InternalServerError),
    (403, APIStatusError),
    (409, APIStatusError),
]


def _spec_body(status: int) -> bytes:
    return json.dumps(
        {
            "error": {"code": status, "message": "Nope", "metadata": {"provider": "x"}},
            "modelgates_metadata": None,
            "user_id": "user_1",
        }
    ).encode()


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
def test_spec_body_gives_class_and_fields(status: int, cls: type[APIStatusError]) -> None:
    exc = status_error(status, {"x-request-id": "req_1"}, _spec_body(status))
    assert type(exc) is cls
    assert (exc.status_code, exc.code, exc.message) == (status, status, "Nope")
    assert exc.metadata == {"provider": "x"}
    assert exc.user_id == "user_1"
    assert exc.request_id == "req_1"
    assert "Nope" in str(exc) and "req_1" in str(exc) and str(status) in str(exc)


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
@pytest.mark.parametrize(
    "body",
    [
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"",
        b"{not json",
        b'{"error": "plain string"}',
        b'{"error": {"code": "x"}}',
        b"[1, 2]",
        b'"just a string"',
        b"\xff\xfe\x00binary",
    ],
)
def test_any_body_gives_the_class_never_a_parse_error(
    status: int, cls: type[APIStatusError], body: bytes
) -> None:
    exc = status_error(status, {}, body)
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.request_id is None
    assert len(exc.body) <= 2000


def test_html_body_text_is_kept() -> None:
    exc = status_error(502, {}, b"<html><h1>Bad Gateway</h1>" + b"x" * 5000 + b"</html>")
    assert exc.message.startswith("<html><h1>Bad Gateway</h1>")
    assert len(exc.body) == 2000


def test_retry_after_seconds_and_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
    exc = status_error(429, {"retry-after": "7"}, b"")
    assert isinstance(exc, RateLimitError)
    assert exc.retry_after == 7.0


def test_hierarchy() -> None:
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(BadGatewayError, InternalServerError)
    for cls in (MissingAPIKeyError, APIConnectionError, APIStatusError, UnexpectedContentError):
        assert issubclass(cls, ModelGatesError)


@pytest.mark.parametrize(
    "exc",
    [
        status_error(502, {"x-request-id": "r"}, _spec_body(502)),
        status_error(429, {"retry-after": "2"}, b"<html>"),
        MissingAPIKeyError("no key"),
        APITimeoutError("timed out"),
        UnexpectedContentError("not a video", content_type="text/html", body="<html>"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_exceptions_pickle_with_their_fields(exc: ModelGatesError) -> None:
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is type(exc)
    assert str(copy) == str(exc)
    assert copy.__dict__ == exc.__dict__
