"""Reads about the tickets' time line as a whole: what a simulated past (`yunguan simulate --history`) must come
before, and which of its tickets are still open at the end."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection


def ticket_count(conn: Connection) -> int:
    return conn.execute(text("SELECT count(*) FROM tickets")).scalar_one()


def latest_change(conn: Connection) -> datetime | None:
    """The latest instant any ticket's history records (None without tickets): history written later must not
    be dated before it, or a ticket's entries would run backwards."""
    return conn.execute(text("SELECT max(at) FROM ticket_history")).scalar_one()


def status_counts(conn: Connection, ticket_nos: list[str]) -> dict[str, int]:
    rows = conn.execute(text("SELECT status, count(*) AS n FROM tickets WHERE ticket_no = ANY(:nos) GROUP BY status"),
                        {"nos": ticket_nos}).all()
    return {r.status: r.n for r in rows}


def placement(conn: Connection, ticket_no: str):
    """What an operator looks at to place and dispatch a ticket: its district, the unit routing suggests (or
    holds it), whether it has a point, and its first report's id."""
    return conn.execute(text(
        "SELECT t.district_code, t.assignee_code, t.location IS NOT NULL AS located, (SELECT (array_agg(r.report_id "
        "ORDER BY r.id))[1] FROM reports r WHERE r.ticket_id = t.id) AS report_id FROM tickets t "
        "WHERE t.ticket_no = :no"), {"no": ticket_no}).one()
