"""Checks on what callers pass, run before any request is sent.

The generated client percent-encodes ``/ ? #`` in a job id, but ``.`` and ``..`` pass
through and httpx resolves them as dot segments (``..`` would fetch ``/api/v1/content``).
So a job id must be one real path segment: non-empty, not a dot segment, no control
characters. Anything else is encoded as exactly one segment under ``/videos/``.
"""

from __future__ import annotations

import unicodedata

from ._errors import InvalidParameterError, param

#: Job ids are short ("job-abc123"); this bound keeps any percent-encoded id well inside
#: httpx's URL length limit, which would otherwise fail with its own exception.
MAX_JOB_ID_LENGTH = 1024


def check_job_id(job_id: object) -> str:
    name = param("job_id")
    if not isinstance(job_id, str):
        raise InvalidParameterError(f"{name} must be a str, not {type(job_id).__name__}")
    if not job_id:
        raise InvalidParameterError(f"{name} must not be empty")
    if len(job_id) > MAX_JOB_ID_LENGTH:
        raise InvalidParameterError(
            f"{name} is {len(job_id)} characters long; a job id has at most {MAX_JOB_ID_LENGTH}"
        )
    if job_id in {".", ".."}:
        raise InvalidParameterError(f"{name} {job_id!r} is a path dot segment, not a job id")
    for position, char in enumerate(job_id):
        if unicodedata.category(char) in {"Cc", "Cs"}:
            raise InvalidParameterError(
                f"{name} {job_id!r} contains a control character at position {position}"
            )
    return job_id


def check_index(index: object) -> int:
    # bool is an int subclass; True as an output index is a bug in the caller.
    if isinstance(index, bool) or not isinstance(index, int):
        raise InvalidParameterError(f"{param('index')} must be an int, not {type(index).__name__}")
    if index < 0:
        raise InvalidParameterError(f"{param('index')} must be >= 0, got {index}")
    return index


def check_retries(max_retries: object) -> int:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InvalidParameterError(
            f"{param('max_retries')} must be an int >= 0, not {max_retries!r}"
        )
    return max_retries
