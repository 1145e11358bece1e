"""``modelgates webhooks listen`` and ``modelgates webhooks verify``: receiving events while
developing, and checking one saved delivery.

Kept apart from ``_cli`` (which only registers them) because they need no API key and no
client: they are the command-line face of ``modelgates.webhooks``. ``listen`` is the
emulator package's ``WebhookReceiver`` (the pytest fixture's server) with printing and
forwarding added, so the CLI, the fixture and users' receivers verify with the same code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._errors import InvalidParameterError, WebhookVerificationError

if TYPE_CHECKING:  # imported where used: `modelgates --help` stays light (no attrs, httpx)
    from . import webhooks

#: Headers of the received request not passed on by ``--forward`` (hop-by-hop, or set anew).
_NOT_FORWARDED = frozenset({"host", "content-length", "connection", "transfer-encoding"})


def _secrets(args: argparse.Namespace) -> tuple[webhooks.WebhookSecret, ...]:
    from . import webhooks

    if args.secret:
        return webhooks.resolve_secrets(args.secret)
    try:
        return webhooks.resolve_secrets(None)
    except InvalidParameterError:
        raise InvalidParameterError(
            f"no webhook secret: pass --secret S (repeatable) or set {webhooks.ENV_SECRET} "
            "(the emulator signs with DEFAULT_WEBHOOK_SECRET unless started with "
            "--webhook-secret)"
        ) from None


def _event_data(event: webhooks.VideoJobEvent) -> dict[str, object]:
    return {
        "verified": True,
        "type": event.type,
        "created_at": event.created_at.isoformat() if event.created_at else None,
        "idempotency_key": event.idempotency_key,
        "job_id": event.job.id,
        "status": event.job.status,
        "event": event.raw,
    }


def _event_text(event: webhooks.VideoJobEvent) -> str:
    lines = [
        f"{event.type}  job {event.job.id}  status {event.job.status}",
        f"  idempotency key  {event.idempotency_key}",
    ]
    if event.job.error:
        lines.append(f"  error            {event.job.error}")
    lines += [f"  output           {url}" for url in event.job.unsigned_urls]
    return "\n".join(lines) + "\n"


def _forwarder(url: str) -> Callable[[webhooks.VideoJobEvent, bytes, dict[str, str]], int]:
    """POST each verified request, raw body and headers, to the user's handler; its status
    is the answer, so the sender's retries reach the handler too."""
    import httpx

    client = httpx.Client(trust_env=False, timeout=30.0)

    def forward(event: webhooks.VideoJobEvent, body: bytes, headers: dict[str, str]) -> int:
        passed = {k: v for k, v in headers.items() if k not in _NOT_FORWARDED}
        try:
            status = client.post(url, content=body, headers=passed).status_code
        except httpx.HTTPError as exc:
            print(
                f"modelgates: forwarding {event.idempotency_key} to {url} failed "
                f"({type(exc).__name__}: {exc}); answered 502",
                file=sys.stderr,
                flush=True,
            )
            return 502
        print(f"  forwarded to {url}: {status}", file=sys.stderr, flush=True)
        return status

    return forward


def _cmd_listen(args: argparse.Namespace) -> int:
    from .emulator import ReceivedRequest, WebhookReceiver

    secrets = _secrets(args)

    def report(received: ReceivedRequest) -> None:
        if received.event is not None:
            data: dict[str, object] = {**_event_data(received.event), "answer": received.status}
            text = _event_text(received.event)
        else:
            data = {"verified": False, "reason": received.reason, "answer": received.status}
            text = f"rejected ({received.reason}): {received.detail}\n"
        if args.json:
            sys.stdout.write(json.dumps(data, sort_keys=True) + "\n")
        else:
            (sys.stdout if received.event is not None else sys.stderr).write(text)
        sys.stdout.flush()
        sys.stderr.flush()

    receiver = WebhookReceiver(
        list(secrets),
        host=args.host,
        port=args.port,
        on_event=_forwarder(args.forward) if args.forward else None,
        on_request=report,
    )
    forward = f", forwarding to {args.forward}" if args.forward else ""
    print(
        f"modelgates: listening on {receiver.url}{forward} (Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        receiver.serve_forever()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops the listener as Ctrl-C does."""
    raise KeyboardInterrupt


def parse_http_request(raw: bytes) -> tuple[dict[str, str], bytes]:
    """Headers and body of a saved HTTP request (request line optional, CRLF or LF)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, sep, body = raw.partition(separator)
        if sep:
            break
    else:
        raise InvalidParameterError(
            "stdin is not an HTTP request: no blank line between the headers and the body"
        )
    headers: dict[str, str] = {}
    for number, line in enumerate(head.decode("latin-1").splitlines(), start=1):
        name, colon, value = line.partition(":")
        if number == 1 and (not colon or " " in name.strip()):
            continue  # the request line: POST /path HTTP/1.1
        if not colon or not name.strip():
            raise InvalidParameterError(f"stdin line {number}: expected 'Name: value'")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise InvalidParameterError(
            "stdin: a chunked body cannot be checked as saved; save the decoded body"
        )
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit() or int(length) > len(body):
            raise InvalidParameterError(
                f"stdin: Content-Length is {length} but {len(body)} body bytes follow"
            )
        body = body[: int(length)]
    return headers, body


def _cmd_verify(args: argparse.Namespace) -> int:
    from . import webhooks

    secrets = _secrets(args)
    headers, body = parse_http_request(sys.stdin.buffer.read())
    tolerance = None if args.ignore_age else webhooks.DEFAULT_TOLERANCE
    try:
        event = webhooks.unwrap(body, headers, secrets, tolerance=tolerance)
    except WebhookVerificationError as exc:
        if args.json:
            sys.stdout.write(json.dumps({"verified": False, "reason": exc.reason}) + "\n")
        raise WebhookVerificationError(
            f"webhook verification failed ({exc.reason}): {exc}", reason=exc.reason
        ) from None
    if args.json:
        sys.stdout.write(json.dumps(_event_data(event), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write("verified: " + _event_text(event))
    return 0


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def register(commands: Any, epilog: str) -> None:
    """Add ``webhooks listen`` and ``webhooks verify`` to the top-level subcommands."""
    group = commands.add_parser("webhooks", help="receive and check webhook events")
    sub = group.add_subparsers(dest="webhooks_command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, handler: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.add_argument(
            "--secret",
            action="append",
            metavar="S",
            help="signing secret (repeatable, for rotation; default: $MODELGATES_WEBHOOK_SECRET)",
        )
        parser.add_argument("--json", action="store_true", help="print JSON, for scripts")
        parser.set_defaults(handler=handler, command_parser=parser)
        return parser

    listen = command(
        "listen",
        "receive webhook events on loopback: verify, print, optionally forward each one",
        _cmd_listen,
    )
    listen.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    listen.add_argument("--port", type=_port, default=8765, help="default 8765; 0 picks one")
    listen.add_argument(
        "--forward",
        metavar="URL",
        help="POST each verified request (raw body, headers) to URL and answer with its status",
    )
    verify = command(
        "verify",
        "check one saved delivery (an HTTP request on stdin): exit 0 if authentic",
        _cmd_verify,
    )
    verify.add_argument(
        "--ignore-age",
        action="store_true",
        help="accept a timestamp older than 5 minutes (a delivery saved earlier)",
    )
