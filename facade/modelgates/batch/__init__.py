"""Many videos, nothing lost, nothing paid twice: ``client.videos.batch`` and
``modelgates videos batch``.

A layer on the facade's public API (only names ``modelgates.__all__`` exports), so it also
shows how to build on the facade: ``_input`` reads the requests, ``_ledger`` records every
step in SQLite before and after it is taken, ``_runner`` is the one (async) loop that
submits, polls and downloads, ``_manifest`` writes the outcome for people, ``_cli`` is the
two commands (``_commands`` their arguments). Names load on first use (PEP 562), so
``modelgates --help`` loads none of this; the runner is imported when a batch runs.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._errors import BatchIncompleteError, BatchLedgerError
    from ._result import BatchItem, BatchOutput, BatchResult

__all__ = [
    "BatchIncompleteError",
    "BatchItem",
    "BatchLedgerError",
    "BatchOutput",
    "BatchResult",
]

_WHERE = {
    "BatchIncompleteError": "_errors",
    "BatchLedgerError": "_errors",
    "BatchItem": "_result",
    "BatchOutput": "_result",
    "BatchResult": "_result",
}

if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        where = _WHERE.get(name)
        if where is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
        globals()[name] = value
        return value
