"""``modelgates videos batch`` and ``modelgates videos batch-status``.

``modelgates._cli`` registers these two commands and nothing else of them: their arguments,
handlers and display live here.

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
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from modelgates import InvalidParameterError, ModelGates

from ._input import parse_shard
from ._ledger import default_ledger, read_items
from ._result import DOWNLOADED, IN_FLIGHT, BatchIncompleteError, BatchResult, status_of
from ._runner import (
    DEFAULT_MAX_DOWNLOADS,
    DEFAULT_MAX_JOBS,
    DEFAULT_POLL_INTERVAL,
    BatchEvent,
)

ClientFactory = Callable[[argparse.Namespace], ModelGates]
CommandFactory = Callable[..., argparse.ArgumentParser]

BATCH_HELP = """\
Submit every request of INPUT (JSONL: one object a line; CSV: a header row of field names;
'model', 'prompt', any other request field, optional 'name'), wait, and download every
output to DIR/<name>.mp4 (<name>-<i>.mp4 for further ones), recording each step in a
ledger in DIR. DIR/manifest.jsonl has one object per request. A line without a 'name' is
known by a 12-digit hash of its content."""

RERUN_HELP = """\
Rerunning the same command continues where the last run stopped, whatever stopped it (a
crash, Ctrl-C, a reboot): a request whose job id the ledger holds is never sent again, and
downloads continue. A request that was sent but whose answer was never recorded is
reported as unknown (it may have been billed) and sent again only with --resubmit-unknown;
failed requests are sent again only with --retry-failed. New input lines are added; a
line whose content changed under the same name is refused. Exit 0 only when every request
completed and its videos are in DIR.

Split one list across N machines with --shard K/N (K = 1..N on each): the slices are
chosen by each request's identity, so they cover the list exactly once; each machine
keeps its own ledger. (A shared ledger across machines would need a server that hands
out requests, such as a database with row locks: not built.)"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} is not > 0")
    return value


def _shard(text: str) -> str:
    try:
        parse_shard(text)
    except InvalidParameterError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not K/N with 1 <= K <= N, as in 2/4"
        ) from None
    return text


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


def _batch(args: argparse.Namespace, make_client: ClientFactory) -> int:
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
            )
    finally:
        display.close()
    _emit(args, result)
    if not result.complete:
        raise BatchIncompleteError(result)
    return 0


def _batch_status(args: argparse.Namespace) -> int:
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


def add_commands(
    command: CommandFactory,
    parents: list[argparse.ArgumentParser],
    make_client: ClientFactory,
) -> None:
    """Add ``batch`` and ``batch-status`` through ``_cli``'s ``command`` factory
    (``command(name, parents, summary, handler)``); ``parents`` are the API options."""
    batch = command(
        "batch",
        parents,
        "make a video for every request of a JSONL or CSV file, once; rerun to continue",
        lambda args: _batch(args, make_client),
    )
    batch.description = BATCH_HELP + "\n\n" + RERUN_HELP
    batch.add_argument("input", metavar="INPUT", help="a .jsonl or .csv file of requests")
    batch.add_argument("-o", "--output", required=True, metavar="DIR", help="where videos go")
    batch.add_argument(
        "--max-jobs",
        type=_positive_int,
        default=DEFAULT_MAX_JOBS,
        help=f"jobs generating at once (default {DEFAULT_MAX_JOBS})",
    )
    batch.add_argument(
        "--max-downloads",
        type=_positive_int,
        default=DEFAULT_MAX_DOWNLOADS,
        help=f"downloads at once (default {DEFAULT_MAX_DOWNLOADS})",
    )
    batch.add_argument(
        "--poll-interval",
        type=_positive_float,
        default=DEFAULT_POLL_INTERVAL,
        help=f"seconds between polls, with jitter (default {DEFAULT_POLL_INTERVAL:g})",
    )
    batch.add_argument(
        "--resubmit-unknown",
        action="store_true",
        help="send again requests whose answer was never recorded (they may be billed twice)",
    )
    batch.add_argument(
        "--retry-failed", action="store_true", help="send failed requests again, as new attempts"
    )
    batch.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="only slice K of N of the input (by request identity)",
    )
    batch.add_argument(
        "--ledger", metavar="PATH", help="the ledger file (default DIR/.modelgates-batch.sqlite)"
    )
    batch.add_argument("--no-progress", action="store_true", help="no progress on stderr")

    status = command(
        "batch-status",
        [],
        "report a batch from its ledger alone (no network)",
        _batch_status,
    )
    status.add_argument("directory", metavar="DIR", help="the batch's output directory")
    status.add_argument("--ledger", metavar="PATH", help="the ledger, if not in DIR")
    status.add_argument("--json", action="store_true", help="print the result as JSON")
