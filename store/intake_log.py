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
    # Same body: publish again only if the earlier attempt never got the broker's acknowledgement.
    return Claim(publish=existing.accepted_at is None)


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
            "WHERE l.accepted_at IS NOT NULL AND l.accepted_at < :cutoff AND NOT EXISTS "
            "(SELECT 1 FROM reports r WHERE r.channel = l.channel AND r.report_id = l.report_id "
            " AND r.ticket_id IS NOT NULL) ORDER BY l.accepted_at LIMIT :limit"
        ),
        {"cutoff": now - grace, "limit": limit},
    ).all()
    return [Missing(r.channel, r.report_id, r.accepted_at, r.envelope) for r in rows]


def mark_republished(conn: Connection, keys: list[tuple[str, str]]) -> None:
    conn.execute(
        text("UPDATE intake_log SET republished_at = now() WHERE channel = :c AND report_id = :r"),
        [{"c": c, "r": r} for c, r in keys],
    )
