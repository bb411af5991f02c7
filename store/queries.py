"""The read side: plain queries that return API-shaped dicts."""
from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from dispatch.actors import Scope
from dispatch.taxonomy import level_of
from store.areas import valid_on


def mask_phone(phone: str | None) -> str | None:
    """13812345678 → 138****5678: enough for a person to recognise their own number, no more."""
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    keep_head = 3 if len(digits) >= 11 else 1
    return digits[:keep_head] + "*" * (len(digits) - keep_head - 4) + digits[-4:]


_TICKET_SELECT = """
SELECT t.id, t.ticket_no, t.status, t.version, t.category, t.description, t.address, t.area,
       t.routing, t.deadline, t.escalation_level, t.created_at, t.updated_at, t.deadline_state,
       t.report_count, t.assist_codes, t.priority, t.grid_code,
       coalesce((t.loop->>'border_check')::boolean, false) AS border_check,
       ST_X(t.location) AS lon, ST_Y(t.location) AS lat,
       u.code AS unit_code, u.name AS unit_name, u.level AS unit_level
FROM tickets t LEFT JOIN units u ON u.code = t.assignee_code
"""


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


def list_tickets(
    conn: Connection, scope: Scope, *, status: str | None = None, unit: str | None = None,
    district: str | None = None, since: datetime | None = None, limit: int = 50, cursor: int | None = None,
    deadline_state: str | None = None, border_check: bool | None = None,
) -> tuple[list[dict], int | None]:
    """Newest first; the cursor is the id of the last ticket of the previous page."""
    params: dict[str, Any] = {"limit": limit + 1}
    where = [_scope_sql(scope, params)]
    if deadline_state:
        where.append("t.deadline_state = :deadline_state")
        params["deadline_state"] = deadline_state
    if border_check is not None:
        where.append("coalesce((t.loop->>'border_check')::boolean, false) = :border_check")
        params["border_check"] = border_check
    if status:
        where.append("t.status = :status")
        params["status"] = status
    if unit:
        where.append("t.assignee_code = :unit")
        params["unit"] = unit
    if district:
        where.append("t.district_code = :district")
        params["district"] = district
    if since:
        where.append("t.updated_at >= :since")
        params["since"] = since
    if cursor:
        where.append("t.id < :cursor")
        params["cursor"] = cursor
    rows = conn.execute(
        text(_TICKET_SELECT + " WHERE " + " AND ".join(where) + " ORDER BY t.id DESC LIMIT :limit"), params
    ).all()
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return [_ticket_dict(r) for r in rows[:limit]], next_cursor


def get_ticket(conn: Connection, ticket_no: str, scope: Scope) -> dict | None:
    params: dict[str, Any] = {"no": ticket_no}
    row = conn.execute(
        text(_TICKET_SELECT + " WHERE t.ticket_no = :no AND " + _scope_sql(scope, params)), params
    ).first()
    if row is None:
        return None
    ticket = _ticket_dict(row)
    history = conn.execute(
        text(
            "SELECT at, actor, role, party, action, from_status, to_status, note, data FROM ticket_history "
            "WHERE ticket_id = :t ORDER BY id"
        ),
        {"t": row.id},
    ).all()
    ticket["history"] = [
        {"at": h.at.isoformat(), "actor": h.actor, "role": h.role, "action": h.action,
         "from": h.from_status, "to": h.to_status, "note": h.note, "party": h.party, "data": h.data}
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
            "attachments": r.envelope.get("attachments") or [],
        }
        for r in reports
    ]
    return ticket


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
        return None
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


def units(conn: Connection) -> list[dict]:
    rows = conn.execute(text("SELECT code, name, level, kind, parent_code FROM units ORDER BY code")).all()
    return [{"code": r.code, "name": r.name, "level": r.level, "kind": r.kind, "parent": r.parent_code} for r in rows]
