"""One exception hierarchy for everything the library raises on purpose.

Callers catch ``ModelGatesError`` for all of it, or a subclass for one cause. Status errors
are built from whatever body the server sent: the spec's JSON error object when it is one,
otherwise the (truncated) text, so an HTML page from a proxy or an empty 502 still gives the
right class and never a ``JSONDecodeError`` or ``KeyError``.

Nothing here ever holds a request header, so the API key cannot leak through an exception.
Every exception pickles (to cross process pools) with all its fields.

Messages name what the caller can change in the caller's own words: a library user reads
``overwrite=True`` and ``client.videos.wait('job-1')``, a CLI user reads ``--overwrite`` and
``modelgates videos wait job-1``. Every message that names a parameter, a setting or a call
asks the current ``Wording`` (``param``, ``setting``, ``call``); this module's default speaks
Python, and the CLI installs its own for the duration of a command (``using``). So the
library never knows a flag, and the CLI never rewrites a message.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno as errnos
import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

#: How much of an error body is kept on the exception.
MAX_BODY_CHARS = 2000


class Wording:
    """How messages name parameters, settings and calls: here, as a Python caller writes
    them. The CLI subclasses it with its flags and commands."""

    def param(self, name: str) -> str:
        """A parameter: ``poll_interval`` (CLI: ``--poll-interval``)."""
        return name

    def argument(self, name: str) -> str:
        """Where a value came from: ``the base_url argument`` (CLI: ``--base-url``)."""
        return f"the {name} argument"

    def setting(self, name: str, value: str) -> str | None:
        """A parameter with a value, ``value`` as Python source: ``overwrite=True`` (CLI:
        ``--overwrite``); None when the caller has no way to give it (no such flag)."""
        return f"{name}={value}"

    def call(self, method: str, job_id: str, **options: object) -> str:
        """A ``client.videos`` call that continues or inspects a job:
        ``client.videos.download('job-1', 'out.mp4')`` (CLI: ``modelgates videos download
        job-1 -o out.mp4``). ``dest`` is positional; other options are keywords."""
        args = [repr(job_id)]
        dest = options.pop("dest", None)
        if dest is not None:
            args.append(repr(str(dest)))
        args += [f"{key}={value!r}" for key, value in options.items()]
        return f"client.videos.{method}({', '.join(args)})"


#: The library's own words; ``Wording`` holds no state, so one instance serves all.
PYTHON_WORDING = Wording()
_WORDING: contextvars.ContextVar[Wording] = contextvars.ContextVar(
    "modelgates_wording", default=PYTHON_WORDING
)


@contextlib.contextmanager
def using(wording: Wording) -> Iterator[None]:
    """Messages built inside this block speak ``wording``'s language (threads started
    inside must run in a copy of this context: ``contextvars.copy_context().run``)."""
    token = _WORDING.set(wording)
    try:
        yield
    finally:
        _WORDING.reset(token)


def param(name: str) -> str:
    return _WORDING.get().param(name)


def argument(name: str) -> str:
    return _WORDING.get().argument(name)


def setting(name: str, value: str) -> str | None:
    return _WORDING.get().setting(name, value)


def call(method: str, job_id: str, **options: object) -> str:
    return _WORDING.get().call(method, job_id, **options)


def _restore(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    exc = cls.__new__(cls)
    exc.args = args
    for name, value in state.items():
        setattr(exc, name, value)  # setattr: OSError's errno/filename are not in __dict__
    return exc


class ModelGatesError(Exception):
    """Base class of every error this library raises on purpose.

    ``job_id`` names the video job the error concerns when one exists: every exception
    that ``videos.generate`` raises after creating its job carries it (a billed job id is
    never lost).
    """

    job_id: str | None = None

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


class InvalidBaseURLError(InvalidParameterError):
    """The base URL (argument or ``MODELGATES_BASE_URL``) is not an absolute http(s) URL."""


class DestinationExistsError(ModelGatesError, FileExistsError):
    """The download's destination exists and ``overwrite`` was not given."""


class FileSystemError(ModelGatesError, OSError):
    """Writing a download failed in the file system: permission, space, a read-only file
    system, a file where a directory is needed.

    ``dest`` is the caller's destination file (never the hidden temporary file beside it);
    ``errno`` and ``strerror`` are the operating system's. The exception is also the
    matching ``OSError`` subclass (``PermissionError``, ``NotADirectoryError``, ...), as
    ``DestinationExistsError`` is also a ``FileExistsError``.
    """

    def __init__(
        self, message: str, *, dest: str, errno: int | None = None, strerror: str | None = None
    ) -> None:
        super().__init__(message)
        self.dest = dest
        self.errno = errno
        self.strerror = strerror
        self.filename = dest

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        state = {
            **self.__dict__,
            "errno": self.errno,
            "strerror": self.strerror,
            "filename": self.filename,
        }
        return (_restore, (type(self), self.args, state))


class _FileSystemPermissionError(FileSystemError, PermissionError):
    pass


class _FileSystemNotFoundError(FileSystemError, FileNotFoundError):
    pass


class _FileSystemNotADirectoryError(FileSystemError, NotADirectoryError):
    pass


class _FileSystemIsADirectoryError(FileSystemError, IsADirectoryError):
    pass


_FILE_SYSTEM_CLASSES: dict[int, type[FileSystemError]] = {
    errnos.EACCES: _FileSystemPermissionError,
    errnos.EPERM: _FileSystemPermissionError,
    errnos.ENOENT: _FileSystemNotFoundError,
    errnos.ENOTDIR: _FileSystemNotADirectoryError,
    errnos.EISDIR: _FileSystemIsADirectoryError,
}

#: Plainer words than strerror's for what a user can fix.
_FILE_SYSTEM_REASONS = {
    errnos.ENOTDIR: "a file is in the way where a directory is needed",
    errnos.EISDIR: "it is a directory",
}


def file_system_error(exc: OSError, dest: str | os.PathLike[str]) -> FileSystemError:
    """``exc`` (about whatever file the OS named: often the temporary one) as the error
    about ``dest``, the file the caller asked for."""
    where = os.fspath(dest)
    number = exc.errno
    reason = _FILE_SYSTEM_REASONS.get(number or 0) or exc.strerror or str(exc)
    cls = _FILE_SYSTEM_CLASSES.get(number or 0, FileSystemError)
    return cls(f"cannot write {where!r}: {reason}", dest=where, errno=number, strerror=exc.strerror)


@contextlib.contextmanager
def naming_destination(dest: str | os.PathLike[str]) -> Iterator[None]:
    """Inside: a plain ``OSError`` comes out as ``FileSystemError`` naming ``dest``."""
    try:
        yield
    except ModelGatesError:
        raise
    except OSError as exc:
        raise file_system_error(exc, dest) from exc


@contextlib.contextmanager
def carrying_job_id(job_id: str, *then: tuple[str, dict[str, object]]) -> Iterator[None]:
    """Every exception leaving this block carries ``job_id`` (an attribute, on any
    exception, Ctrl-C included) and, unless the job itself failed, a note naming the calls
    that continue it (``then``: (method, options) pairs, in the caller's ``Wording``)."""
    try:
        yield
    except BaseException as exc:
        if getattr(exc, "job_id", None) is None:
            exc.job_id = job_id  # type: ignore[attr-defined]
        if then and not isinstance(exc, VideoJobFailedError):
            steps = ", then ".join(call(method, job_id, **options) for method, options in then)
            exc.add_note(f"video job {job_id} exists; continue it with: {steps}")
        raise


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
        self.job_id = job.id


class VideoJobTimeoutError(ModelGatesError, TimeoutError):
    """``wait`` ran out of time; the job may still finish (``job`` is its last state)."""

    def __init__(self, job: Any, waited: float) -> None:
        super().__init__(
            f"video job {job.id} is still {job.status} after {waited:.0f} s; it may still "
            f"finish: wait again with {call('wait', job.id)}, "
            f"or check it later with {call('get', job.id)}"
        )
        self.job = job
        self.job_id = job.id
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
