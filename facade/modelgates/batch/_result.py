"""What a batch hands back: one ``BatchItem`` per request, gathered in a ``BatchResult``,
and the errors only a batch raises."""

from __future__ import annotations

from pathlib import Path

import attrs

#: The ledger's states, in the order a request moves through them.
PLANNED = "planned"
SUBMITTING = "submitting"  # committed before the POST is sent
SUBMITTED = "submitted"  # the job id is recorded
RUNNING = "running"
COMPLETED = "completed"  # the job finished; its outputs are being fetched
DOWNLOADED = "downloaded"
FAILED = "failed"
UNKNOWN = "unknown"  # sent, but the answer was never recorded: maybe billed
STATES = (PLANNED, SUBMITTING, SUBMITTED, RUNNING, COMPLETED, DOWNLOADED, FAILED, UNKNOWN)
#: States that count as "in flight" at the API (a job id and not finished).
IN_FLIGHT = frozenset({SUBMITTED, RUNNING})

#: A ledger state as ``manifest.jsonl`` and ``BatchItem.status`` name it for people:
#: "completed" means the videos are on disk.
_STATUS = {PLANNED: "pending", COMPLETED: "downloading", DOWNLOADED: "completed"}


def status_of(state: str) -> str:
    return _STATUS.get(state, state)


@attrs.frozen
class BatchOutput:
    """One video of a request, as written: path, size, sha256."""

    path: Path
    bytes: int
    sha256: str | None

    def as_json(self) -> dict[str, object]:
        return {"path": str(self.path), "bytes": self.bytes, "sha256": self.sha256}


@attrs.frozen
class BatchItem:
    """One request of the batch as the ledger holds it."""

    name: str
    line: int
    state: str
    job_id: str | None = None
    attempt: int = 1
    outputs: tuple[BatchOutput, ...] = ()
    cost: float | None = None
    error: str | None = None
    #: Wall-clock time the current job was submitted (for "slowest job").
    submitted_at: float | None = None

    @property
    def status(self) -> str:
        """``completed`` (videos on disk), ``failed``, ``unknown``, ``pending``, ..."""
        return status_of(self.state)

    def as_json(self) -> dict[str, object]:
        """The request's line of ``manifest.jsonl``."""
        return {
            "name": self.name,
            "line": self.line,
            "job_id": self.job_id,
            "status": self.status,
            "attempt": self.attempt,
            "outputs": [output.as_json() for output in self.outputs],
            "cost": self.cost,
            "error": self.error,
        }


@attrs.frozen
class BatchResult:
    """Every request of the batch (this shard) and where things are.

    ``complete`` is true only when every request completed and all its videos are on disk.
    ``unknown`` names requests that were sent but whose answer was never recorded: they
    may have been billed and are not sent again unless ``resubmit_unknown=True``.
    ``missing`` names ledger requests no longer in the input (kept, not touched).
    """

    items: tuple[BatchItem, ...]
    directory: Path
    ledger: Path
    manifest: Path
    missing: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return all(item.state == DOWNLOADED for item in self.items)

    @property
    def unknown(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.items if item.state == UNKNOWN)

    @property
    def failed(self) -> tuple[BatchItem, ...]:
        return tuple(item for item in self.items if item.state == FAILED)

    def counts(self) -> dict[str, int]:
        """Requests per status (``completed``, ``failed``, ...), only those that occur."""
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.status] = counts.get(item.status, 0) + 1
        return counts

    @property
    def cost(self) -> float:
        return sum(item.cost or 0.0 for item in self.items)

    def summary(self) -> str:
        """One line for people: the counts, and what a rerun would do."""
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts().items()))
        line = f"batch of {len(self.items)}: {counts or 'nothing to do'}"
        if self.complete:
            return line
        hints = []
        if self.failed:
            hints.append("--retry-failed submits failed requests again")
        if self.unknown:
            hints.append(
                f"unknown (sent, answer never recorded, maybe billed): {', '.join(self.unknown)};"
                " --resubmit-unknown sends them again"
            )
        if any(item.state not in (FAILED, UNKNOWN, DOWNLOADED) for item in self.items):
            hints.append("rerun the same command to continue")
        return line + "; " + "; ".join(hints) if hints else line

    def as_json(self) -> dict[str, object]:
        return {
            "complete": self.complete,
            "directory": str(self.directory),
            "ledger": str(self.ledger),
            "manifest": str(self.manifest),
            "counts": self.counts(),
            "cost": self.cost,
            "unknown": list(self.unknown),
            "missing": list(self.missing),
            "items": [item.as_json() for item in self.items],
        }
