"""Lifeline monitoring's read views (contract §10): the device list by status and kind, and a device's stored
series, downsampled with date_bin when the range is long. Staff only, in their scope: the command centre sees
every device, a department the devices of its unit, a grid worker those in its cell. Registered on
web.api's blueprint; thin: parse, call one query, render."""
from __future__ import annotations

from datetime import timedelta

from flask import jsonify, request

from dispatch.vocabulary import CITY_WIDE_ROLES
from store import lifeline
from web.api import _choice_arg, _deps, _instant_arg, _int_arg, bp
from web.auth import STAFF_ROLES, current_user, require_roles
from web.errors import ApiError

DEVICE_STATUSES = ("normal", "alarm", "offline")
MAX_POINTS = 2000  # a series longer than this is averaged per bin (with min, max and count)
MAX_RANGE = timedelta(days=366)


def _scope() -> tuple[str | None, str | None]:
    """(unit, grid) the caller is limited to; (None, None) for the command centre."""
    user = current_user()
    if user.role in CITY_WIDE_ROLES:
        return None, None
    if user.role == "grid":
        return None, user.grid_code or "\x00"
    return user.unit_code or "\x00", None


@bp.get("/devices")
@require_roles(*STAFF_ROLES)
def list_devices():
    status = _choice_arg("status", DEVICE_STATUSES)
    kind = request.args.get("kind") or None
    if kind is not None and len(kind) > 32:
        raise ApiError(400, "invalid_query", "kind is too long", {"kind": "at most 32 characters"})
    limit = _int_arg("limit", 500, 1, 5000)
    after = request.args.get("cursor") or None
    if after is not None and len(after) > 64:
        raise ApiError(400, "invalid_query", "cursor is not a cursor", {"cursor": "pass next_cursor of the last page"})
    unit, grid = _scope()
    with _deps().engine.connect() as conn:
        rows = lifeline.device_page(conn, status=status, kind=kind, unit=unit, grid=grid, after=after,
                                    limit=limit + 1)
    items = [{
        "device_id": r.device_id, "kind": r.kind, "name": r.name, "network": r.network,
        "location": {"lon": r.lon, "lat": r.lat},
        "unit": {"code": r.unit_code, "name": r.unit_name},
        "area": {"district": r.district_code, "street": r.street_code, "community": r.community_code,
                 "grid": r.grid_code},
        "status": r.status, "level": r.level, "last_at": r.last_at.isoformat() if r.last_at else None,
        "ticket_no": r.ticket_no,
    } for r in rows[:limit]]
    return jsonify({"items": items, "next_cursor": rows[limit - 1].device_id if len(rows) > limit else None})


@bp.get("/devices/<device_id>/readings")
@require_roles(*STAFF_ROLES)
def device_readings(device_id: str):
    """`from` (default: a day before `to`) and `to` (default: now); at most a year. Up to MAX_POINTS readings
    per metric come as stored; a longer range is averaged per bin (`bin_s`), each point with min, max, n."""
    until = _instant_arg("to") or _deps().clock()
    since = _instant_arg("from") or until - timedelta(days=1)
    if since >= until:
        raise ApiError(400, "invalid_query", "from must be before to", {"from": "must be before to"})
    if until - since > MAX_RANGE:
        raise ApiError(400, "invalid_query", "the range is longer than a year", {"from": "at most a year before to"})
    unit, grid = _scope()
    with _deps().engine.connect() as conn:
        found = lifeline.device_scope(conn, device_id)
        if found is None or (unit and found.unit_code != unit) or (grid and found.grid_code != grid):
            raise ApiError(404, "not_found", f"no device {device_id}", {"device_id": "unknown or not yours"})
        count = lifeline.count_readings(conn, device_id, since, until)
        bin_s = None
        if count > MAX_POINTS:
            bin_s = max(1, int((until - since).total_seconds() // MAX_POINTS) + 1)
        rows = lifeline.series(conn, device_id, since, until, bin_s)
    metrics: dict[str, list] = {}
    for r in rows:
        point = {"at": r.at.isoformat(), "value": r.value}
        if bin_s:
            point.update(min=r.min, max=r.max, n=r.n)
        metrics.setdefault(r.metric, []).append(point)
    return jsonify({"device_id": device_id, "from": since.isoformat(), "to": until.isoformat(), "bin_s": bin_s,
                    "metrics": metrics})
