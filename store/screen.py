"""The wall screen's live figures (指挥大屏): what is open right now, late or due soon, closed today, and the
same per district. Counts of the current state, not of a period: the period figures are the evaluation's
(store/kpi.py). Both queries ride indexes that exist for other reasons (open tickets by deadline, facts by
closure time), so a city with a year of tickets answers as fast as a new one."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dispatch.vocabulary import OPEN_STATUS_LIST

_NOW = """
SELECT count(*) AS open,
       count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE priority = 'urgent') AS urgent,
       count(*) FILTER (WHERE deadline < :now OR deadline_state = 'red') AS overdue,
       count(*) FILTER (WHERE deadline_state = 'yellow' AND NOT (deadline < :now)) AS due_soon,
       count(*) FILTER (WHERE created_at >= :day_start) AS opened_today
FROM tickets WHERE status = ANY(:open)
"""

_BY_DISTRICT = """
SELECT t.district_code AS code, count(*) AS open,
       count(*) FILTER (WHERE t.deadline < :now OR t.deadline_state = 'red') AS overdue,
       count(*) FILTER (WHERE t.deadline_state = 'yellow' AND NOT (t.deadline < :now)) AS due_soon
FROM tickets t WHERE t.status = ANY(:open) AND t.district_code IS NOT NULL
GROUP BY t.district_code
"""


def live_figures(conn: Connection, now: datetime, day_start: datetime) -> dict:
    params = {"now": now, "day_start": day_start, "open": list(OPEN_STATUS_LIST)}
    row = conn.execute(text(_NOW), params).mappings().one()
    closed = conn.execute(text("SELECT count(*) FROM ticket_kpi WHERE closed_at >= :day_start"), params).scalar()
    names = dict(conn.execute(text("SELECT code, name FROM areas WHERE level = 'district'")).all())
    districts = [{"code": r.code, "name": names.get(r.code, r.code), "open": r.open, "overdue": r.overdue,
                  "due_soon": r.due_soon}
                 for r in conn.execute(text(_BY_DISTRICT), params).all()]
    districts.sort(key=lambda d: (-d["overdue"], -d["open"], d["code"]))
    return {**dict(row), "closed_today": closed, "districts": districts}
