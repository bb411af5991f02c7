"""Read queries of the Open311 adapter: tickets as service requests, tokens as report ids.

Only ticket columns, the assignee's unit name, the last status change and the first stored photo's hash are
read — never a report's envelope beyond its attachments' hashes, so reporter data (name, phone, e-mail) has no
way into an Open311 answer. Tickets opened by a sensor alarm (城市生命线) are not published.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dispatch.model import FINAL_STATUSES

_FINAL = [str(s) for s in FINAL_STATUSES]

_SELECT = """
SELECT t.ticket_no, t.status, t.category, t.description, t.address, t.deadline, t.created_at, t.updated_at,
       t.closed_at, ST_X(t.location) AS lon, ST_Y(t.location) AS lat, u.name AS unit_name,
       last.action AS last_action, last.to_status AS last_status,
       (SELECT (array_agg(r.envelope->'attachments'->0->>'sha256' ORDER BY r.id))[1] FROM reports r
         WHERE r.ticket_id = t.id AND r.envelope->'attachments'->0->>'sha256' IS NOT NULL) AS photo
FROM tickets t
LEFT JOIN units u ON u.code = t.assignee_code
LEFT JOIN LATERAL (SELECT h.action, h.to_status FROM ticket_history h
                    WHERE h.ticket_id = t.id AND (h.from_status IS DISTINCT FROM h.to_status)
                    ORDER BY h.id DESC LIMIT 1) last ON true
WHERE NOT EXISTS (SELECT 1 FROM reports s WHERE s.ticket_id = t.id AND s.channel = 'sensor')
"""


@dataclass(frozen=True)
class Filters:
    ids: tuple[str, ...] = ()  # overrides every other filter (the spec)
    codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] = ()  # "open", "closed"


def requests(conn: Connection, f: Filters, limit: int) -> list[Any]:
    """Rows for the spec's GET requests, newest first."""
    params: dict[str, Any] = {"limit": limit, "final": _FINAL}
    where = []
    if f.ids:
        where.append("t.ticket_no = ANY(:ids)")
        params["ids"] = list(f.ids)
    else:
        if f.codes:
            where.append("t.category = ANY(:codes)")
            params["codes"] = list(f.codes)
        if f.start is not None:
            where.append("t.created_at >= :start")
            params["start"] = f.start
        if f.end is not None:
            where.append("t.created_at <= :end")
            params["end"] = f.end
        wanted = set(f.statuses)
        if wanted == {"open"}:
            where.append("NOT (t.status = ANY(:final))")
        elif wanted == {"closed"}:
            where.append("t.status = ANY(:final)")
    sql = _SELECT + "".join(f" AND {w}" for w in where) + " ORDER BY t.created_at DESC, t.id DESC LIMIT :limit"
    return conn.execute(text(sql), params).all()


def request(conn: Connection, ticket_no: str) -> Any | None:
    return conn.execute(text(_SELECT + " AND t.ticket_no = :no"), {"no": ticket_no}).first()


@dataclass(frozen=True)
class TokenState:
    accepted: bool  # the report was accepted (it may not be written yet)
    ticket_no: str | None  # the ticket it opened or was merged into, once the worker wrote it
    failed: bool = False  # accepted, then dead-lettered by the worker: it will never be a request


def token(conn: Connection, channels: list[str], report_id: str) -> TokenState | None:
    """Where the report posted under this token (its report id) stands, or None if no such report."""
    row = conn.execute(text(
        "SELECT t.ticket_no FROM reports r LEFT JOIN tickets t ON t.id = r.ticket_id "
        "WHERE r.channel = ANY(:ch) AND r.report_id = :id"), {"ch": channels, "id": report_id}).first()
    if row is not None:
        return TokenState(True, row.ticket_no)
    accepted = conn.execute(text(
        "SELECT dead_at IS NOT NULL AS failed FROM intake_log WHERE channel = ANY(:ch) AND report_id = :id "
        "AND accepted_at IS NOT NULL AND refused_at IS NULL"), {"ch": channels, "id": report_id}).first()
    return TokenState(True, None, accepted.failed) if accepted else None
