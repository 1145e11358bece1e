"""The ``modelgates`` command (also ``python -m modelgates``).

Errors are one line on stderr (then any notes: what was kept, the command that continues a
job) and an exit code per error class (``EXIT_CODES``, also shown by ``--help``); progress
is a bar on stderr when it is a terminal, nothing otherwise; the result goes to stdout
(``-o -``: the video itself).

Messages name this command's flags and commands, never Python parameters: each command
runs under a ``CLIWording`` (see ``_errors.Wording``) built from its own parser, so a flag
added to a parser is named right without more work; ``PARAMETER_FLAGS`` holds the few
parameters whose flag has another name.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO, cast

# The client and the download machinery load with the first command that uses them.
from . import __version__, _cli_webhooks
from ._errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    DestinationExistsError,
    DownloadIntegrityError,
    FileSystemError,
    InsecureURLError,
    InternalServerError,
    InvalidAPIKeyError,
    InvalidBaseURLError,
    InvalidParameterError,
    MissingAPIKeyError,
    ModelGatesError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitError,
    UnexpectedContentError,
    VideoJobFailedError,
    VideoJobTimeoutError,
    WebhookVerificationError,
    Wording,
    carrying_job_id,
    naming_destination,
    using,
)
from ._requests import (
    TYPED_FIELDS,
    audio_reference,
    first_frame,
    image_reference,
    last_frame,
    video_reference,
)
from .batch._commands import add_commands as add_batch_commands
from .batch._errors import BatchIncompleteError

if TYPE_CHECKING:
    from ._client import ModelGates
    from ._types import DownloadResult, VideoJob

#: (exception classes, exit code, meaning), most specific first; ``--help`` lists them by
#: code.
EXIT_CODES: list[tuple[tuple[type[BaseException], ...], int, str]] = [
    (
        (MissingAPIKeyError, InvalidAPIKeyError, InsecureURLError, InvalidBaseURLError),
        3,
        "no usable API key or base URL",
    ),
    ((InvalidParameterError,), 2, "invalid arguments"),
    ((VideoJobFailedError,), 13, "the job failed, was cancelled or expired"),
    ((VideoJobTimeoutError,), 14, "the job was still running at --timeout"),
    ((BatchIncompleteError,), 15, "a batch ended incomplete"),
    ((AuthenticationError,), 4, "API key rejected (401)"),
    ((PaymentRequiredError,), 5, "payment required (402)"),
    ((NotFoundError,), 6, "no such job or output (404)"),
    ((RateLimitError,), 7, "rate limited (429)"),
    ((InternalServerError,), 8, "server or upstream provider error (5xx)"),
    ((APIStatusError,), 9, "other API error (400, ...)"),
    ((APIConnectionError,), 10, "connection failed or timed out"),
    (
        (DestinationExistsError, FileSystemError, OSError),
        11,
        "destination exists, or a file system error",
    ),
    ((UnexpectedContentError, DownloadIntegrityError), 12, "the response is not the video"),
    ((WebhookVerificationError,), 16, "a webhook delivery failed verification"),
    ((ModelGatesError,), 1, "other error"),
    ((KeyboardInterrupt,), 130, "interrupted"),
]


def exit_code(exc: BaseException) -> int:
    for classes, code, _ in EXIT_CODES:
        if isinstance(exc, classes):
            return code
    return 1


def _exit_code_help() -> str:
    """Each code once, in order (2 is also argparse's code for bad usage)."""
    lines = ["exit codes:", "  0    success"]
    lines += [f"  {code:<4} {meaning}" for _, code, meaning in sorted(EXIT_CODES, key=_code)]
    return "\n".join(lines)


def _code(rule: tuple[object, int, str]) -> int:
    return rule[1]


#: Python parameters whose flag is spelled otherwise than ``--`` + the name with dashes
#: (the rest are read from each command's parser). None: no flag gives it.
PARAMETER_FLAGS: dict[str, str | None] = {
    "dest": "-o",
    "directory": "-o",
    "job_id": "JOB_ID",
    "api_key": None,  # the CLI reads the key from the environment only
}

#: ``client.videos`` methods named in messages, as the commands that do the same.
VIDEO_COMMANDS: dict[str, tuple[str, ...]] = {
    "get": ("videos", "status"),
    "wait": ("videos", "wait"),
    "download": ("videos", "download"),
}


class CLIWording(Wording):
    """Messages in this command's words: its flags (from its parser), its commands, and
    the connection flags the user gave, so that a printed command can be pasted as is."""

    def __init__(self, parser: argparse.ArgumentParser | None, args: argparse.Namespace):
        self.flags: dict[str, str] = {}
        self.switches: set[str] = set()
        for action in parser._actions if parser is not None else []:
            longest = max(action.option_strings, key=len, default=None)
            if longest is not None and action.dest != "help":
                self.flags[action.dest] = longest
                if action.nargs == 0:
                    self.switches.add(action.dest)
        self.connection: list[str] = []
        if getattr(args, "base_url", None):
            self.connection += ["--base-url", args.base_url]
        if getattr(args, "allow_insecure_http", False):
            self.connection.append("--allow-insecure-http")

    def _flag(self, name: str) -> str | None:
        if name in PARAMETER_FLAGS:
            return PARAMETER_FLAGS[name]
        return self.flags.get(name)

    def param(self, name: str) -> str:
        return self._flag(name) or name

    def argument(self, name: str) -> str:
        return self._flag(name) or f"the {name} setting"

    def setting(self, name: str, value: str) -> str | None:
        flag = self._flag(name)
        if flag is None or name in self.switches:
            return flag
        return f"{flag} {value}"

    def call(self, method: str, job_id: str, **options: object) -> str:
        words = ["modelgates", *VIDEO_COMMANDS.get(method, ("videos", method)), job_id]
        for name, value in options.items():
            if value is True:
                words.append(f"--{name.replace('_', '-')}")
            elif value not in (None, False):
                words += [PARAMETER_FLAGS.get(name) or f"--{name.replace('_', '-')}", str(value)]
        return shlex.join(words + self.connection)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class ProgressBar:
    """``12.3 MiB / 120.0 MiB  10%  45.6 MiB/s  ETA 0:02`` on one refreshed stderr line.

    Rate and ETA count from the first report (the first bytes of the body), never from
    when the bar was made: ``generate`` makes it before waiting minutes for the job, and a
    resumed download starts with bytes that did not arrive now."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._first: tuple[float, int] | None = None
        self._width = 0

    def __call__(self, done: int, total: int | None) -> None:
        now = self._clock()
        if self._first is None:
            self._first = (now, done)
        since, start_bytes = self._first
        elapsed = now - since
        rate = (done - start_bytes) / elapsed if elapsed > 0 else 0.0
        parts = [_size(done) + (f" / {_size(total)}" if total else "")]
        if total:
            parts.append(f"{100 * done // total:3d}%")
        parts.append(f"{_size(rate)}/s" if elapsed > 0 else "-- B/s")
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


def _emit(args: argparse.Namespace, data: object, human: str) -> None:
    """The result on stdout: JSON for scripts with --json, else lines for people."""
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(human)


def _result_data(result: DownloadResult, job_id: str) -> dict[str, object]:
    return {
        "job_id": job_id,
        "path": str(result.path),
        "bytes_written": result.bytes_written,
        "content_type": result.content_type,
        "sha256": result.sha256,
    }


def _result_text(result: DownloadResult, job_id: str) -> str:
    return (
        f"job           {job_id}\n"
        f"path          {result.path}\n"
        f"size          {result.bytes_written} bytes ({_size(result.bytes_written)})\n"
        f"sha256        {result.sha256 or 'not computed (--no-checksum)'}\n"
        f"content type  {result.content_type or 'unknown'}\n"
    )


def _job_text(job: VideoJob) -> str:
    lines = [f"id            {job.id}", f"status        {job.status}"]
    if job.error:
        lines.append(f"error         {job.error}")
    lines += [f"output        {url}" for url in job.unsigned_urls]
    if job.cost is not None:
        lines.append(f"cost          ${job.cost:.4f}")
    return "\n".join(lines) + "\n"


def _client(args: argparse.Namespace) -> ModelGates:
    from ._client import ModelGates

    return ModelGates(base_url=args.base_url, allow_insecure_http=args.allow_insecure_http)


@contextlib.contextmanager
def _download_progress(args: argparse.Namespace) -> Iterator[ProgressBar | None]:
    """A progress bar on a terminal (ended with a newline whatever happens), else None."""
    bar = ProgressBar(sys.stderr) if not args.no_progress and sys.stderr.isatty() else None
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def _status_line(args: argparse.Namespace) -> Callable[[VideoJob], None] | None:
    """On a terminal, the job's status on one refreshed stderr line while waiting."""
    if args.no_progress or not sys.stderr.isatty():
        return None
    start = time.monotonic()

    def show(job: VideoJob) -> None:
        waited = int(time.monotonic() - start)
        end = "\n" if job.is_terminal else ""
        sys.stderr.write(f"\rjob {job.id}: {job.status:<12} {waited // 60}:{waited % 60:02d}{end}")
        sys.stderr.flush()

    return show


def _request_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The typed request fields the flags name, and ``--field`` ones as ``extra_body``."""
    fields: dict[str, Any] = {
        name: getattr(args, name) for name in TYPED_FIELDS if getattr(args, name, None) is not None
    }
    frames = [first_frame(url) for url in args.first_frame]
    frames += [last_frame(url) for url in args.last_frame]
    if frames:
        fields["frame_images"] = frames
    references = [
        *(image_reference(url) for url in args.image_reference),
        *(video_reference(url) for url in args.video_reference),
        *(audio_reference(url) for url in args.audio_reference),
    ]
    if references:
        fields["input_references"] = references
    extra_body: dict[str, Any] = {}
    for item in args.field:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidParameterError(f"--field {item!r}: expected KEY=VALUE")
        try:
            extra_body[key] = json.loads(value)  # numbers, booleans, objects
        except ValueError:
            extra_body[key] = value
    return {**fields, "extra_body": extra_body}


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{text!r} is not a JSON object")
    return value


#: ``-o -``: the video to stdout, as curl and wget do.
STDOUT = "-"


def _check_output(args: argparse.Namespace) -> None:
    if args.output == STDOUT and args.json:
        raise InvalidParameterError("--json cannot be used with -o - (stdout carries the video)")


def _to_stdout(client: ModelGates, args: argparse.Namespace, job_id: str, index: int) -> None:
    """Stream output ``index`` to stdout (no temporary file: nothing to resume)."""
    out = sys.stdout.buffer
    with _download_progress(args) as bar, naming_destination("<stdout>"):
        with client.videos.stream(job_id, index=index) as video:
            from ._download import ProgressReporter

            progress = ProgressReporter(bar)
            progress.total = video.content_length
            for chunk in video.iter_bytes():
                out.write(chunk)
                progress.advance(len(chunk))
            progress.finish()
        out.flush()


def _cmd_download(args: argparse.Namespace) -> int:
    _check_output(args)
    if args.all:
        return _download_all(args)
    with _client(args) as client:
        if args.output == STDOUT:
            _to_stdout(client, args, args.job_id, args.index)
            return 0
        with _download_progress(args) as bar:
            result = client.videos.download(
                args.job_id,
                args.output,
                index=args.index,
                overwrite=args.overwrite,
                on_progress=bar,
                checksum=not args.no_checksum,
                connections=args.connections,
            )
    _emit(args, _result_data(result, args.job_id), _result_text(result, args.job_id))
    return 0


def _download_all(args: argparse.Namespace) -> int:
    if args.output == STDOUT:
        raise InvalidParameterError("--all writes one file per output: -o must be a directory")
    with _client(args) as client:
        results = client.videos.download_all(
            args.job_id,
            args.output,
            overwrite=args.overwrite,
            checksum=not args.no_checksum,
            connections=args.connections,
        )
    _emit(
        args,
        [_result_data(result, args.job_id) for result in results],
        "\n".join(_result_text(result, args.job_id) for result in results),
    )
    return 0


def _cmd_create(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.videos.create(
            model=args.model, prompt=args.prompt, check=args.check, **_request_fields(args)
        )
    _emit(args, job.raw, _job_text(job))
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.videos.get(args.job_id)
    _emit(args, job.raw, _job_text(job))
    return 0


def _cmd_wait(args: argparse.Namespace) -> int:
    with _client(args) as client:
        job = client.videos.wait(
            args.job_id,
            timeout=args.timeout,
            poll_interval=args.poll_interval,
            on_update=_status_line(args),
        )
    _emit(args, job.raw, _job_text(job))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    with _client(args) as client:
        models = client.videos.models()

    def listed(values: Sequence[object] | None) -> str:
        return ", ".join(map(str, values)) if values else "-"

    lines = [
        f"{m.id}\n  resolutions: {listed(m.supported_resolutions)}\n"
        f"  aspect ratios: {listed(m.supported_aspect_ratios)}\n"
        f"  durations (s): {listed(m.supported_durations)}\n"
        for m in models
    ]
    _emit(args, [m.raw for m in models], "".join(lines))
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    _check_output(args)
    if args.output == STDOUT:
        return _generate_to_stdout(args)
    seen = _JobSeen(_status_line(args))
    with _client(args) as client, _download_progress(args) as bar:
        result = client.videos.generate(
            model=args.model,
            prompt=args.prompt,
            dest=args.output,
            poll_interval=args.poll_interval,
            timeout=args.timeout,
            on_progress=bar,
            on_update=seen,
            overwrite=args.overwrite,
            check=args.check,
            checksum=not args.no_checksum,
            connections=args.connections,
            **_request_fields(args),
        )
    assert seen.job_id is not None  # wait() reports every poll, the first included
    _emit(args, _result_data(result, seen.job_id), _result_text(result, seen.job_id))
    return 0


def _generate_to_stdout(args: argparse.Namespace) -> int:
    """``generate -o -``: ``videos.generate``'s steps, with the video streamed to stdout."""
    with _client(args) as client:
        job = client.videos.create(
            model=args.model, prompt=args.prompt, check=args.check, **_request_fields(args)
        )
        with carrying_job_id(job.id, ("wait", {}), ("download", {"dest": STDOUT})):
            client.videos.wait(
                job.id,
                timeout=args.timeout,
                poll_interval=args.poll_interval,
                on_update=_status_line(args),
            )
        with carrying_job_id(job.id, ("download", {"dest": STDOUT})):
            _to_stdout(client, args, job.id, 0)
    return 0


class _JobSeen:
    """An ``on_update`` that remembers the job's id (and shows its status on a terminal)."""

    def __init__(self, show: Callable[[VideoJob], None] | None) -> None:
        self._show = show
        self.job_id: str | None = None

    def __call__(self, job: VideoJob) -> None:
        self.job_id = job.id
        if self._show is not None:
            self._show(job)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser that finishes itself (``before_use``) only when that subcommand
    is parsed or its help is shown, so ``modelgates --help`` never pays for it."""

    before_use: Callable[[argparse.ArgumentParser], None] | None = None

    def _ready(self) -> None:
        if self.before_use is not None:
            before_use, self.before_use = self.before_use, None
            before_use(self)

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        self._ready()
        return super().parse_known_args(*args, **kwargs)

    def format_usage(self) -> str:
        self._ready()
        return super().format_usage()

    def format_help(self) -> str:
        self._ready()
        return super().format_help()


def _fill_emulator(parser: argparse.ArgumentParser) -> None:
    from .emulator._command import fill_parser  # the emulator loads with its command

    fill_parser(parser)


def _mark_required(parser: argparse.ArgumentParser) -> None:
    """Make the flags of what the bundled API document requires required. Read from the
    generated model, which loads httpx and attrs: hence only when the command is used."""
    from ._adapter import REQUIRED_CREATE_FIELDS

    for action in parser._actions:
        if action.dest in REQUIRED_CREATE_FIELDS:
            action.required = True


def _connections(text: str) -> int:
    from ._parallel import MAX_CONNECTIONS

    value = _non_negative_int(text)
    if not 1 <= value <= MAX_CONNECTIONS:
        raise argparse.ArgumentTypeError(f"{value} is not from 1 to {MAX_CONNECTIONS}")
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
    verbose_help = "log each request (method, URL, status, time) and retry to stderr; -vv: more"
    parser.add_argument("-v", "--verbose", action="count", default=0, help=verbose_help)
    parser.set_defaults(command_parser=None)
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_CommandParser
    )

    api = argparse.ArgumentParser(add_help=False)
    # Also after the subcommand (modelgates videos download J -v); SUPPRESS keeps the
    # subcommand from resetting a -v given before it.
    api.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=verbose_help
    )
    api.add_argument(
        "--base-url",
        default=None,
        help="API base URL (default: $MODELGATES_BASE_URL or the public API)",
    )
    api.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow a plain http base URL to a host other than loopback",
    )
    api.add_argument("--json", action="store_true", help="print the result as JSON, for scripts")
    progress = argparse.ArgumentParser(add_help=False)
    progress.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    request = argparse.ArgumentParser(add_help=False)
    request.add_argument("--model", help="a model id (see: videos models)")
    request.add_argument("--prompt", help="what the video shows")
    request.add_argument("--resolution", help="e.g. 720p")
    request.add_argument("--aspect-ratio", help="e.g. 16:9")
    request.add_argument("--duration", type=_non_negative_int, help="seconds")
    request.add_argument("--size", help="WIDTHxHEIGHT, e.g. 1280x720")
    request.add_argument("--seed", type=int)
    request.add_argument(
        "--generate-audio",
        action=argparse.BooleanOptionalAction,
        help="generate audio alongside the video (default: the model's)",
    )
    for flag, what in (("--first-frame", "starts"), ("--last-frame", "ends")):
        request.add_argument(
            flag, action="append", default=[], metavar="URL", help=f"image the video {what} with"
        )
    for kind in ("image", "video", "audio"):
        request.add_argument(
            f"--{kind}-reference",
            action="append",
            default=[],
            metavar="URL",
            help=f"{kind} that guides the generation; repeatable",
        )
    request.add_argument(
        "--callback-url", metavar="URL", help="https URL the API calls when the job ends"
    )
    request.add_argument(
        "--provider",
        type=_json_object,
        metavar="JSON",
        help='provider passthrough, e.g. \'{"options": {"slug": {"key": 1}}}\'',
    )
    request.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a field this release does not type, sent as given "
        "(VALUE is JSON if it parses, else a string); repeatable",
    )
    request.add_argument(
        "--check", action="store_true", help="check values against the model's capabilities first"
    )
    waiting = argparse.ArgumentParser(add_help=False)
    waiting.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds to wait for the job (default 1800)"
    )
    waiting.add_argument(
        "--poll-interval", type=float, default=10.0, help="seconds between polls (default 10)"
    )
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument(
        "-o",
        "--output",
        default=".",
        metavar="PATH",
        help="file to write, or directory for JOB_ID.mp4 (created if missing; default: the "
        "current directory); - writes the video to stdout",
    )
    output.add_argument("--overwrite", action="store_true", help="replace an existing file")
    output.add_argument(
        "--no-checksum",
        action="store_true",
        help="skip the sha256 of the video (faster when the CPU is the limit)",
    )
    output.add_argument(
        "--connections",
        type=_connections,
        default=None,
        metavar="N",
        help="connections for one video (default: automatic, several only when one is slow "
        "and the server supports ranges; 1: exactly one)",
    )

    def command(
        name: str, parents: list[argparse.ArgumentParser], summary: str, handler: Any
    ) -> _CommandParser:
        sub = video_commands.add_parser(
            name,
            parents=cast("list[_CommandParser]", parents),  # any parser may be a parent
            help=summary,
            description=summary,
            epilog=_exit_code_help(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler, command_parser=sub)
        return sub

    videos = commands.add_parser("videos", help="video generation jobs")
    video_commands = videos.add_subparsers(
        dest="videos_command", required=True, metavar="COMMAND", parser_class=_CommandParser
    )
    create = command("create", [request, api], "submit a video generation job", _cmd_create)
    create.before_use = _mark_required
    command("status", [api], "show a job's state", _cmd_status).add_argument(
        "job_id", metavar="JOB_ID"
    )
    command(
        "wait", [waiting, progress, api], "wait until a job is completed (or fails)", _cmd_wait
    ).add_argument("job_id", metavar="JOB_ID")
    command("models", [api], "list the video models and the values they accept", _cmd_models)
    generate = command(
        "generate",
        [request, waiting, output, progress, api],
        "create a job, wait for it and download its video",
        _cmd_generate,
    )
    generate.before_use = _mark_required
    download = command(
        "download",
        [output, progress, api],
        "download a finished job's video; nothing is written unless the whole video arrives",
        _cmd_download,
    )
    download.add_argument("job_id", metavar="JOB_ID")
    which = download.add_mutually_exclusive_group()
    which.add_argument(
        "--index", type=_non_negative_int, default=0, help="which output (default 0)"
    )
    which.add_argument(
        "--all",
        action="store_true",
        help="every output of the job into the directory -o names (JOB_ID.mp4, JOB_ID-1.mp4, ...)",
    )
    add_batch_commands(command, [api], _client)

    emulator = commands.add_parser(
        "emulator", help="run a local ModelGates API emulator (no key, no network)"
    )
    emulator.before_use = _fill_emulator
    _cli_webhooks.register(commands, _exit_code_help())
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.verbose:
            from . import _log  # with httpx, which --help does not need

            level = logging.INFO if args.verbose == 1 else logging.DEBUG
            stack.enter_context(_log.printing(level, sys.stderr))
        stack.enter_context(using(CLIWording(args.command_parser, args)))
        return _run(args)
    raise AssertionError("unreachable")


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.handler(args))
    except (ModelGatesError, OSError, KeyboardInterrupt) as exc:
        message = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        print(f"modelgates: error: {message}", file=sys.stderr)
        for note in getattr(exc, "__notes__", ()):
            print(f"modelgates: {note}", file=sys.stderr)
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
