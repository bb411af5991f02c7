"""The read side: plain queries that return API-shaped dicts."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dispatch.actors import Scope
from dispatch.taxonomy import level_of
from store.areas import valid_on

_SHA256 = re.compile(r"[0-9a-f]{64}")


def mask_phone(phone: str | None) -> str | None:
    """13812345678 → 138****5678: enough for a person to recognise their own number, no more."""
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    keep_head = 3 if len(digits) >= 11 else 1
    return digits[:keep_head] + "*" * (len(digits) - keep_head - 4) + digits[-4:]


_TICKET_COLUMNS = """
SELECT t.id, t.ticket_no, t.status, t.version, t.category, t.description, t.address, t.area,
       t.routing, t.deadline, t.escalation_level, t.created_at, t.updated_at, t.deadline_state,
       t.report_count, t.assist_codes, t.priority, t.grid_code,
       coalesce((t.loop->>'border_check')::boolean, false) AS border_check,
       (SELECT (array_agg(r.channel ORDER BY r.id))[1] FROM reports r WHERE r.ticket_id = t.id) AS channel,
       ST_X(t.location) AS lon, ST_Y(t.location) AS lat,
       u.code AS unit_code, u.name AS unit_name, u.level AS unit_level"""
_TICKET_FROM = """
FROM tickets t LEFT JOIN units u ON u.code = t.assignee_code
"""
_TICKET_SELECT = _TICKET_COLUMNS + _TICKET_FROM


def _ticket_dict(row) -> dict[str, Any]:
    return {
        "ticket_no": row.ticket_no,
        "status": row.status,
        "version": row.version,
        "category": row.category,
        "assignee": {"code": row.unit_code, "name": row.unit_name, "level": row.unit_level} if row.unit_code else None,
        "area": row.area,
        "location": {"lon": row.lon, "lat": row.lat} if row.lon is not None else None,
        "deadline": row.deadline.isoformat() if row.deadline else None,
        "escalation_level": row.escalation_level,
        "description": row.description,
        "address": row.address,
        "routing": row.routing,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "deadline_state": row.deadline_state,
        "report_count": row.report_count,
        "assists": list(row.assist_codes or ()),
        "priority": row.priority,
        "border_check": row.border_check,
        "channel": row.channel,
    }


def _scope_sql(scope: Scope, params: dict) -> str:
    """dispatch.actors.Scope.covers as SQL: the lead unit or an assisting one, or the grid cell."""
    if scope.everything:
        return "TRUE"
    clauses = []
    if scope.unit:
        clauses.append("(t.assignee_code = :scope_unit OR :scope_unit = ANY(t.assist_codes))")
        params["scope_unit"] = scope.unit
    if scope.grid:
        clauses.append("t.grid_code = :scope_grid")
        params["scope_grid"] = scope.grid
    return "(" + " OR ".join(clauses) + ")" if clauses else "FALSE"


SORTS = ("newest", "deadline")


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: the last ticket's id and, when sorted by deadline, its deadline (None:
    it was among the tickets without a running deadline, which come last)."""

    id: int
    deadline: datetime | None = None


def list_tickets(
    conn: Connection, scope: Scope, *, statuses: tuple[str, ...] = (), unit: str | None = None,
    district: str | None = None, since: datetime | None = None, limit: int = 50, cursor: Cursor | None = None,
    deadline_state: str | None = None, border_check: bool | None = None, sort: str = "newest",
) -> tuple[list[dict], Cursor | None]:
    """A page and the cursor of the next one (None: this was the last). `newest`: newest first (id
    descending). `deadline`: the earliest running deadline first, tickets without one last, ties by id; the
    cursor is a position in that order (keyset), so a ticket is never shown twice nor skipped while the list
    holds still, however deep one pages."""
    params: dict[str, Any] = {"limit": limit + 1}
    where = [_scope_sql(scope, params)]
    if deadline_state:
        where.append("t.deadline_state = :deadline_state")
        params["deadline_state"] = deadline_state
    if border_check is not None:
        where.append("coalesce((t.loop->>'border_check')::boolean, false) = :border_check")
        params["border_check"] = border_check
    if statuses:  # any of them (a workbench's queue is several statuses)
        where.append("t.status = ANY(:statuses)")
        params["statuses"] = list(statuses)
    if unit:
        where.append("t.assignee_code = :unit")
        params["unit"] = unit
    if district:
        where.append("t.district_code = :district")
        params["district"] = district
    if since:
        where.append("t.updated_at >= :since")
        params["since"] = since
    if sort == "deadline":
        order = "t.deadline ASC NULLS LAST, t.id ASC"
        if cursor is not None and cursor.deadline is not None:
            where.append("(t.deadline > :c_deadline OR (t.deadline = :c_deadline AND t.id > :c_id) "
                         "OR t.deadline IS NULL)")
            params.update(c_deadline=cursor.deadline, c_id=cursor.id)
        elif cursor is not None:
            where.append("(t.deadline IS NULL AND t.id > :c_id)")
            params["c_id"] = cursor.id
    else:
        order = "t.id DESC"
        if cursor is not None:
            where.append("t.id < :c_id")
            params["c_id"] = cursor.id
    rows = conn.execute(
        text(_TICKET_SELECT + " WHERE " + " AND ".join(where) + f" ORDER BY {order} LIMIT :limit"), params
    ).all()
    last = rows[limit - 1] if len(rows) > limit else None
    next_cursor = Cursor(last.id, last.deadline if sort == "deadline" else None) if last is not None else None
    return [_ticket_dict(r) for r in rows[:limit]], next_cursor


def nearby_tickets(conn: Connection, scope: Scope, lon: float, lat: float, radius_m: float, *,
                   category: str | None = None, limit: int = 20) -> list[dict]:
    """Open tickets within `radius_m` metres (geodesic) of a WGS-84 point, in the caller's scope: those of
    `category` first when given, then the nearest; each the list item plus `distance_m`. The box that surely
    holds the circle (as the merge's candidates, store.tickets) is answered by the GiST index on the location;
    the exact distance is computed only inside it."""
    params: dict[str, Any] = {"lon": lon, "lat": lat, "r": radius_m, "limit": limit, "category": category}
    first = "(t.category IS NOT DISTINCT FROM :category) DESC, " if category else ""
    point = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
    rows = conn.execute(text(
        _TICKET_COLUMNS + f", ST_Distance(t.location::geography, {point}::geography) AS distance_m" + _TICKET_FROM
        # The open statuses as the partial indexes of 0004 and 0008 spell them (dispatch.model.OPEN_STATUSES).
        + "WHERE t.status NOT IN ('closed', 'rejected') AND " + _scope_sql(scope, params)
        + f" AND t.location && ST_Expand({point}, :r / (110000.0 * greatest(cos(radians(abs(:lat) + :r / 110000.0)),"
        " 0.01)), :r / 110000.0)"
        f" AND ST_DWithin(t.location::geography, {point}::geography, :r)"
        f" ORDER BY {first}distance_m, t.id LIMIT :limit"), params).all()
    return [{**_ticket_dict(r), "distance_m": round(float(r.distance_m), 1)} for r in rows]


def get_ticket(conn: Connection, ticket_no: str, scope: Scope) -> dict | None:
    params: dict[str, Any] = {"no": ticket_no}
    row = conn.execute(
        text(_TICKET_SELECT + " WHERE t.ticket_no = :no AND " + _scope_sql(scope, params)), params
    ).first()
    if row is None:
        return None
    ticket = _ticket_dict(row)
    # The deadlines in force (contract §8), kept with the evaluation's facts (store.kpi) at every change.
    due = conn.execute(text("SELECT ack_due, handle_due FROM ticket_kpi WHERE ticket_id = :t"), {"t": row.id}).first()
    ticket["deadlines"] = {"acknowledge": due.ack_due.isoformat() if due and due.ack_due else None,
                           "handle": due.handle_due.isoformat() if due and due.handle_due else None}
    history = conn.execute(
        text(
            "SELECT at, actor, role, party, action, from_status, to_status, note, data FROM ticket_history "
            "WHERE ticket_id = :t ORDER BY id"
        ),
        {"t": row.id},
    ).all()
    ticket["history"] = [
        {"at": h.at.isoformat(), "actor": h.actor, "role": h.role, "action": h.action,
         "from": h.from_status, "to": h.to_status, "note": h.note, "party": h.party, "data": _with_media_urls(h.data)}
        for h in history
    ]
    reports = conn.execute(
        text("SELECT channel, report_id, reported_at, envelope FROM reports WHERE ticket_id = :t ORDER BY id"),
        {"t": row.id},
    ).all()
    ticket["reports"] = [
        {
            "channel": r.channel,
            "report_id": r.report_id,
            "reported_at": r.reported_at.isoformat(),
            "reporter": _masked_reporter(r.envelope.get("reporter")),
            "attachments": media_urls(r.envelope.get("attachments")),
        }
        for r in reports
    ]
    return ticket


def media_urls(attachments) -> list[dict]:
    """Photos as the pages show them: each stored photo (by its sha256) at /media/<sha256>, which serves it to
    staff; a `url` given by the sender (a report's JSON may name any) is not passed on. Entries without a
    stored photo's hash are left out."""
    if not isinstance(attachments, list):
        return []
    return [{**a, "url": f"/media/{a['sha256']}"} for a in attachments
            if isinstance(a, dict) and isinstance(a.get("sha256"), str) and _SHA256.fullmatch(a["sha256"])]


def _with_media_urls(data: dict | None) -> dict | None:
    """A history entry's particulars with its photos (`attachments` of handle, verify, …) as media URLs."""
    if not isinstance(data, dict) or "attachments" not in data:
        return data
    return {**data, "attachments": media_urls(data["attachments"])}


def public_ticket(conn: Connection, ticket_no: str) -> dict | None:
    """What a resident may see: status and progress, no names, phones, notes or actors."""
    row = conn.execute(
        text("SELECT id, ticket_no, status, category, created_at, updated_at FROM tickets WHERE ticket_no = :no"),
        {"no": ticket_no},
    ).first()
    if row is None:
        return None
    history = conn.execute(
        text("SELECT at, action, to_status FROM ticket_history WHERE ticket_id = :t ORDER BY id"), {"t": row.id}
    ).all()
    return {
        "ticket_no": row.ticket_no, "status": row.status, "category": row.category,
        "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
        "history": [{"at": h.at.isoformat(), "action": h.action, "to": h.to_status} for h in history],
    }


def _masked_reporter(reporter: dict | None) -> dict | None:
    if not reporter:
        return None
    return {**reporter, "phone": mask_phone(reporter.get("phone"))}


def report_status(conn: Connection, channel: str, report_id: str) -> dict | None:
    row = conn.execute(
        text(
            "SELECT r.id, t.ticket_no, t.status FROM reports r LEFT JOIN tickets t ON t.id = r.ticket_id "
            "WHERE r.channel = :c AND r.report_id = :r"
        ),
        {"c": channel, "r": report_id},
    ).first()
    if row is None:
        dead = conn.execute(text("SELECT 1 FROM intake_log WHERE channel = :c AND report_id = :r "
                                 "AND dead_at IS NOT NULL"), {"c": channel, "r": report_id}).first()
        # accepted, then dead-lettered by the worker: it will never become a ticket (the reason is staff's:
        # `yunguan dlq list`, not the public's)
        return {"status": "failed"} if dead else None
    if row.ticket_no is None:
        return {"status": "received"}
    return {"status": "ticketed", "ticket_no": row.ticket_no, "ticket_status": row.status}


def areas_geojson(conn: Connection, level: str | None, on: date, simplify_m: float = 0.0) -> dict:
    """The areas valid on day `on` (store.areas.valid_on)."""
    params: dict[str, Any] = {"tol": simplify_m / 111_320.0, "on": on}
    where = valid_on()
    if level:
        where += " AND level = :level"
        params["level"] = level
    rows = conn.execute(
        text(
            "SELECT code, name, level, parent_code, "
            "ST_AsGeoJSON(CASE WHEN :tol > 0 THEN ST_SimplifyPreserveTopology(geom, :tol) ELSE geom END, 6) AS g "
            f"FROM areas WHERE {where} ORDER BY level, code"
        ),
        params,
    ).all()
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": r.code,
                "properties": {"code": r.code, "name": r.name, "level": r.level, "parent": r.parent_code},
                "geometry": json.loads(r.g),
            }
            for r in rows
        ],
    }


def categories(conn: Connection) -> list[dict]:
    rows = conn.execute(
        text("SELECT code, name, kind, parent, ack_limit_h, handle_limit_h FROM categories ORDER BY code")
    ).all()
    return [
        {"code": r.code, "name": r.name, "kind": r.kind, "parent": r.parent,
         "ack_limit": r.ack_limit_h, "handle_limit": r.handle_limit_h,
         "level": level_of(r.code)}  # root, class or subclass: pages pick 小类 by this, not by counting digits
        for r in rows
    ]
