"""The ``modelgates`` command (also ``python -m modelgates``).

Errors are one line on stderr and an exit code per error class (``EXIT_CODES``, also shown
by ``--help``); progress is a bar on stderr when it is a terminal, nothing otherwise; the
result goes to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TextIO

from . import __version__
from ._client import ModelGates
from ._errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    DestinationExistsError,
    DownloadIntegrityError,
    InsecureURLError,
    InternalServerError,
    InvalidAPIKeyError,
    InvalidParameterError,
    MissingAPIKeyError,
    ModelGatesError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitError,
    UnexpectedContentError,
)
from ._types import DownloadResult

#: (exception classes, exit code, meaning), most specific first.
EXIT_CODES: list[tuple[tuple[type[BaseException], ...], int, str]] = [
    ((InvalidParameterError,), 2, "invalid arguments"),
    (
        (MissingAPIKeyError, InvalidAPIKeyError, InsecureURLError),
        3,
        "no usable API key or base URL",
    ),
    ((AuthenticationError,), 4, "API key rejected (401)"),
    ((PaymentRequiredError,), 5, "payment required (402)"),
    ((NotFoundError,), 6, "no such job or output (404)"),
    ((RateLimitError,), 7, "rate limited (429)"),
    ((InternalServerError,), 8, "server or upstream provider error (5xx)"),
    ((APIStatusError,), 9, "other API error (400, ...)"),
    ((APIConnectionError,), 10, "connection failed or timed out"),
    ((DestinationExistsError, OSError), 11, "destination exists, or a file system error"),
    ((UnexpectedContentError, DownloadIntegrityError), 12, "the response is not the video"),
    ((ModelGatesError,), 1, "other error"),
    ((KeyboardInterrupt,), 130, "interrupted"),
]


def exit_code(exc: BaseException) -> int:
    for classes, code, _ in EXIT_CODES:
        if isinstance(exc, classes):
            return code
    return 1


def _exit_code_help() -> str:
    lines = ["exit codes:", "  0    success"]
    lines += [f"  {code:<4} {meaning}" for _, code, meaning in EXIT_CODES]
    return "\n".join(lines)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class ProgressBar:
    """``12.3 MiB / 120.0 MiB  10%  45.6 MiB/s  ETA 0:02`` on one refreshed stderr line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._start = time.monotonic()
        self._width = 0

    def __call__(self, done: int, total: int | None) -> None:
        elapsed = max(time.monotonic() - self._start, 1e-6)
        rate = done / elapsed
        parts = [_size(done) + (f" / {_size(total)}" if total else "")]
        if total:
            parts.append(f"{100 * done // total:3d}%")
        parts.append(f"{_size(rate)}/s")
        if total and rate > 0:
            eta = int((total - done) / rate)
            parts.append(f"ETA {eta // 60}:{eta % 60:02d}")
        line = "  ".join(parts)
        self._stream.write("\r" + line.ljust(self._width))
        self._width = len(line)
        self._stream.flush()

    def close(self) -> None:
        if self._width:
            self._stream.write("\n")
            self._stream.flush()


def _print_result(result: DownloadResult, out: TextIO) -> None:
    out.write(f"path          {result.path}\n")
    out.write(f"size          {result.bytes_written} bytes ({_size(result.bytes_written)})\n")
    out.write(f"sha256        {result.sha256}\n")
    out.write(f"content type  {result.content_type or 'unknown'}\n")


def _cmd_download(args: argparse.Namespace) -> int:
    show_progress = not args.no_progress and sys.stderr.isatty()
    bar = ProgressBar(sys.stderr) if show_progress else None
    with ModelGates(base_url=args.base_url, allow_insecure_http=args.allow_insecure_http) as client:
        try:
            result = client.videos.download(
                args.job_id,
                args.output,
                index=args.index,
                overwrite=args.overwrite,
                on_progress=bar,
            )
        finally:
            if bar is not None:
                bar.close()
    _print_result(result, sys.stdout)
    return 0


def _cmd_emulator(args: argparse.Namespace) -> int:
    from .emulator import DEFAULT_API_KEY, DEMO_JOB_ID, Emulator

    keys = args.api_key or [DEFAULT_API_KEY]
    emulator = Emulator(api_keys=keys, host=args.host, port=args.port, polls_to_complete=args.polls)
    # The first line is for scripts (the demo reads it); the rest for people.
    print(f"base_url={emulator.base_url}", flush=True)
    print(f"ModelGates emulator on {emulator.base_url}", file=sys.stderr)
    print(f"  API key: {keys[0]} (a local test key)   demo job: {DEMO_JOB_ID}", file=sys.stderr)
    print("  Ctrl-C to stop", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        emulator.serve_forever()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops the emulator as Ctrl-C does."""
    raise KeyboardInterrupt


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelgates",
        description="ModelGates video generation from the command line. The API key is read "
        "from MODELGATES_API_KEY or the file named by MODELGATES_API_KEY_FILE.",
        epilog=_exit_code_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"modelgates {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log requests and retries to stderr"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    videos = commands.add_parser("videos", help="video generation jobs")
    video_commands = videos.add_subparsers(dest="videos_command", required=True, metavar="COMMAND")
    download = video_commands.add_parser(
        "download",
        help="download a finished job's video",
        description="Stream a finished job's video to a file; nothing is written unless the "
        "whole video arrives.",
        epilog=_exit_code_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    download.add_argument("job_id", metavar="JOB_ID")
    download.add_argument(
        "-o",
        "--output",
        default=".",
        metavar="PATH",
        help="file to write, or directory for JOB_ID.mp4 (default: the current directory)",
    )
    download.add_argument(
        "--index", type=_non_negative_int, default=0, help="which output (default 0)"
    )
    download.add_argument("--overwrite", action="store_true", help="replace an existing file")
    download.add_argument("--no-progress", action="store_true", help="no progress bar")
    download.add_argument(
        "--base-url",
        default=None,
        help="API base URL (default: $MODELGATES_BASE_URL or the public API)",
    )
    download.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow a plain http base URL to a host other than loopback",
    )
    download.set_defaults(handler=_cmd_download)

    emulator = commands.add_parser(
        "emulator",
        help="run a local ModelGates API emulator",
        description="Serve the ModelGates video API on loopback, with a ready demo job.",
    )
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument(
        "--port", type=_non_negative_int, default=8080, help="0 picks a free port"
    )
    emulator.add_argument(
        "--api-key", action="append", help="a key the emulator accepts (repeatable)"
    )
    emulator.add_argument(
        "--polls", type=_non_negative_int, default=2, help="polls before a new job completes"
    )
    emulator.set_defaults(handler=_cmd_emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with _verbose_logging(args.verbose):
        return _run(args)


@contextlib.contextmanager
def _verbose_logging(enabled: bool) -> Iterator[None]:
    """With -v: the library's INFO lines (requests retried, downloads continued) on stderr."""
    if not enabled:
        yield
        return
    logger = logging.getLogger("modelgates")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("modelgates: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.handler(args))
    except (ModelGatesError, OSError, KeyboardInterrupt) as exc:
        message = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        print(f"modelgates: error: {message}", file=sys.stderr)
        return exit_code(exc)
    except Exception as exc:  # a bug: still one line, with a way to get the traceback
        if os.environ.get("MODELGATES_DEBUG"):
            raise
        print(
            f"modelgates: internal error: {type(exc).__name__}: {exc} "
            "(set MODELGATES_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 1
