"""The batch's durable record: what was asked, what was sent, what came back.

The API has no idempotency key, so this file is what stands between a crash and a request
billed twice. It is SQLite from the standard library in WAL mode with ``synchronous=FULL``:
every state change is one committed transaction, on disk before the next step is taken
(``submitting`` is committed *before* the POST goes out, the job id as soon as the 202
arrives), so the process may be killed at any instruction and a rerun knows exactly where
each request stood. A request found in ``submitting`` was sent and maybe billed: it
becomes ``unknown`` and is never sent again unless the caller says so.

The schema version is the database's ``user_version``; a newer or unknown one is refused,
never "upgraded" by guessing. An exclusive ``flock`` on ``<ledger>.lock`` (held while the
ledger is open) refuses a second process at once: two runners on one ledger would each
submit the planned requests. Within the process, a lock makes each method one step on the
shared connection, whichever thread calls it: the runner's calls come from worker threads,
and a transaction begun while another thread's is open would fail.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import attrs

from modelgates import InvalidParameterError

from ._errors import BatchLedgerError
from ._input import BatchRequest
from ._result import (
    COMPLETED,
    DOWNLOADED,
    FAILED,
    PLANNED,
    RUNNING,
    SUBMITTED,
    SUBMITTING,
    UNKNOWN,
    BatchItem,
    BatchOutput,
)

SCHEMA_VERSION = 1
#: Marks the file as a modelgates batch ledger ("MGBL").
APPLICATION_ID = 0x4D47424C
LEDGER_NAME = ".modelgates-batch.sqlite"

_SCHEMA = """
CREATE TABLE requests (
    name TEXT PRIMARY KEY,
    line INTEGER NOT NULL,
    canonical TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    job_id TEXT,
    error TEXT,
    cost REAL,
    output_count INTEGER,
    submitted_at REAL,
    updated_at REAL NOT NULL
);
CREATE TABLE outputs (
    name TEXT NOT NULL,
    idx INTEGER NOT NULL,
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    sha256 TEXT,
    PRIMARY KEY (name, idx)
);
CREATE TABLE attempts (
    name TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    job_id TEXT,
    state TEXT NOT NULL,
    error TEXT,
    ended_at REAL NOT NULL,
    PRIMARY KEY (name, attempt)
);
"""


@attrs.frozen
class InputChanges:
    """How the input differs from what the ledger was made from."""

    added: tuple[str, ...]
    missing: tuple[str, ...]


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    if read_only:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _check_schema(conn: sqlite3.Connection, path: Path, *, create: bool) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if version == 0 and app_id == 0 and tables == 0 and create:
        conn.executescript(
            f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; "
            f"PRAGMA application_id={APPLICATION_ID}; COMMIT;"
        )
        return
    if app_id != APPLICATION_ID:
        raise BatchLedgerError(f"{path} is not a modelgates batch ledger")
    if version != SCHEMA_VERSION:
        newer = "a newer" if version > SCHEMA_VERSION else "an unknown"
        raise BatchLedgerError(
            f"the ledger {path} has {newer} schema version {version}; this modelgates reads "
            f"version {SCHEMA_VERSION}: use the modelgates that made it"
        )


P = ParamSpec("P")
T = TypeVar("T")


def _one_step(
    method: Callable[Concatenate[Ledger, P], T],
) -> Callable[Concatenate[Ledger, P], T]:
    """The method holds the ledger's lock: it runs alone on the shared connection."""

    @functools.wraps(method)
    def locked(self: Ledger, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One committed transaction: all of it on disk, or none of it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _items(conn: sqlite3.Connection) -> list[BatchItem]:
    outputs: dict[str, list[BatchOutput]] = {}
    for name, path, size, sha256 in conn.execute(
        "SELECT name, path, bytes, sha256 FROM outputs ORDER BY name, idx"
    ):
        outputs.setdefault(name, []).append(BatchOutput(Path(path), size, sha256))
    return [
        BatchItem(
            name=name,
            line=line,
            state=state,
            job_id=job_id,
            attempt=attempt,
            outputs=tuple(outputs.get(name, ())),
            cost=cost,
            error=error,
            submitted_at=submitted_at,
        )
        for name, line, state, job_id, attempt, cost, error, submitted_at in conn.execute(
            "SELECT name, line, state, job_id, attempt, cost, error, submitted_at "
            "FROM requests ORDER BY line, name"
        )
    ]


def read_items(path: Path) -> list[BatchItem]:
    """The ledger's requests, read only (no lock: WAL lets a reader look while a batch
    runs). For ``batch-status``: no network, nothing written."""
    if not path.is_file():
        raise BatchLedgerError(f"no batch ledger at {path}")
    try:
        conn = _connect(path, read_only=True)
    except sqlite3.Error as exc:
        raise BatchLedgerError(f"cannot open the ledger {path}: {exc}") from None
    try:
        _check_schema(conn, path, create=False)
        return _items(conn)
    except sqlite3.DatabaseError as exc:
        raise BatchLedgerError(f"cannot read the ledger {path}: {exc}") from None
    finally:
        conn.close()


class Ledger:
    """The open ledger of one running batch; each method is one committed transition."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._lock_fd = self._flock(path)
        try:
            self._conn = _connect(path, read_only=False)
            _check_schema(self._conn, path, create=True)
        except BaseException:
            if hasattr(self, "_conn"):
                self._conn.close()
            os.close(self._lock_fd)
            raise

    @staticmethod
    def _flock(path: Path) -> int:
        lock_path = path.with_name(path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BatchLedgerError(
                f"another modelgates batch is running on the ledger {path} (it holds "
                f"{lock_path.name}); wait for it to end or stop it: two runs at once could "
                "submit the same requests twice"
            ) from None
        return fd

    @_one_step
    def close(self) -> None:
        self._conn.close()
        os.close(self._lock_fd)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------

    @_one_step
    def items(self) -> list[BatchItem]:
        return _items(self._conn)

    @_one_step
    def output_count(self, name: str) -> int | None:
        row = self._conn.execute("SELECT output_count FROM requests WHERE name=?", (name,))
        value = row.fetchone()
        return None if value is None else value[0]

    # -- transitions -----------------------------------------------------------------------

    def _set(self, name: str, state: str, **columns: object) -> None:
        assignments = "".join(f", {column}=?" for column in columns)
        with _transaction(self._conn):
            self._conn.execute(
                f"UPDATE requests SET state=?, updated_at=?{assignments} WHERE name=?",  # noqa: S608 - column names are ours
                (state, time.time(), *columns.values(), name),
            )

    @_one_step
    def sync_input(self, requests: Sequence[BatchRequest]) -> InputChanges:
        """Plan the input's new requests; refuse a changed one (same name, other content)
        before anything is written."""
        known = dict(self._conn.execute("SELECT name, canonical FROM requests").fetchall())
        for request in requests:
            previous = known.get(request.name)
            if previous is not None and previous != request.canonical:
                raise InvalidParameterError(
                    f"line {request.line} ({request.name!r}) differs from the request the "
                    f"ledger {self.path} recorded under that name: {previous} -> "
                    f"{request.canonical}; give the changed request a new name, or use "
                    "another output directory"
                )
        added = [r for r in requests if r.name not in known]
        now = time.time()
        with _transaction(self._conn):
            self._conn.executemany(
                "INSERT INTO requests (name, line, canonical, state, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(r.name, r.line, r.canonical, PLANNED, now) for r in added],
            )
            self._conn.executemany(
                "UPDATE requests SET line=? WHERE name=?",
                [(r.line, r.name) for r in requests if r.name in known],
            )
        names = {r.name for r in requests}
        return InputChanges(
            added=tuple(r.name for r in added),
            missing=tuple(sorted(name for name in known if name not in names)),
        )

    @_one_step
    def recover(self) -> list[str]:
        """Requests left in ``submitting`` by a process that died after sending: they may
        have been billed, so they become ``unknown``."""
        with _transaction(self._conn):
            names = [
                n
                for (n,) in self._conn.execute(
                    "SELECT name FROM requests WHERE state=? ORDER BY line", (SUBMITTING,)
                )
            ]
            self._conn.execute(
                "UPDATE requests SET state=?, error=?, updated_at=? WHERE state=?",
                (
                    UNKNOWN,
                    "the run that sent it stopped before the answer was recorded; "
                    "it may have been created (and billed)",
                    time.time(),
                    SUBMITTING,
                ),
            )
        return names

    @_one_step
    def requeue(self, state: str, names: Sequence[str] | None = None) -> list[str]:
        """Requests in ``state`` (failed or unknown) planned again as a new attempt; the
        previous attempt is kept in the ``attempts`` table."""
        now = time.time()
        with _transaction(self._conn):
            rows = self._conn.execute(
                "SELECT name, attempt, job_id, error FROM requests WHERE state=? ORDER BY line",
                (state,),
            ).fetchall()
            rows = [r for r in rows if names is None or r[0] in names]
            self._conn.executemany(
                "INSERT INTO attempts (name, attempt, job_id, state, error, ended_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (name, attempt, job_id, state, error, now)
                    for name, attempt, job_id, error in rows
                ],
            )
            self._conn.executemany(
                "UPDATE requests SET state=?, attempt=attempt+1, job_id=NULL, error=NULL, "
                "cost=NULL, output_count=NULL, submitted_at=NULL, updated_at=? WHERE name=?",
                [(PLANNED, now, name) for name, *_ in rows],
            )
            self._conn.executemany("DELETE FROM outputs WHERE name=?", [(r[0],) for r in rows])
        return [name for name, *_ in rows]

    @_one_step
    def attempts(self, name: str) -> list[tuple[int, str | None, str, str | None]]:
        """Earlier attempts of a request: (attempt, job_id, state, error)."""
        return self._conn.execute(
            "SELECT attempt, job_id, state, error FROM attempts WHERE name=? ORDER BY attempt",
            (name,),
        ).fetchall()

    @_one_step
    def submitting(self, name: str) -> None:
        self._set(name, SUBMITTING)

    @_one_step
    def not_sent(self, name: str) -> None:
        """The POST was refused before a job existed (429, connect error): plan it again."""
        self._set(name, PLANNED)

    @_one_step
    def submitted(self, name: str, job_id: str) -> None:
        self._set(name, SUBMITTED, job_id=job_id, submitted_at=time.time())

    @_one_step
    def running(self, name: str) -> None:
        self._set(name, RUNNING)

    @_one_step
    def completed(self, name: str, output_count: int, cost: float | None) -> None:
        self._set(name, COMPLETED, output_count=output_count, cost=cost)

    @_one_step
    def output(self, name: str, index: int, output: BatchOutput) -> None:
        with _transaction(self._conn):
            self._conn.execute(
                "INSERT OR REPLACE INTO outputs (name, idx, path, bytes, sha256) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, index, str(output.path), output.bytes, output.sha256),
            )

    @_one_step
    def recorded_outputs(self, name: str) -> set[int]:
        return {i for (i,) in self._conn.execute("SELECT idx FROM outputs WHERE name=?", (name,))}

    @_one_step
    def download_error(self, name: str, error: str) -> None:
        """A download gave up (its retries spent): the job stays completed; a rerun tries
        again."""
        self._set(name, COMPLETED, error=error)

    @_one_step
    def downloaded(self, name: str) -> None:
        self._set(name, DOWNLOADED, error=None)

    @_one_step
    def failed(self, name: str, error: str, cost: float | None = None) -> None:
        self._set(name, FAILED, error=error, cost=cost)

    @_one_step
    def unknown(self, name: str, error: str) -> None:
        self._set(name, UNKNOWN, error=error)


def default_ledger(directory: Path) -> Path:
    return directory / LEDGER_NAME
