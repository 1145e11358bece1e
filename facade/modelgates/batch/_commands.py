"""The arguments of ``modelgates videos batch`` and ``videos batch-status``.

``modelgates._cli`` registers them from here. Building them loads nothing but argparse, so
``modelgates --help`` stays light; the handlers (``_cli``) and the runner load when a batch
command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

from ._defaults import DEFAULT_MAX_DOWNLOADS, DEFAULT_MAX_JOBS, DEFAULT_POLL_INTERVAL

if TYPE_CHECKING:
    from modelgates import ModelGates


def _handlers() -> ModuleType:
    from . import _cli

    return _cli


ClientFactory = Callable[[argparse.Namespace], "ModelGates"]
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
    from modelgates import InvalidParameterError

    from ._input import parse_shard

    try:
        parse_shard(text)
    except InvalidParameterError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not K/N with 1 <= K <= N, as in 2/4"
        ) from None
    return text


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
        lambda args: _handlers().batch(args, make_client),
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
    batch.add_argument(
        "--no-checksum", action="store_true", help="skip the sha256 of each video (see download)"
    )
    batch.add_argument(
        "--connections",
        type=_positive_int,
        default=None,
        metavar="N",
        help="connections for one video (default: automatic; 1: exactly one; see download)",
    )
    batch.add_argument("--no-progress", action="store_true", help="no progress on stderr")

    status = command(
        "batch-status",
        [],
        "report a batch from its ledger alone (no network)",
        lambda args: _handlers().batch_status(args),
    )
    status.add_argument("directory", metavar="DIR", help="the batch's output directory")
    status.add_argument("--ledger", metavar="PATH", help="the ledger, if not in DIR")
    status.add_argument("--json", action="store_true", help="print the result as JSON")
