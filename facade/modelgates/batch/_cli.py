"""What ``modelgates videos batch`` and ``videos batch-status`` do (their arguments are in
``_commands``, which loads this module only when one of them runs): handlers and display.

The live display is one refreshed status line on stderr (counts per state, bytes, cost,
the slowest job in flight) rather than a multi-line display: one line needs no library
(the runtime dependencies stay httpx and attrs), survives any terminal width by being
short, and leaves the scrollback readable; notices (pauses, failed downloads, unknown
requests) are printed as lines above it. Not on a terminal, each change is a plain line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from ._commands import ClientFactory
from ._errors import BatchIncompleteError
from ._ledger import default_ledger, read_items
from ._result import DOWNLOADED, IN_FLIGHT, BatchResult, status_of
from ._runner import BatchEvent


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class BatchDisplay:
    """Follows a batch's events: one status line on a terminal, plain lines elsewhere."""

    def __init__(self, stream: TextIO, *, live: bool) -> None:
        self._stream = stream
        self._live = live
        self._states: dict[str, str] = {}
        self._since: dict[str, float] = {}
        self._cost: dict[str, float] = {}
        self._bytes = 0
        self._width = 0
        self._drawn_at = 0.0

    def __call__(self, event: BatchEvent) -> None:
        if event.kind == "state" and event.name is not None and event.state is not None:
            self._states[event.name] = event.state
            if event.state in IN_FLIGHT:
                self._since.setdefault(event.name, event.at)
            else:
                self._since.pop(event.name, None)
            if event.cost is not None:
                self._cost[event.name] = event.cost
            if not self._live:
                job = f" {event.job_id}" if event.job_id else ""
                self._stream.write(f"{event.name}: {status_of(event.state)}{job}\n")
        elif event.kind == "bytes":
            self._bytes += event.bytes
        elif event.message:
            self._line(event.message)
        self._draw()

    def _line(self, text: str) -> None:
        if self._live:
            self._stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        self._stream.write(text + "\n")

    def status_line(self) -> str:
        counts: dict[str, int] = {}
        for state in self._states.values():
            counts[status_of(state)] = counts.get(status_of(state), 0) + 1
        parts = [" ".join(f"{n} {s}" for s, n in sorted(counts.items()))]
        parts.append(_size(self._bytes))
        parts.append(f"${sum(self._cost.values()):.2f}")
        if self._since:
            name, since = min(self._since.items(), key=lambda item: item[1])
            waited = int(time.time() - since)
            parts.append(f"slowest {name} {waited // 60}:{waited % 60:02d}")
        return " | ".join(parts)

    def _draw(self, force: bool = False) -> None:
        if not self._live:
            self._stream.flush()
            return
        now = time.monotonic()
        if not force and now - self._drawn_at < 0.1:
            return
        self._drawn_at = now
        line = self.status_line()
        self._stream.write("\r" + line.ljust(self._width))
        self._width = len(line)
        self._stream.flush()

    def close(self) -> None:
        if self._live and self._states:
            self._draw(force=True)
            self._stream.write("\n")
            self._stream.flush()


def _result_text(result: BatchResult) -> str:
    lines = [
        f"{item.name}: {item.status}" + (f" ({item.error})" if item.error else "")
        for item in result.items
        if item.state != DOWNLOADED
    ]
    done = sum(1 for item in result.items if item.state == DOWNLOADED)
    lines.append(f"{done} of {len(result.items)} completed and downloaded into {result.directory}")
    lines += [f"not in the input any more (kept in the ledger): {n}" for n in result.missing]
    return "\n".join(lines) + "\n"


def _emit(args: argparse.Namespace, result: BatchResult) -> None:
    if args.json:
        sys.stdout.write(json.dumps(result.as_json(), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(_result_text(result))


def batch(args: argparse.Namespace, make_client: ClientFactory) -> int:
    display = BatchDisplay(sys.stderr, live=not args.no_progress and sys.stderr.isatty())
    try:
        with make_client(args) as client:
            result = client.videos.batch(
                args.input,
                args.output,
                max_jobs=args.max_jobs,
                max_downloads=args.max_downloads,
                poll_interval=args.poll_interval,
                resubmit_unknown=args.resubmit_unknown,
                retry_failed=args.retry_failed,
                shard=args.shard,
                ledger=args.ledger,
                on_event=None if args.no_progress else display,
                checksum=not args.no_checksum,
                connections=args.connections,
            )
    finally:
        display.close()
    _emit(args, result)
    if not result.complete:
        raise BatchIncompleteError(result)
    return 0


def batch_status(args: argparse.Namespace) -> int:
    directory = Path(args.directory).expanduser()
    ledger = Path(args.ledger).expanduser() if args.ledger else default_ledger(directory)
    result = BatchResult(
        items=tuple(read_items(ledger)),
        directory=directory,
        ledger=ledger,
        manifest=directory / "manifest.jsonl",
    )
    _emit(args, result)
    if not args.json:
        sys.stdout.write(result.summary() + "\n")
    return 0 if result.complete else 15
