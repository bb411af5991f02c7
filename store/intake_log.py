"""The HTTP intake's own record: idempotent re-sends and reconciliation against tickets."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Claim:
    """What to do with an incoming report: publish it, or answer as before without publishing."""

    publish: bool
    conflict: bool = False  # same id, different body


def claim(conn: Connection, channel: str, report_id: str, body_sha256: str, envelope: dict) -> Claim:
    row = conn.execute(
        text(
            "INSERT INTO intake_log (channel, report_id, body_sha256, envelope) VALUES (:c, :r, :h, :e) "
            "ON CONFLICT ON CONSTRAINT intake_log_pkey DO NOTHING RETURNING accepted_at"
        ).bindparams(bindparam("e", type_=JSONB)),
        {"c": channel, "r": report_id, "h": body_sha256, "e": envelope},
    ).first()
    if row is not None:
        return Claim(publish=True)
    existing = conn.execute(
        text("SELECT body_sha256, accepted_at FROM intake_log WHERE channel = :c AND report_id = :r"),
        {"c": channel, "r": report_id},
    ).one()
    if existing.body_sha256 != body_sha256:
        return Claim(publish=False, conflict=True)
    # Same body: publish again only if the earlier attempt never got the broker's acknowledgement. A report
    # refused with 503 is wanted again: clear the mark (under the row lock the worker's check waits on), so
    # that the copy of the refused attempt, should it still arrive, counts as well (one ticket either way).
    if existing.accepted_at is None:
        conn.execute(text("UPDATE intake_log SET refused_at = NULL WHERE channel = :c AND report_id = :r "
                          "AND refused_at IS NOT NULL"), {"c": channel, "r": report_id})
    return Claim(publish=existing.accepted_at is None)


def refuse(conn: Connection, channel: str, report_id: str) -> bool:
    """The broker did not acknowledge in time: mark the report refused so that a late copy on the topic is
    skipped by the worker, unless the worker has already written it (then it was accepted after all: False).

    The row lock waits for a worker transaction that holds this report's row FOR SHARE (see
    `refused_among`); the existence check runs after it, in a statement of its own and so with a fresh
    snapshot that sees that worker's commit."""
    locked = conn.execute(text("SELECT accepted_at FROM intake_log WHERE channel = :c AND report_id = :r "
                               "FOR UPDATE"), {"c": channel, "r": report_id}).first()
    if locked is None or locked.accepted_at is not None:
        return locked is None
    written = conn.execute(text("SELECT 1 FROM reports WHERE channel = :c AND report_id = :r"),
                           {"c": channel, "r": report_id}).first()
    if written is not None:
        conn.execute(text("UPDATE intake_log SET accepted_at = now() WHERE channel = :c AND report_id = :r"),
                     {"c": channel, "r": report_id})
        return False
    conn.execute(text("UPDATE intake_log SET refused_at = now() WHERE channel = :c AND report_id = :r"),
                 {"c": channel, "r": report_id})
    return True


def refused_among(conn: Connection, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these reports HTTP intake answered 503 for. Holds their intake rows FOR SHARE until the
    caller's transaction ends, so a concurrent `refuse` decides after this transaction's reports are
    visible, never in between."""
    if not keys:
        return set()
    rows = conn.execute(
        text("SELECT l.channel, l.report_id, l.refused_at IS NOT NULL AS refused FROM intake_log l "
             "JOIN unnest(CAST(:c AS text[]), CAST(:r AS text[])) AS k(channel, report_id) "
             "ON l.channel = k.channel AND l.report_id = k.report_id "
             "ORDER BY l.channel, l.report_id FOR SHARE OF l"),
        {"c": [c for c, _ in keys], "r": [r for _, r in keys]},
    ).all()
    return {(row.channel, row.report_id) for row in rows if row.refused}


def mark_accepted(conn: Connection, channel: str, report_id: str) -> None:
    conn.execute(
        text("UPDATE intake_log SET accepted_at = now() WHERE channel = :c AND report_id = :r AND accepted_at IS NULL"),
        {"c": channel, "r": report_id},
    )


@dataclass(frozen=True)
class Missing:
    channel: str
    report_id: str
    accepted_at: datetime
    envelope: dict


def missing_tickets(conn: Connection, now: datetime, grace: timedelta, limit: int = 10_000) -> list[Missing]:
    """Accepted over HTTP longer than `grace` ago, yet no report row (hence no ticket) exists."""
    rows = conn.execute(
        text(
            "SELECT l.channel, l.report_id, l.accepted_at, l.envelope FROM intake_log l "
            "WHERE l.accepted_at IS NOT NULL AND l.accepted_at < :cutoff AND l.dead_at IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM reports r WHERE r.channel = l.channel AND r.report_id = l.report_id "
            " AND r.ticket_id IS NOT NULL) ORDER BY l.accepted_at LIMIT :limit"
        ),
        {"cutoff": now - grace, "limit": limit},
    ).all()
    return [Missing(r.channel, r.report_id, r.accepted_at, r.envelope) for r in rows]


def mark_dead(conn: Connection, channel: str, report_id: str, reason: str) -> None:
    """The worker dead-lettered this report (if it came over HTTP): no gap to reconcile, a status to show."""
    conn.execute(text("UPDATE intake_log SET dead_at = coalesce(dead_at, now()), dead_reason = :why "
                      "WHERE channel = :c AND report_id = :r"), {"c": channel, "r": report_id, "why": reason[:2000]})


def mark_republished(conn: Connection, keys: list[tuple[str, str]]) -> None:
    conn.execute(
        text("UPDATE intake_log SET republished_at = now() WHERE channel = :c AND report_id = :r"),
        [{"c": c, "r": r} for c, r in keys],
    )
