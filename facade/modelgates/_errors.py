"""One exception hierarchy for everything the library raises on purpose.

Callers catch ``ModelGatesError`` for all of it, or a subclass for one cause. Status errors
are built from whatever body the server sent: the spec's JSON error object when it is one,
otherwise the (truncated) text, so an HTML page from a proxy or an empty 502 still gives the
right class and never a ``JSONDecodeError`` or ``KeyError``.

Nothing here ever holds a request header, so the API key cannot leak through an exception.
Every exception pickles (to cross process pools) with all its fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

#: How much of an error body is kept on the exception.
MAX_BODY_CHARS = 2000


def _restore(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class ModelGatesError(Exception):
    """Base class of every error this library raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not survive the default (cls(*args)) unpickling.
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class MissingAPIKeyError(ModelGatesError):
    """No API key was given and none was found in the environment."""


class InvalidAPIKeyError(ModelGatesError, ValueError):
    """The API key has characters no key can have (inner whitespace, control characters)."""


class InsecureURLError(ModelGatesError, ValueError):
    """The base URL would send the API key in clear text to a host other than loopback."""


class InvalidParameterError(ModelGatesError, ValueError):
    """An argument was rejected before any request was sent."""


class DestinationExistsError(ModelGatesError, FileExistsError):
    """The download's destination exists and ``overwrite`` was not given."""


class UnexpectedContentError(ModelGatesError):
    """A successful response whose body is not a video (JSON or an HTML page, say)."""

    def __init__(self, message: str, *, content_type: str | None, body: str = "") -> None:
        super().__init__(message)
        self.content_type = content_type
        self.body = body


class DownloadIntegrityError(ModelGatesError):
    """The bytes received are not the bytes the server announced or the caller expected."""


class ResponseShapeError(ModelGatesError):
    """A successful answer that does not fit the operation's schema as generated: usually
    the API changed and ``modelgates_api`` needs regenerating. Names the operation."""

    def __init__(self, operation: str, detail: str) -> None:
        super().__init__(
            f"the answer to {operation} does not fit its schema ({detail}); "
            "if the API changed, regenerate the client (make generate)"
        )
        self.operation = operation
        self.detail = detail


class VideoJobFailedError(ModelGatesError):
    """The job ended ``failed``, ``cancelled`` or ``expired``; ``job`` is its last state."""

    def __init__(self, job: Any) -> None:
        reason = f": {job.error}" if getattr(job, "error", None) else ""
        super().__init__(f"video job {job.id} {job.status}{reason}")
        self.job = job


class VideoJobTimeoutError(ModelGatesError, TimeoutError):
    """``wait`` ran out of time; the job may still finish (``job`` is its last state)."""

    def __init__(self, job: Any, waited: float) -> None:
        super().__init__(
            f"video job {job.id} is still {job.status} after {waited:.0f} s; it may still "
            f"finish: wait again, or check it later with videos.get({job.id!r})"
        )
        self.job = job
        self.waited = waited


class WebhookVerificationError(ModelGatesError):
    """A webhook delivery that must not be trusted: answer it with a 4xx and do not act on it.

    ``reason`` says which check failed, for logs and metrics: ``missing_header``,
    ``malformed_header``, ``no_matching_signature``, ``timestamp_too_old`` or
    ``timestamp_in_future``. The message names the header, never a secret or a signature.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class APIConnectionError(ModelGatesError):
    """The request did not get a complete answer: connection refused, reset or dropped."""


class APITimeoutError(APIConnectionError):
    """A connect, read, write or pool timeout expired."""


class APIStatusError(ModelGatesError):
    """The API answered with an error status (4xx or 5xx).

    ``code``, ``message``, ``metadata`` and ``user_id`` come from the API's error body when
    it has one; ``request_id`` from the ``X-Request-Id`` header; ``body`` is the body's text,
    truncated.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: int | str | None = None,
        metadata: dict[str, Any] | None = None,
        user_id: str | None = None,
        request_id: str | None = None,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(_status_line(status_code, message, request_id))
        self.status_code = status_code
        self.code = code
        self.message = message
        self.metadata = metadata
        self.user_id = user_id
        self.request_id = request_id
        self.body = body
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """400: the request's parameters were rejected."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PaymentRequiredError(APIStatusError):
    """402: not enough credits or quota."""


class NotFoundError(APIStatusError):
    """404: no such job, output index or endpoint."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` says how long the server asked to wait."""


class InternalServerError(APIStatusError):
    """500 and any other 5xx."""


class BadGatewayError(InternalServerError):
    """502: the upstream video provider failed."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    404: NotFoundError,
    429: RateLimitError,
    502: BadGatewayError,
}


def _status_line(status_code: int, message: str, request_id: str | None) -> str:
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        phrase = "Error"
    line = f"{status_code} {phrase}: {message}" if message else f"{status_code} {phrase}"
    return f"{line} (request id {request_id})" if request_id else line


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import datetime

    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def status_error(status_code: int, headers: Mapping[str, str], body: bytes) -> APIStatusError:
    """The exception for an error response, from its status, headers and (read) body."""
    text = body.decode("utf-8", errors="replace")
    code: int | str | None = None
    message = ""
    metadata: dict[str, Any] | None = None
    user_id: str | None = None
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict):
            raw_code = error.get("code")
            code = raw_code if isinstance(raw_code, int | str) else None
            raw_message = error.get("message")
            message = raw_message if isinstance(raw_message, str) else ""
            raw_metadata = error.get("metadata")
            metadata = raw_metadata if isinstance(raw_metadata, dict) else None
        elif isinstance(error, str):
            message = error
        raw_user = parsed.get("user_id")
        user_id = raw_user if isinstance(raw_user, str) else None
    if not message:
        message = " ".join(text.split())[:200]
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    return cls(
        message,
        status_code=status_code,
        code=code,
        metadata=metadata,
        user_id=user_id,
        request_id=headers.get("x-request-id"),
        body=text[:MAX_BODY_CHARS],
        retry_after=parse_retry_after(headers.get("retry-after")),
    )
