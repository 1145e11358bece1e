"""Finding the API key, and holding it so that it cannot be printed by accident.

The key comes from the ``api_key=`` argument, else ``MODELGATES_API_KEY``, else the file
named by ``MODELGATES_API_KEY_FILE`` (for secret mounts). It lives in an ``APIKey`` whose
``repr()`` and ``str()`` are redacted; only ``reveal()`` gives the value, and only the auth
step that writes the ``Authorization`` header calls it. Error messages say where a bad key
came from and what is wrong with it, never what it is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final, NoReturn

from ._errors import InvalidAPIKeyError, MissingAPIKeyError, setting

ENV_KEY: Final = "MODELGATES_API_KEY"
ENV_KEY_FILE: Final = "MODELGATES_API_KEY_FILE"


class APIKey:
    """An API key that never shows itself in a repr, a str, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The key itself, for the Authorization header and nothing else."""
        return self._value

    def __repr__(self) -> str:
        return "APIKey('<redacted>')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, APIKey) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("APIKey", self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("an API key is not pickled; pass it to the other process explicitly")


def _checked(raw: str, source: str) -> APIKey | None:
    value = raw.strip()
    if not value:
        return None
    for position, char in enumerate(value):
        if char.isspace() or not char.isprintable() or not char.isascii():
            what = "whitespace" if char.isspace() else "a control or non-ASCII character"
            raise InvalidAPIKeyError(
                f"the API key from {source} contains {what} at position {position}: "
                "an API key is one word of printable ASCII"
            )
    return APIKey(value)


def resolve_api_key(
    api_key: str | APIKey | None, environ: Mapping[str, str] | None = None
) -> APIKey:
    """The key to use: the argument, else the environment, else the key file.

    A blank source (``MODELGATES_API_KEY='   '``) counts as unset, so a later source may
    still give the key; when none does, the error names the blank one, the likeliest
    mistake."""
    if isinstance(api_key, APIKey):
        return api_key
    if api_key is not None and not isinstance(api_key, str):
        raise InvalidAPIKeyError(f"api_key must be a str, not {type(api_key).__name__}")
    env = os.environ if environ is None else environ
    blank: list[str] = []
    if api_key is not None:
        key = _checked(api_key, "the api_key argument")
        if key is not None:
            return key
        blank.append("the api_key argument is blank")
    if ENV_KEY in env:
        key = _checked(env[ENV_KEY], ENV_KEY)
        if key is not None:
            return key
        blank.append(f"{ENV_KEY} is set but blank")
    key_file = env.get(ENV_KEY_FILE, "").strip()
    if key_file:
        try:
            text = Path(key_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = (
                exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            )
            raise MissingAPIKeyError(
                f"{ENV_KEY_FILE} names {key_file!r}, which cannot be read: {reason}"
            ) from None
        key = _checked(text, f"the file named by {ENV_KEY_FILE} ({key_file})")
        if key is not None:
            return key
        blank.append(f"the file named by {ENV_KEY_FILE} ({key_file}) is empty")
    by_argument = setting("api_key", "...")
    ways = f"pass {by_argument}, or set" if by_argument else "set"
    problem = "; ".join(blank) if blank else "no API key"
    raise MissingAPIKeyError(
        f"{problem}: {ways} {ENV_KEY} (the key) or {ENV_KEY_FILE} (a file holding it)"
    )
