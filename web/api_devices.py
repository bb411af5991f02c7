"""Lifeline monitoring's read views (contract §10): the device list by status and kind, and a device's stored
series, downsampled with date_bin when the range is long. Staff only, in their scope: the command centre sees
every device, a department the devices of its unit, a grid worker those in its cell. Registered on
web.api's blueprint; thin: parse, call one query, render."""
from __future__ import annotations

import gzip
from datetime import timedelta

import orjson
from flask import Response, g, jsonify, request

from dispatch.vocabulary import CITY_WIDE_ROLES
from store import lifeline
from web import api_models as m
from web.api import _deps, bp
from web.api_models import Error
from web.auth import STAFF_ROLES, current_user
from web.errors import ApiError
from web.openapi import documented

DEVICE_STATUSES = ("normal", "alarm", "offline")
MAX_POINTS = 2000  # a series longer than this is averaged per bin (with min, max and count)
MAX_RANGE = timedelta(days=366)
ERRORS = {400: Error, 401: Error, 403: Error, 503: Error}


def _scope() -> tuple[str | None, str | None]:
    """(unit, grid) the caller is limited to; (None, None) for the command centre."""
    user = current_user()
    if user.role in CITY_WIDE_ROLES:
        return None, None
    if user.role == "grid":
        return None, user.grid_code or "\x00"
    return user.unit_code or "\x00", None


@bp.get("/devices")
@documented(tags=["lifeline"], roles=STAFF_ROLES, query=m.DevicesQuery, responses={200: m.DevicePage, **ERRORS})
def list_devices():
    """A page of the devices in the caller's scope, by status and kind."""
    query: m.DevicesQuery = g.query
    status, kind, limit, after = query.status, query.kind, query.limit, query.cursor
    unit, grid = _scope()
    with _deps().engine.connect() as conn:
        rows = lifeline.device_page(conn, status=status, kind=kind, unit=unit, grid=grid, after=after,
                                    limit=limit + 1)
    items = [{**_device(r), "ticket_no": r.ticket_no} for r in rows[:limit]]
    return jsonify({"items": items, "next_cursor": rows[limit - 1].device_id if len(rows) > limit else None})


def _device(r) -> dict:
    """A device row as the list and the detail both answer it."""
    return {
        "device_id": r.device_id, "kind": r.kind, "name": r.name, "network": r.network,
        "location": {"lon": r.lon, "lat": r.lat},
        "unit": {"code": r.unit_code, "name": r.unit_name},
        "area": {"district": r.district_code, "street": r.street_code, "community": r.community_code,
                 "grid": r.grid_code},
        "status": r.status, "level": r.level, "last_at": r.last_at.isoformat() if r.last_at else None,
    }


@bp.get("/devices/<device_id>/readings")
@documented(tags=["lifeline"], roles=STAFF_ROLES, query=m.DeviceRangeQuery,
            responses={200: m.Readings, 404: Error, **ERRORS})
def device_readings(device_id: str):
    """`from` (default: a day before `to`) and `to` (default: now); at most a year. Up to MAX_POINTS readings
    per metric come as stored; a longer range is averaged per bin (`bin_s`), each point with min, max, n."""
    query: m.DeviceRangeQuery = g.query
    until = query.to or _deps().clock()
    since = query.from_ or until - timedelta(days=1)
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


# -- the monitoring view (/monitor) --------------------------------------------------------------------------------

MAP_FIELDS = ("device_id", "kind", "lon", "lat", "status", "level", "ticket_no")
MAP_LIMIT = 20000  # the whole network of a city in one answer (10,000 devices: tens of kB gzipped)


def _compact(body: dict) -> Response:
    """orjson, gzipped when the client takes it: the map's answer is the largest a page asks for."""
    raw = orjson.dumps(body)
    if "gzip" in (request.headers.get("Accept-Encoding") or "") and len(raw) > 2048:
        response = Response(gzip.compress(raw, compresslevel=5), mimetype="application/json")
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
        return response
    return Response(raw, mimetype="application/json")


@bp.get("/devices/map")
@documented(tags=["lifeline"], roles=STAFF_ROLES, query=m.DeviceMapQuery, responses={200: m.DeviceMap, **ERRORS})
def device_map():
    """Every device of the caller's scope as rows of MAP_FIELDS (no per-item keys: a tenth of the size of the
    paged list), up to `limit` (default and most MAP_LIMIT); `truncated` says whether there were more."""
    query: m.DeviceMapQuery = g.query
    kind, limit = query.kind, query.limit
    unit, grid = _scope()
    with _deps().engine.connect() as conn:
        rows = lifeline.device_map(conn, kind=kind, unit=unit, grid=grid, limit=limit + 1)
    return _compact({"fields": list(MAP_FIELDS), "rows": [list(r) for r in rows[:limit]],
                     "truncated": len(rows) > limit})


@bp.get("/devices/summary")
@documented(tags=["lifeline"], roles=STAFF_ROLES, responses={200: m.DeviceSummary, **ERRORS})
def device_summary():
    """Counts of the caller's devices: per status, per alarm level, per kind (each with its statuses)."""
    unit, grid = _scope()
    with _deps().engine.connect() as conn:
        rows = lifeline.device_summary(conn, unit=unit, grid=grid)
    statuses = dict.fromkeys(DEVICE_STATUSES, 0)
    levels = {"1": 0, "2": 0, "3": 0}
    kinds: dict[str, dict[str, int]] = {}
    for r in rows:
        statuses[r.status] += r.n
        if r.status == "alarm" and str(r.level) in levels:
            levels[str(r.level)] += r.n
        per_kind = kinds.setdefault(r.kind, {"total": 0, **dict.fromkeys(DEVICE_STATUSES, 0)})
        per_kind[r.status] += r.n
        per_kind["total"] += r.n
    return jsonify({"total": sum(statuses.values()), "status": statuses, "alarm_levels": levels, "kinds": kinds})


@bp.get("/devices/<device_id>")
@documented(tags=["lifeline"], roles=STAFF_ROLES, responses={200: m.Device, 404: Error, **ERRORS})
def device_detail(device_id: str):
    """One device with its open tickets and its kind's thresholds per metric (what the chart draws in).
    (`map` and `summary` are the two routes above, never device ids here.)"""
    unit, grid = _scope()
    with _deps().engine.connect() as conn:
        r = lifeline.device_detail(conn, device_id)
        if r is None or (unit and r.unit_code != unit) or (grid and r.grid_code != grid):
            raise ApiError(404, "not_found", f"no device {device_id}", {"device_id": "unknown or not yours"})
        limits = lifeline.kind_thresholds(conn, r.kind)
    thresholds: dict[str, list] = {}
    for t in limits:
        thresholds.setdefault(t.metric, []).append(
            {"level": t.level, "direction": t.direction, "value": t.value, "hysteresis": t.hysteresis})
    return jsonify({
        **_device(r),
        "offline_since": r.offline_since.isoformat() if r.offline_since else None,
        "registered_at": r.registered_at.isoformat(), "offline_after_s": r.offline_after_s,
        "tickets": r.tickets, "thresholds": thresholds,
    })
