"""`yunguan exchange push` and `yunguan exchange status` (contract §9, docs/exchange.md).

`push [--since CURSOR] [--limit N] [--dry-run]` sends the cases changed since the acknowledged cursor to
`exchange_url`, signed with `exchange_secret`, and prints one JSON line: {"sent", "batches", "cursor",
"seconds"}. Exit 0 when everything due was acknowledged; 1 when the endpoint stayed down (the message on
stderr; the cursor stays at the last acknowledged batch); 2 for bad usage (no endpoint, a bad cursor).
`--dry-run` prints each case that would go as a JSON line before the summary, and sends and records nothing.
`status` prints the cursor, the cases waiting and the last success and failure as one JSON object.
"""
from __future__ import annotations

import json

from config import Settings
from yunguan.cli.common import UsageError, say


def register(sub) -> None:
    """Add `exchange push` and `exchange status` to the top-level subparsers."""
    ex = sub.add_parser("exchange", help="data exchange with province and ministry platforms (exchange/1)"
                        ).add_subparsers(dest="exchange_command", required=True)
    push = ex.add_parser("push", help="send the cases changed since the acknowledged cursor to exchange_url")
    push.add_argument("--since", metavar="CURSOR", help="send the cases changed after CURSOR (0: every case) "
                      "instead of after the acknowledged one")
    push.add_argument("--limit", type=int, metavar="N", help="send at most N cases in this run")
    push.add_argument("--dry-run", action="store_true",
                      help="print the cases that would be sent (JSON lines) and send and record nothing")
    push.set_defaults(func=cmd_exchange_push)
    ex.add_parser("status", help="the acknowledged cursor, the cases waiting, the last success and failure"
                  ).set_defaults(func=cmd_exchange_status)


def _engine(settings: Settings):
    from store.db import make_engine

    return make_engine(settings.database_url)


def cmd_exchange_push(settings: Settings, args) -> int:
    from application.exchange import CursorError, ExchangeConfig, ExchangeFailed, parse_cursor, push
    from streams.exchange_http import HttpReceiver

    if not args.dry_run and not settings.exchange_url:
        raise UsageError("exchange push: no endpoint configured (set exchange_url and exchange_secret, e.g. "
                         "YUNGUAN_EXCHANGE_URL and YUNGUAN_EXCHANGE_SECRET; docs/exchange.md)")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit: at least 1")
    try:
        since = parse_cursor(args.since) if args.since is not None else None
    except CursorError as exc:
        raise UsageError(str(exc)) from None
    config = ExchangeConfig.from_settings(settings)
    receiver = HttpReceiver(settings.exchange_url, settings.exchange_timeout_s) if settings.exchange_url else None
    engine = _engine(settings)
    emit = (lambda case: say(json.dumps(case, ensure_ascii=False))) if args.dry_run else None
    try:
        result = push(engine, receiver, config, since=since, limit=args.limit, dry_run=args.dry_run, emit=emit)
    except CursorError as exc:
        raise UsageError(str(exc)) from None
    except ExchangeFailed as exc:
        if exc.result is not None:
            say(json.dumps({**exc.result.summary(), "error": str(exc)}, ensure_ascii=False))
        say(f"yunguan: exchange push failed: {exc}", err=True)
        return 1
    finally:
        engine.dispose()
    say(json.dumps(result.summary()))
    return 0


def cmd_exchange_status(settings: Settings, args) -> int:
    from application.exchange import status

    engine = _engine(settings)
    try:
        say(json.dumps(status(engine), ensure_ascii=False))
    finally:
        engine.dispose()
    return 0
