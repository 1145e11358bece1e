"""The batch's errors, apart from the rest so that the CLI's exit-code table can name them
without loading the runner (``modelgates --help`` stays light)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelgates import ModelGatesError

if TYPE_CHECKING:
    from ._result import BatchResult


class BatchLedgerError(ModelGatesError):
    """The ledger cannot be used: another process holds it, or it is not a ledger this
    version understands."""


class BatchIncompleteError(ModelGatesError):
    """A batch ended with requests not completed and downloaded (the CLI's exit 15)."""

    def __init__(self, result: BatchResult) -> None:
        super().__init__(result.summary())
        self.result = result


__all__ = ["BatchIncompleteError", "BatchLedgerError"]
