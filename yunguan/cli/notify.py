"""`yunguan notify`, `yunguan webhooks` and `yunguan deliveries` (contract §9, docs/notifications.md).

`notify` is a long-running process of its own (like `worker`): it consumes tickets.events in its own group
and sends the deliveries. `webhooks add URL [--events E,...] [--unit CODE]` prints the hook's secret as its
last line; `webhooks list` shows every hook with its failures; `webhooks remove ID`; `deliveries list
[--failed]` prints deliveries as JSON lines (addresses masked).
"""
from __future__ import annotations

import signal
import threading

from config import Settings
from yunguan.cli.common import UsageError, json_line, say


def register(sub) -> None:
    """Add `notify`, `webhooks` and `deliveries` to the top-level subparsers."""
    sub.add_parser("notify", help="turn ticket events into webhook, e-mail and SMS deliveries and send them").set_defaults(
        func=cmd_notify)
    hooks = sub.add_parser("webhooks", help="webhooks: POSTs of ticket events, signed").add_subparsers(
        dest="webhooks_command", required=True)
    add = hooks.add_parser("add", help="add a hook; prints its secret as the last line")
    add.add_argument("url")
    add.add_argument("--events", help="comma-separated event names (default: every event)")
    add.add_argument("--unit", help="only events of tickets this unit leads or assists")
    add.set_defaults(func=cmd_webhooks_add)
    hooks.add_parser("list", help="hooks with their deliveries and failures, as JSON lines").set_defaults(
        func=cmd_webhooks_list)
    rm = hooks.add_parser("remove", help="remove a hook (its pending deliveries die)")
    rm.add_argument("id", type=int)
    rm.set_defaults(func=cmd_webhooks_remove)
    dl = sub.add_parser("deliveries", help="notification deliveries").add_subparsers(dest="deliveries_command",
                                                                                    required=True)
    ls = dl.add_parser("list", help="deliveries as JSON lines, newest first (addresses masked)")
    ls.add_argument("--failed", action="store_true", help="only dead ones and pending ones that failed")
    ls.add_argument("--limit", type=int, default=100)
    ls.set_defaults(func=cmd_deliveries_list)


def _owner_engine(settings: Settings):
    from store.db import make_engine

    return make_engine(settings.database_url)  # the owner: the application role may only read webhooks


def cmd_notify(settings: Settings, args) -> int:
    from application.notify import NotifyConfigError
    from streams.notify import NotifyService
    from yunguan.cli.common import wiring

    deps = wiring(settings)
    try:
        service = NotifyService(settings, deps.engine, deps.topics, clock=deps.clock)
    except NotifyConfigError as exc:
        deps.close()
        raise UsageError(str(exc)) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        service.run(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        deps.close()
    return 0


def cmd_webhooks_add(settings: Settings, args) -> int:
    from store.deliveries import WebhookError, add_webhook

    events = [e.strip() for e in (args.events or "").split(",") if e.strip()]
    engine = _owner_engine(settings)
    try:
        with engine.begin() as conn:
            hook_id, secret = add_webhook(conn, args.url, events, args.unit)
    except WebhookError as exc:
        raise UsageError(str(exc)) from None
    finally:
        engine.dispose()
    say(f"webhooks: #{hook_id} {args.url} (events: {','.join(events) or 'all'}; unit: {args.unit or 'all'}); "
        "its secret signs every delivery (X-Yunguan-Signature), store it safely:", err=True)
    say(f"id {hook_id}")
    say(secret)
    return 0


def cmd_webhooks_list(settings: Settings, args) -> int:
    from store.deliveries import list_webhooks

    engine = _owner_engine(settings)
    try:
        with engine.connect() as conn:
            rows = list_webhooks(conn)
    finally:
        engine.dispose()
    for h in rows:
        json_line({"id": h.id, "url": h.url, "events": list(h.events), "unit": h.unit_code,
                   "created_at": h.created_at, "delivered": h.delivered, "pending": h.pending, "dead": h.dead,
                   "failed_attempts": h.failed_attempts, "last_error": h.last_error})
    return 0


def cmd_webhooks_remove(settings: Settings, args) -> int:
    from store.deliveries import WebhookError, remove_webhook

    engine = _owner_engine(settings)
    try:
        with engine.begin() as conn:
            url = remove_webhook(conn, args.id)
    except WebhookError as exc:
        raise UsageError(str(exc)) from None
    finally:
        engine.dispose()
    say(f"webhooks: #{args.id} {url} removed")
    return 0


def cmd_deliveries_list(settings: Settings, args) -> int:
    from store.deliveries import list_deliveries

    if not 1 <= args.limit <= 10000:
        raise UsageError("--limit: 1 to 10000")
    engine = _owner_engine(settings)
    try:
        with engine.connect() as conn:
            rows = list_deliveries(conn, failed=args.failed, limit=args.limit)
    finally:
        engine.dispose()
    for r in rows:
        json_line(dict(r))
    return 0
