"""A batch's input: request objects from JSONL, CSV or Python, each with a stable identity.

The identity is what the ledger keys a request by and the stem of its output files, so it
must not depend on line order: ``name`` when the line has one, else the first 12 hex digits
of the sha256 of the request's canonical JSON (sorted keys, no spaces). Everything is checked
before anything is sent: a bad line or two lines with one identity refuse the whole input.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from modelgates import InvalidParameterError

#: A name becomes a file name: letters, digits, ``._-``, not starting with a dot.
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
#: CSV cells kept as text even when they parse as JSON (a prompt "1984" stays a string).
_TEXT_FIELDS = frozenset({"name", "model", "prompt"})

RequestSource = str | os.PathLike[str] | Iterable[Mapping[str, Any]]


@attrs.frozen
class BatchRequest:
    """One line of the input: its identity, where it was, and the fields to send."""

    name: str
    line: int
    fields: dict[str, Any] = attrs.field(eq=False)
    #: The canonical JSON of ``fields``: what "the same request" means across runs.
    canonical: str


def canonical_json(fields: Mapping[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _request(entry: object, line: int, where: str) -> BatchRequest:
    if not isinstance(entry, Mapping):
        raise InvalidParameterError(f"{where} line {line}: expected a JSON object")
    fields = dict(entry)
    name = fields.pop("name", None)
    model = fields.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidParameterError(f"{where} line {line}: 'model' must be a non-empty string")
    if "prompt" in fields and not isinstance(fields["prompt"], str):
        raise InvalidParameterError(f"{where} line {line}: 'prompt' must be a string")
    try:
        canonical = canonical_json(fields)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{where} line {line}: not JSON-serialisable: {exc}") from None
    if name is None:
        name = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    elif not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidParameterError(
            f"{where} line {line}: name {name!r} must be 1-100 letters, digits, '.', '_' "
            "or '-', not starting with '.' (it names the output files)"
        )
    return BatchRequest(name=name, line=line, fields=fields, canonical=canonical)


def _csv_value(field: str, text: str) -> Any:
    """A CSV cell as the CLI's ``--field`` reads a value: JSON if it parses, else text."""
    if field in _TEXT_FIELDS:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _read_file(path: Path) -> list[tuple[int, object]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidParameterError(f"cannot read the batch input {str(path)!r}: {exc}") from None
    if path.suffix.lower() == ".csv":
        rows = csv.DictReader(text.splitlines())
        entries: list[tuple[int, object]] = []
        for row in rows:
            if None in row:
                raise InvalidParameterError(
                    f"{path} line {rows.line_num}: more cells than the header has names"
                )
            cells = {k: _csv_value(k, v) for k, v in row.items() if k and v not in ("", None)}
            entries.append((rows.line_num, cells))
        return entries
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            entries.append((number, json.loads(raw)))
        except ValueError as exc:
            raise InvalidParameterError(f"{path} line {number}: not JSON: {exc}") from None
    return entries


def load_requests(source: RequestSource) -> list[BatchRequest]:
    """The requests of ``source``: a ``.jsonl`` (one object a line; blank and ``#`` lines
    skipped) or ``.csv`` (a header row of field names) file, or an iterable of mappings
    (their "line" is their 1-based position). Refuses duplicate identities, naming both
    lines."""
    if isinstance(source, str | os.PathLike):
        path = Path(os.fspath(source))
        where = str(path)
        entries = _read_file(path)
    elif isinstance(source, Mapping):
        raise InvalidParameterError("requests must be an iterable of request mappings, not one")
    else:
        where = "requests"
        entries = list(enumerate(source, start=1))
    requests: list[BatchRequest] = []
    seen: dict[str, int] = {}
    for line, entry in entries:
        request = _request(entry, line, where)
        if request.name in seen:
            raise InvalidParameterError(
                f"{where}: line {seen[request.name]} and line {line} both have the identity "
                f"{request.name!r}; give each a distinct 'name'"
            )
        seen[request.name] = line
        requests.append(request)
    return requests


def parse_shard(shard: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``"K/N"`` (1 <= K <= N) as ``(K, N)``."""
    if shard is None:
        return None
    if isinstance(shard, str):
        k_text, sep, n_text = shard.partition("/")
        try:
            k, n = int(k_text), int(n_text)
        except ValueError:
            k = n = 0
        if not sep:
            k = n = 0
    else:
        k, n = shard
    if not 1 <= k <= n:
        raise InvalidParameterError(f"shard {shard!r} must be K/N with 1 <= K <= N, as in 2/4")
    return k, n


def in_shard(name: str, shard: tuple[int, int] | None) -> bool:
    """Whether the request of this identity belongs to shard K of N: by a hash of the
    identity alone, so every machine given the same list agrees without talking."""
    if shard is None:
        return True
    k, n = shard
    return int(hashlib.sha256(name.encode()).hexdigest()[:16], 16) % n == k - 1
