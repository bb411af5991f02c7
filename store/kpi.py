"""The evaluation's facts table (`ticket_kpi`, migration 0013): one row per ticket, written in the transaction of
every change of the ticket, and the GROUP BY queries that answer 综合评价, its case lists, hotspots and trends.

A row holds what `dispatch.kpi.facts` derives from the loop state, plus what the ticket row knows (when it was
opened, its category and areas, when it was closed) and the channel of its first report. Nothing here replays
history per request: a year of a large city is a range scan and an aggregate (bench/evaluation.py).
Every count is one SQL predicate (`PREDICATES`), used by the aggregate and by the case list alike, so a figure
always equals the length of its list.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from dispatch.kpi import COUNTS, Facts
from dispatch.state import TicketState
from store.areas import valid_on
from store.queries import _TICKET_COLUMNS, _ticket_dict

# The column a breakdown groups by.
GROUP_COLUMNS = {
    "unit": "lead_unit", "district": "district_code", "street": "street_code", "community": "community_code",
    "grid": "grid_code", "category": "category",
}
# Each count as a predicate on a facts row; `:now` is the evaluation instant (only `overdue` needs it).
PREDICATES = {
    "dispatched": "TRUE",
    "acknowledged_on_time": "k.acknowledged_on_time",
    "handled": "k.handled",
    "handled_on_time": "k.handled_on_time",
    "overdue": "(k.handled_late OR k.handle_due < :now)",
    "reworked": "k.reworked",
    "returned": "k.returned",
    "extended": "k.extended",
    "closed": "k.status = 'closed'",
}
assert tuple(PREDICATES) == tuple(COUNTS), "one predicate per count of the contract, in its order"

_WRITE = text(
    "INSERT INTO ticket_kpi AS k (ticket_id, created_at, channel, category, district_code, street_code, "
    "community_code, grid_code, status, first_dispatched_at, lead_unit, acknowledged_on_time, handled, "
    "handled_on_time, handled_late, handled_due, reworked, returned, extended, closed_at, ack_due, handle_due, "
    "updated_at) "
    "SELECT t.id, t.created_at, coalesce(f.channel, (SELECT (array_agg(r.channel ORDER BY r.id))[1] FROM reports r "
    "WHERE r.ticket_id = t.id)), t.category, t.area->'district'->>'code', t.area->'street'->>'code', "
    "t.area->'community'->>'code', t.area->'grid'->>'code', f.status, f.first_dispatched_at, f.lead_unit, "
    "f.acknowledged_on_time, f.handled, f.handled_on_time, f.handled_late, f.handled_due, f.reworked, f.returned, "
    "f.extended, CASE WHEN f.status = 'closed' THEN coalesce(t.closed_at, t.updated_at) END, f.ack_due, "
    "f.handle_due, t.updated_at "
    "FROM jsonb_to_recordset(:rows) AS f(ticket_id bigint, channel text, status text, "
    "first_dispatched_at timestamptz, lead_unit text, acknowledged_on_time boolean, handled boolean, "
    "handled_on_time boolean, handled_late boolean, handled_due timestamptz, reworked boolean, returned boolean, "
    "extended boolean, ack_due timestamptz, handle_due timestamptz) "
    "JOIN tickets t ON t.id = f.ticket_id ORDER BY t.id "
    "ON CONFLICT (ticket_id) DO UPDATE SET channel = coalesce(k.channel, EXCLUDED.channel), "
    "category = EXCLUDED.category, district_code = EXCLUDED.district_code, street_code = EXCLUDED.street_code, "
    "community_code = EXCLUDED.community_code, grid_code = EXCLUDED.grid_code, status = EXCLUDED.status, "
    "first_dispatched_at = EXCLUDED.first_dispatched_at, lead_unit = EXCLUDED.lead_unit, "
    "acknowledged_on_time = EXCLUDED.acknowledged_on_time, handled = EXCLUDED.handled, "
    "handled_on_time = EXCLUDED.handled_on_time, handled_late = EXCLUDED.handled_late, "
    "handled_due = EXCLUDED.handled_due, reworked = EXCLUDED.reworked, returned = EXCLUDED.returned, "
    "extended = EXCLUDED.extended, closed_at = EXCLUDED.closed_at, ack_due = EXCLUDED.ack_due, "
    "handle_due = EXCLUDED.handle_due, updated_at = EXCLUDED.updated_at"
).bindparams(bindparam("rows", type_=JSONB))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _row(ticket_id: int, f: Facts, channel: str | None) -> dict:
    return {
        "ticket_id": ticket_id, "channel": channel, "status": str(f.status) if f.status else None,
        "first_dispatched_at": _iso(f.first_dispatched_at), "lead_unit": f.lead_unit,
        "acknowledged_on_time": f.acknowledged_on_time, "handled": f.handled, "handled_on_time": f.handled_on_time,
        "handled_late": f.handled_late, "handled_due": _iso(f.handled_due), "reworked": f.reworked,
        "returned": f.returned, "extended": f.extended, "ack_due": _iso(f.ack_due), "handle_due": _iso(f.handle_due),
    }


def write(conn: Connection, rows: Iterable[tuple[int, Facts, str | None]]) -> None:
    """Insert or replace the facts of tickets (ticket id, facts, channel of the first report or None to look
    it up), in one statement however many: the worker writes a batch's new tickets at once. The ticket row
    supplies the rest (opened, category, areas, closed), so call this after the ticket's own write.

    The first report's channel is an aggregate over the ticket's reports, not `ORDER BY id LIMIT 1`: with the
    latter the planner walked the reports' primary key filtering on `ticket_id` (every report older than the
    ticket's, 1.4 ms per change at 4,000 reports and growing with the table) instead of `ix_reports_ticket_id`."""
    payload = [_row(tid, f, channel) for tid, f, channel in rows]
    if payload:
        conn.execute(_WRITE, {"rows": payload})


def ticket_batch(conn: Connection, after: int, size: int) -> list[tuple[int, TicketState]]:
    """The next `size` tickets after id `after`: id and loop state as `store.loop.load` reads them, locked
    against changes until the caller's transaction ends (FOR SHARE), so that facts rebuilt from them cannot
    overwrite the facts of a change committed meanwhile (`yunguan kpi rebuild`)."""
    from store.loop import _LOAD, _state  # the loop's own reading, so a rebuilt state equals a loaded one

    rows = conn.execute(text(_LOAD + "WHERE id > :after ORDER BY id LIMIT :n FOR SHARE"),
                        {"after": after, "n": size}).all()
    return [(row.id, _state(row)) for row in rows]


# --- reading ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """[since, until) as instants (the city's days turned into instants by the caller), evaluated at `now`."""

    since: datetime
    until: datetime
    now: datetime


def counts(conn: Connection, by: str, period: Period) -> list[tuple[str | None, dict[str, int]]]:
    """Per key of the breakdown (None: tickets without one, e.g. no area), the nine counts."""
    column = GROUP_COLUMNS[by]
    selects = ", ".join(f"count(*) FILTER (WHERE {p}) AS {name}" for name, p in PREDICATES.items())
    rows = conn.execute(text(
        f"SELECT k.{column} AS key, {selects} FROM ticket_kpi k "
        "WHERE k.first_dispatched_at >= :since AND k.first_dispatched_at < :until "
        f"GROUP BY k.{column} ORDER BY k.{column} NULLS LAST"),
        {"since": period.since, "until": period.until, "now": period.now}).mappings().all()
    return [(r["key"], {name: r[name] for name in PREDICATES}) for r in rows]


def names(conn: Connection, by: str, codes: list[str], on: date) -> dict[str, str]:
    """Display names of the keys: units, categories, or areas (the version valid on `on`, else the latest)."""
    if not codes:
        return {}
    if by == "unit":
        sql, params = "SELECT code, name FROM units WHERE code = ANY(:codes)", {}
    elif by == "category":
        sql, params = "SELECT code, name FROM categories WHERE code = ANY(:codes)", {}
    else:
        sql = (f"SELECT DISTINCT ON (code) code, name FROM areas WHERE level = :level AND code = ANY(:codes) "
               f"ORDER BY code, {valid_on()} DESC, valid_from DESC")
        params = {"level": by, "on": on}
    return dict(conn.execute(text(sql), {"codes": codes, **params}).all())


def key_exists(conn: Connection, by: str, key: str) -> bool:
    """Whether `key` names a unit, category or area of the level (or appears among the facts)."""
    if by == "unit":
        sql, params = "SELECT 1 FROM units WHERE code = :key", {}
    elif by == "category":
        sql, params = "SELECT 1 FROM categories WHERE code = :key", {}
    else:
        sql, params = "SELECT 1 FROM areas WHERE level = :level AND code = :key", {"level": by}
    if conn.execute(text(sql + " LIMIT 1"), {"key": key, **params}).first() is not None:
        return True
    column = GROUP_COLUMNS[by]
    return conn.execute(text(f"SELECT 1 FROM ticket_kpi WHERE {column} = :key LIMIT 1"), {"key": key}).first() is not None


def cases(conn: Connection, by: str, key: str | None, count: str, period: Period, *, limit: int,
          after: int | None = None) -> tuple[list[dict], int | None, int]:
    """The tickets behind one count of one row, by ticket id; returns (page, id to continue after or None,
    how many in all). `key` None: the row of tickets without a key. The matching rows are found first through
    the breakdown's index (materialized: ordered by id, the planner would walk the primary key instead and
    filter a year of rows), then counted and paged."""
    column = GROUP_COLUMNS[by]
    where = ["k.first_dispatched_at >= :since AND k.first_dispatched_at < :until", PREDICATES[count],
             f"k.{column} IS NULL" if key is None else f"k.{column} = :key"]
    params: dict[str, Any] = {"since": period.since, "until": period.until, "now": period.now, "key": key,
                              "after": after or 0, "limit": limit + 1}
    rows = conn.execute(text(
        "WITH m AS MATERIALIZED (SELECT k.ticket_id, k.lead_unit, k.first_dispatched_at FROM ticket_kpi k WHERE "
        + " AND ".join(where) + "), "
        "page AS (SELECT * FROM m WHERE m.ticket_id > :after ORDER BY m.ticket_id LIMIT :limit) "
        + _TICKET_COLUMNS + ", page.lead_unit, page.first_dispatched_at, (SELECT count(*) FROM m) AS total "
        "FROM page JOIN tickets t ON t.id = page.ticket_id LEFT JOIN units u ON u.code = t.assignee_code "
        "ORDER BY page.ticket_id"), params).all()
    total = rows[0].total if rows else _count(conn, where, params)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{**_ticket_dict(r), "lead_unit": r.lead_unit, "first_dispatched_at": _iso(r.first_dispatched_at)}
             for r in rows]
    return items, (rows[-1].id if more else None), total


def _count(conn: Connection, where: list[str], params: dict) -> int:
    """The figure when the page is empty (a cursor past the end)."""
    return conn.execute(text("SELECT count(*) FROM ticket_kpi k WHERE " + " AND ".join(where)), params).scalar_one()


def hotspots(conn: Connection, level: str, since: datetime, until: datetime, on: date,
             category: str | None = None, simplify_m: float = 0.0) -> str:
    """Tickets opened in [since, until) (不予立案 left out) per area of `level` valid on `on`, as the text of a
    GeoJSON FeatureCollection; every area of the level is a feature (count 0 where none). `category`: a code
    of any level of the taxonomy (a 门类 or 大类 takes its 小类). The database writes the JSON: decoding and
    re-encoding thousands of polygons in Python cost more than the count."""
    column = GROUP_COLUMNS[level]
    cat = "AND left(k.category, length(:category)) = :category " if category else ""
    return conn.execute(text(
        f"WITH c AS (SELECT k.{column} AS code, count(*) AS n FROM ticket_kpi k "
        f"WHERE k.created_at >= :since AND k.created_at < :until AND k.status IS DISTINCT FROM 'rejected' {cat}"
        f"AND k.{column} IS NOT NULL GROUP BY 1) "
        "SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(json_build_object("
        "'type', 'Feature', 'id', a.code, 'properties', json_build_object('code', a.code, 'name', a.name, "
        "'count', coalesce(c.n, 0)), 'geometry', ST_AsGeoJSON(CASE WHEN :tol > 0 THEN "
        "ST_SimplifyPreserveTopology(a.geom, :tol) ELSE a.geom END, 6)::json) ORDER BY a.code), '[]'::json))::text "
        f"FROM areas a LEFT JOIN c ON c.code = a.code WHERE a.level = :level AND {valid_on('a')}"),
        {"since": since, "until": until, "category": category, "level": level, "on": on,
         "tol": simplify_m / 111_320.0}).scalar_one()


def trends(conn: Connection, since: datetime, until: datetime, now: datetime, timezone: str) -> dict[str, list]:
    """Daily series in the city's time zone: tickets opened per channel of their first report, first
    dispatches, closures, and deadlines missed (a handling after its deadline on the deadline's day; a
    running clock past its deadline on that day)."""
    p = {"since": since, "until": until, "now": now, "tz": timezone}
    day = "(({}) AT TIME ZONE :tz)::date"
    intake = conn.execute(text(
        f"SELECT {day.format('k.created_at')} AS d, coalesce(k.channel, 'unknown') AS channel, count(*) AS n "
        "FROM ticket_kpi k WHERE k.created_at >= :since AND k.created_at < :until GROUP BY 1, 2"), p).all()
    dispatched = conn.execute(text(
        f"SELECT {day.format('k.first_dispatched_at')} AS d, count(*) AS n FROM ticket_kpi k "
        "WHERE k.first_dispatched_at >= :since AND k.first_dispatched_at < :until GROUP BY 1"), p).all()
    closed = conn.execute(text(
        f"SELECT {day.format('k.closed_at')} AS d, count(*) AS n FROM ticket_kpi k "
        "WHERE k.closed_at >= :since AND k.closed_at < :until GROUP BY 1"), p).all()
    missed = "CASE WHEN k.handle_due < :now THEN k.handle_due ELSE k.handled_due END"
    overdue = conn.execute(text(
        f"SELECT {day.format(missed)} AS d, count(*) AS n FROM ticket_kpi k "
        "WHERE (k.handle_due >= :since AND k.handle_due < least(CAST(:until AS timestamptz), CAST(:now AS timestamptz))) "
        "OR (k.handled_late AND k.handled_due >= :since AND k.handled_due < :until AND NOT coalesce(k.handle_due < :now, false)) "
        "GROUP BY 1"), p).all()
    return {"intake": [tuple(r) for r in intake], "dispatched": [tuple(r) for r in dispatched],
            "closed": [tuple(r) for r in closed], "overdue": [tuple(r) for r in overdue]}
