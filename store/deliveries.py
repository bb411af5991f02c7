"""Webhooks, deliveries and their attempts (migration 0016): SQL only.

Webhooks are added and removed by the CLI (the owner); the application role reads them. A delivery is
queued once per (event, target) — `enqueue` ignores a second copy, so re-reading tickets.events is harmless.
The sender claims due deliveries with a lease (`claim` moves `next_at` past the send's time under
FOR UPDATE SKIP LOCKED, in a short transaction), sends outside any transaction, then records the attempt:
a process that dies mid-send leaves the delivery to be tried again when the lease ends (at least once).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

MAX_URL = 2000


class WebhookError(ValueError):
    pass


@dataclass(frozen=True)
class WebhookInfo:
    id: int
    url: str
    events: tuple[str, ...]
    unit_code: str | None
    created_at: datetime
    delivered: int
    pending: int
    dead: int
    failed_attempts: int
    last_error: str | None


def add_webhook(conn: Connection, url: str, events: list[str], unit_code: str | None) -> tuple[int, str]:
    """A new hook; returns its id and secret."""
    if not url.lower().startswith(("http://", "https://")) or len(url) > MAX_URL or any(c.isspace() for c in url):
        raise WebhookError(f"URL {url!r}: an http(s) URL of at most {MAX_URL} characters")
    if unit_code is not None and conn.execute(text("SELECT 1 FROM units WHERE code = :c"),
                                              {"c": unit_code}).first() is None:
        raise WebhookError(f"--unit {unit_code!r}: no such unit")
    secret = secrets.token_hex(32)
    hook_id = conn.execute(text(
        "INSERT INTO webhooks (url, secret, events, unit_code) VALUES (:u, :s, :e, :c) RETURNING id"),
        {"u": url, "s": secret, "e": list(events), "c": unit_code}).scalar_one()
    return hook_id, secret


def remove_webhook(conn: Connection, hook_id: int) -> str:
    """Remove hook `hook_id`; its pending deliveries die (their record stays); returns its URL."""
    url = conn.execute(text("DELETE FROM webhooks WHERE id = :i RETURNING url"), {"i": hook_id}).scalar()
    if url is None:
        raise WebhookError(f"no webhook {hook_id}")
    conn.execute(text("UPDATE deliveries SET state = 'dead', last_error = 'the webhook was removed' "
                      "WHERE hook_id IS NULL AND channel = 'webhook' AND state = 'pending'"))
    return url


def hooks(conn: Connection) -> list:
    """Every hook with its secret (to sign): rows of id, url, secret, events, unit_code."""
    return conn.execute(text("SELECT id, url, secret, events, unit_code FROM webhooks ORDER BY id")).all()


def list_webhooks(conn: Connection) -> list[WebhookInfo]:
    """Every hook with its deliveries by state, its failed attempts and its latest error (never the secret)."""
    rows = conn.execute(text(
        "SELECT w.id, w.url, w.events, w.unit_code, w.created_at, "
        "count(d.id) FILTER (WHERE d.state = 'delivered') AS delivered, "
        "count(d.id) FILTER (WHERE d.state = 'pending') AS pending, "
        "count(d.id) FILTER (WHERE d.state = 'dead') AS dead, "
        "coalesce(sum(d.attempts) FILTER (WHERE d.state <> 'delivered'), 0) "
        "  + coalesce(sum(greatest(d.attempts - 1, 0)) FILTER (WHERE d.state = 'delivered'), 0) AS failed_attempts, "
        "(SELECT d2.last_error FROM deliveries d2 WHERE d2.hook_id = w.id AND d2.last_error IS NOT NULL "
        " ORDER BY d2.id DESC LIMIT 1) AS last_error "
        "FROM webhooks w LEFT JOIN deliveries d ON d.hook_id = w.id GROUP BY w.id ORDER BY w.id")).all()
    return [WebhookInfo(r.id, r.url, tuple(r.events or ()), r.unit_code, r.created_at, r.delivered, r.pending,
                        r.dead, int(r.failed_attempts), r.last_error) for r in rows]


def reporter_contacts(conn: Connection, ticket_no: str) -> list[str]:
    """The phone numbers and e-mail addresses left with the reports of a ticket (personal data: to send)."""
    rows = conn.execute(text(
        "SELECT r.envelope #>> '{reporter,phone}' AS phone, "
        "coalesce(r.envelope #>> '{reporter,email}', r.envelope #>> '{open311,email}') AS email "
        "FROM reports r JOIN tickets t ON t.id = r.ticket_id WHERE t.ticket_no = :n ORDER BY r.id"),
        {"n": ticket_no}).all()
    out: list[str] = []
    for r in rows:
        out += [a for a in (r.email, r.phone) if a and a not in out]
    return out


_ENQUEUE = text(
    "INSERT INTO deliveries (event_key, ticket_no, event, channel, target_key, target, address, hook_id, subject, "
    "body, next_at) VALUES (:event_key, :ticket_no, :event, :channel, :target_key, :target, :address, :hook_id, "
    ":subject, :body, :now) ON CONFLICT (event_key, target_key) DO NOTHING")


def enqueue(conn: Connection, key: str, ticket_no: str, event: str, planned: list[dict], now: datetime) -> int:
    """Queue the planned deliveries of one event (dicts of channel, target_key, target, address, hook_id,
    subject, body); a copy already queued is left alone. Returns how many were new."""
    new = 0
    for p in planned:  # one by one: executemany reports no row count for ON CONFLICT DO NOTHING
        new += conn.execute(_ENQUEUE, {**p, "event_key": key, "ticket_no": ticket_no, "event": event,
                                       "now": now}).rowcount
    return new


_CLAIM = text(
    "UPDATE deliveries d SET next_at = :lease FROM (SELECT id FROM deliveries WHERE state = 'pending' AND "
    "next_at <= :now ORDER BY next_at, id LIMIT :limit FOR UPDATE SKIP LOCKED) due "
    "WHERE d.id = due.id RETURNING d.id")


def claim(conn: Connection, now: datetime, lease: timedelta, limit: int = 50) -> list:
    """Due deliveries, leased until now + `lease`, oldest first: rows of id, channel, body, subject, address,
    event, attempts so far, and the hook's url and secret (None when the hook is gone)."""
    rows = conn.execute(_CLAIM, {"now": now, "lease": now + lease, "limit": limit}).all()
    if not rows:
        return []
    return conn.execute(text(
        "SELECT d.id, d.channel, d.body, d.subject, d.address, d.event, d.attempts, w.url, w.secret "
        "FROM deliveries d LEFT JOIN webhooks w ON w.id = d.hook_id WHERE d.id = ANY(:i) ORDER BY d.id"),
        {"i": [r.id for r in rows]}).all()


def record(conn: Connection, delivery_id: int, *, ok: bool, status_code: int | None, error: str | None,
           duration_ms: int, at: datetime, next_at: datetime | None) -> None:
    """One attempt: delivered, or failed and due again at `next_at`, or dead (`next_at` None)."""
    conn.execute(text("INSERT INTO delivery_attempts (delivery_id, at, ok, status_code, error, duration_ms) "
                      "VALUES (:d, :at, :ok, :s, :e, :ms)"),
                 {"d": delivery_id, "at": at, "ok": ok, "s": status_code, "e": error, "ms": duration_ms})
    if ok:
        conn.execute(text("UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = :at "
                          "WHERE id = :d"), {"d": delivery_id, "at": at})
    else:
        conn.execute(text("UPDATE deliveries SET attempts = attempts + 1, last_error = :e, "
                          "state = CASE WHEN CAST(:next AS timestamptz) IS NULL THEN 'dead' ELSE 'pending' END, "
                          "next_at = coalesce(CAST(:next AS timestamptz), next_at) WHERE id = :d"),
                     {"d": delivery_id, "e": error, "next": next_at})


_COLUMNS = ("d.id, d.ticket_no, d.event, d.channel, d.target, d.hook_id, d.state, d.attempts, d.next_at, "
            "d.last_error, d.delivered_at, d.created_at")


def list_deliveries(conn: Connection, *, failed: bool = False, limit: int = 100,
                    before: int | None = None) -> list[dict]:
    """Newest first. `failed`: dead ones and pending ones that failed at least once. Never the address."""
    where = ["true"]
    if failed:
        where.append("(d.state = 'dead' OR (d.state = 'pending' AND d.attempts > 0))")
    if before is not None:
        where.append("d.id < :before")
    rows = conn.execute(text(f"SELECT {_COLUMNS} FROM deliveries d WHERE {' AND '.join(where)} "
                             "ORDER BY d.id DESC LIMIT :limit"), {"limit": limit, "before": before}).mappings().all()
    return [dict(r) for r in rows]


def attempts_of(conn: Connection, delivery_id: int) -> list[dict]:
    rows = conn.execute(text("SELECT at, ok, status_code, error, duration_ms FROM delivery_attempts "
                             "WHERE delivery_id = :d ORDER BY id"), {"d": delivery_id}).mappings().all()
    return [dict(r) for r in rows]
