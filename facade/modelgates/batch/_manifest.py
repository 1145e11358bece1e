"""``manifest.jsonl``: the batch's outcome for people and scripts, one object per request.

It is rebuilt from the ledger (never the other way round: the ledger is the record, the
manifest its picture) and replaced atomically (a temporary beside it, fsynced, renamed), so
a reader never sees half of one. It is rewritten after changes, at most every
``MIN_GAP`` seconds: changes in between are gathered into the next rewrite. Rewriting it
after each single change would make a batch of n requests O(n^2) (a 1,000-line batch makes
about 5,000 changes). It is always written once more when the run ends, however it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from ._result import BatchItem

MIN_GAP = 0.2


def manifest_text(items: Sequence[BatchItem]) -> str:
    return "".join(json.dumps(item.as_json(), sort_keys=True) + "\n" for item in items)


def replace_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """The manifest's objects, in order."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class ManifestWriter:
    """Rewrites the manifest from ``read_items()`` whenever ``changed()`` was called."""

    def __init__(self, path: Path, read_items: Callable[[], Awaitable[list[BatchItem]]]) -> None:
        self.path = path
        self._read_items = read_items
        self._wake = anyio.Event()

    def changed(self) -> None:
        self._wake.set()

    async def write(self) -> None:
        text = manifest_text(await self._read_items())
        await anyio.to_thread.run_sync(replace_atomically, self.path, text)

    async def _rewrite_on_change(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            await self.write()
            await anyio.sleep(MIN_GAP)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Keep the manifest current while the body runs; write it once more at the end."""
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._rewrite_on_change)
                try:
                    yield
                finally:
                    group.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.write()
