"""Many videos, nothing lost, nothing paid twice: ``client.videos.batch`` and
``modelgates videos batch``.

A layer on the facade's public API (only names ``modelgates.__all__`` exports), so it also
shows how to build on the facade: ``_input`` reads the requests, ``_ledger`` records every
step in SQLite before and after it is taken, ``_runner`` is the one (async) loop that
submits, polls and downloads, ``_manifest`` writes the outcome for people, ``_cli`` is the
two commands. The runner is imported when a batch runs, not with ``modelgates``.
"""

from ._result import (
    BatchIncompleteError,
    BatchItem,
    BatchLedgerError,
    BatchOutput,
    BatchResult,
)

__all__ = [
    "BatchIncompleteError",
    "BatchItem",
    "BatchLedgerError",
    "BatchOutput",
    "BatchResult",
]
