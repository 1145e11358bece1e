"""``modelgates emulator``: the emulator's command line, so that what the Python ``Emulator``
can do (large videos, several outputs per job, failing jobs, dropped connections, 429s) is
one flag away for someone trying the CLI.

The main parser (``modelgates._cli``) calls ``add_parser``; ``run`` serves until Ctrl-C or
SIGTERM. The first stdout line is ``base_url=URL`` for scripts (``make demo`` reads it);
the lines for people go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import re
import shlex
import signal
import sys
import textwrap

from ._content import demo_video, smallest_playable_size
from ._server import DEFAULT_API_KEY, DEMO_JOB_ID, Emulator
from ._state import Faults, Output, StatusFault
from ._webhooks import DEFAULT_WEBHOOK_SECRET

DEFAULT_PORT = 8080
FAIL_STATUSES = ("failed", "cancelled", "expired")
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def byte_size(text: str) -> int:
    """``1048576``, ``512K``, ``100M``, ``2G`` (powers of 1024; ``KiB``/``MB`` spellings too)."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (bytes, or e.g. 512K, 100M, 2G)")
    return int(match[1]) * _UNITS[match[2]]


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _port(text: str) -> int:
    value = _count(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (0 to 65535)")
    return value


def _video_size(text: str) -> int:
    size = byte_size(text)
    demo, smallest = len(demo_video()), smallest_playable_size()
    if size != demo and size < smallest:
        raise argparse.ArgumentTypeError(
            f"{size} bytes is too small: the video is the {demo}-byte demo padded to the "
            f"size, so at least {smallest} (or exactly {demo})"
        )
    return size


SUMMARY = "run a local ModelGates API emulator (no key, no network)"


def fill_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give the ``modelgates emulator`` parser its text and options. ``modelgates._cli``
    calls it only when that command is used, so ``modelgates --help`` loads no emulator."""
    parser.description = textwrap.fill(
        "Serve the ModelGates video API locally, for trying the CLI and the library "
        "without an account. It prints its base URL (first stdout line: base_url=URL) "
        f"and accepts the API key {DEFAULT_API_KEY} (or the --api-key ones). The demo "
        f"job {DEMO_JOB_ID} is ready at once; a job made with 'videos create' or "
        "'videos generate' completes after --polls polls. To make a job fail, put "
        "[fail] in its prompt, or start the emulator with --fail.",
        width=88,
    )
    parser.epilog = (
        "example:\n"
        "  modelgates emulator --port 0 --video-size 200M --drop-at 50M\n"
        f"  MODELGATES_API_KEY={DEFAULT_API_KEY} modelgates videos download "
        f"{DEMO_JOB_ID} --base-url URL -o ."
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s; 0.0.0.0 for every interface)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help="TCP port (default: %(default)s; 0 picks a free one, printed at start)",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        metavar="KEY",
        help=f"a key to accept instead of the default {DEFAULT_API_KEY} (repeatable)",
    )
    parser.add_argument(
        "--polls",
        type=_count,
        default=2,
        metavar="N",
        help="polls before a new job finishes (default: %(default)s)",
    )
    parser.add_argument(
        "--video-size",
        type=_video_size,
        metavar="SIZE",
        help="serve videos of SIZE bytes (e.g. 200M, 5G) that still play: the demo video "
        f"padded (default: the {len(demo_video())}-byte demo video itself)",
    )
    parser.add_argument(
        "--outputs",
        type=_positive,
        default=1,
        metavar="N",
        help="videos per job (default: %(default)s); download one with --index",
    )
    parser.add_argument(
        "--fail",
        nargs="?",
        const="failed",
        choices=FAIL_STATUSES,
        metavar="STATUS",
        help="every new job ends in STATUS: failed (the default with --fail), cancelled or "
        "expired (without --fail, only a prompt containing [fail] fails)",
    )
    parser.add_argument(
        "--drop-at",
        type=byte_size,
        action="append",
        default=[],
        metavar="OFFSET",
        help="close the connection once a download reaches OFFSET bytes (e.g. 50M), once "
        "per job; repeatable. The client resumes from there",
    )
    parser.add_argument(
        "--rate-limit",
        type=_count,
        default=0,
        metavar="N",
        help="answer each job's first N downloads with 429 and Retry-After: 1 "
        "(default: %(default)s); the client waits and retries, twice by default",
    )
    parser.add_argument(
        "--webhook-secret",
        metavar="S",
        help="secret that signs webhook events (default: the emulator's DEFAULT_WEBHOOK_SECRET, "
        "a local test value)",
    )
    parser.set_defaults(handler=run)
    return parser


def emulator_from_args(args: argparse.Namespace) -> Emulator:
    """The ``Emulator`` the options describe (bound, not yet serving); OSError if it cannot
    listen where asked."""
    if args.video_size is None:
        outputs = [Output.demo() for _ in range(args.outputs)]
    else:
        outputs = [Output.playable_video(args.video_size, seed=i + 1) for i in range(args.outputs)]
    drop_at, rate_limit = list(args.drop_at), args.rate_limit

    def faults() -> Faults:
        return Faults(
            statuses=[StatusFault(429, retry_after="1") for _ in range(rate_limit)],
            drop_at=list(drop_at),
        )

    return Emulator(
        api_keys=args.api_key or [DEFAULT_API_KEY],
        host=args.host,
        port=args.port,
        polls_to_complete=args.polls,
        final_status=args.fail or "completed",
        outputs=outputs,
        faults=faults,
        webhook_secret=args.webhook_secret,
    )


def _listen_error(args: argparse.Namespace, exc: OSError) -> str:
    """One line naming the flag to change."""
    if exc.errno == errno.EADDRINUSE:
        return (
            f"--port {args.port}: {args.host}:{args.port} is already in use (another "
            "emulator?); pass another --port, or --port 0 for a free one"
        )
    if exc.errno == errno.EACCES:
        return (
            f"--port {args.port}: not allowed to listen on {args.host}:{args.port} (ports "
            "below 1024 need privileges); pass --port 8080, or --port 0 for a free one"
        )
    reason = exc.strerror or str(exc)
    return f"--host {args.host}: cannot listen there ({reason}); pass --host 127.0.0.1"


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM; exit 2 with one line when it cannot listen."""
    try:
        emulator = emulator_from_args(args)
    except OSError as exc:  # includes socket.gaierror for a host that does not resolve
        print(f"modelgates: error: {_listen_error(args, exc)}", file=sys.stderr)
        return 2
    base_url = emulator.base_url
    # The first line is for scripts (the demo reads it); the rest for people.
    print(f"base_url={base_url}", flush=True)
    key = DEFAULT_API_KEY if not args.api_key else "KEY"  # a key of the user's: never echoed
    videos = emulator.jobs[DEMO_JOB_ID].outputs
    lines = [
        f"ModelGates emulator on {base_url} (Ctrl-C to stop)",
        f"  API key: {key}   demo job: {DEMO_JOB_ID} "
        f"({len(videos)} video{'s' if len(videos) > 1 else ''} of {videos[0].size} bytes)",
    ]
    signing = (
        "the --webhook-secret given"
        if args.webhook_secret
        else f"{DEFAULT_WEBHOOK_SECRET} (the default test secret)"
    )
    lines.append(f"  webhook events for callback_url are signed with {signing}")
    if emulator.host in {"", "0.0.0.0"}:  # noqa: S104 - a comparison
        lines.append(
            f"  listening on every interface: from another machine use "
            f"http://THIS-MACHINE:{emulator.port}/api/v1 with --allow-insecure-http"
        )
    try_it = shlex.join(
        ["modelgates", "videos", "download", DEMO_JOB_ID, "--base-url", base_url, "-o", "."]
    )
    lines.append(f"  try: MODELGATES_API_KEY={key} {try_it}")
    print("\n".join(lines), file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        emulator.serve_forever()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops the emulator as Ctrl-C does."""
    raise KeyboardInterrupt
