"""The outbox relay: publish committed ticket events, in order, and mark them sent.

Rows are claimed with FOR UPDATE SKIP LOCKED so several workers relay without stepping on each
other; a row is marked sent only after the broker acknowledged it (at-least-once: a crash between
the two re-sends it, and consumers of tickets.events de-duplicate on (ticket_no, version)).
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# The payload leaves as PostgreSQL's own JSON text: decoding it only to encode it again was most of the
# relay's CPU.
_CLAIM = text(
    "SELECT id, topic, key, payload::text AS payload FROM outbox WHERE sent_at IS NULL "
    "ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
)
_MARK = text("UPDATE outbox SET sent_at = now() WHERE id = ANY(:ids)")


Send = Callable[[list[tuple[str, bytes | None, bytes]]], object]


def relay_once(engine: Engine, send: Send, limit: int = 500) -> int:
    """Publish up to `limit` unsent events through `send` (which returns only once the broker acknowledged
    every message, and raises otherwise); return how many were sent."""
    with engine.begin() as conn:
        rows = conn.execute(_CLAIM, {"limit": limit}).all()
        if not rows:
            return 0
        send([(r.topic, r.key.encode("utf-8"), r.payload.encode("utf-8")) for r in rows])
        conn.execute(_MARK, {"ids": [r.id for r in rows]})
    return len(rows)


def relay_all(engine: Engine, send: Send, limit: int = 500) -> int:
    total = 0
    while True:
        sent = relay_once(engine, send, limit)
        total += sent
        if sent < limit:
            return total
