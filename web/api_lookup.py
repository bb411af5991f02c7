"""Read views of the JSON API for lists and forms that suggest as one types: the ticket list's pages, nearby
open tickets (duplicate hints), gazetteer places, and units (all, or ranked for one ticket). Registered on
web.api's blueprint; thin like it: parse, call one query, render."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask import current_app, g, jsonify
from sqlalchemy import text

from dispatch.vocabulary import CITY_WIDE_ROLES
from gis.areas import city_today
from gis.crs import OutsideChina, to_wgs84
from store import lookup, queries
from web import api_models as m
from web.api import _deps, bp, scope_of
from web.api_models import Error
from web.auth import STAFF_ROLES, current_user
from web.errors import ApiError
from web.openapi import documented


def _today():
    return city_today(_deps().settings.timezone)


# --- the ticket list -----------------------------------------------------------------------------------------
# A page's `next_cursor` is opaque to clients. Sorted newest first it is the last ticket's id (as before);
# sorted by deadline it is "<deadline in µs since 1970>.<id>", or "none.<id>" once among the tickets without
# a running deadline.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DEADLINE_CURSOR = re.compile(r"(none|[0-9]{1,18})\.([0-9]{1,18})")


def _render_cursor(cursor: queries.Cursor | None, sort: str) -> str | None:
    if cursor is None:
        return None
    if sort != "deadline":
        return str(cursor.id)
    at = "none" if cursor.deadline is None else str((cursor.deadline - _EPOCH) // timedelta(microseconds=1))
    return f"{at}.{cursor.id}"


def _cursor_arg(raw: str | None, sort: str) -> queries.Cursor | None:
    """The cursor's form depends on `sort`, so the view reads it, not the model."""
    if not raw:
        return None
    if sort != "deadline":
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 2**62:
            raise ApiError(400, "invalid_query", "cursor must be an integer",
                           {"cursor": "pass next_cursor of the previous page, with the same sort"})
        return queries.Cursor(int(raw))
    found = _DEADLINE_CURSOR.fullmatch(raw)
    if found is None:
        raise ApiError(400, "invalid_query", "cursor is not a cursor of this sort",
                       {"cursor": "pass next_cursor of the previous page, with the same sort"})
    at = None if found[1] == "none" else _EPOCH + timedelta(microseconds=int(found[1]))
    return queries.Cursor(int(found[2]), at)


@bp.get("/tickets")
@documented(tags=["tickets"], roles=STAFF_ROLES, query=m.TicketListQuery,
            responses={200: m.TicketPage, 400: Error, 401: Error, 403: Error, 503: Error})
def list_tickets():
    """A page of the tickets in the caller's scope, newest first or by deadline; `next_cursor` is opaque."""
    query: m.TicketListQuery = g.query
    sort = query.sort
    with _deps().engine.connect() as conn:
        items, next_cursor = queries.list_tickets(
            conn, scope_of(current_user()), statuses=tuple(dict.fromkeys(query.status or ())),
            unit=query.unit, district=query.district, since=query.since, limit=query.limit,
            cursor=_cursor_arg(query.cursor, sort), deadline_state=query.deadline_state,
            border_check=query.border_check, sort=sort,
        )
    return jsonify({"items": items, "next_cursor": _render_cursor(next_cursor, sort)})


# --- duplicate hints -----------------------------------------------------------------------------------------

@bp.get("/tickets/nearby")
@documented(tags=["tickets"], roles=STAFF_ROLES, query=m.NearbyQuery,
            responses={200: m.NearbyTickets, 400: Error, 401: Error, 403: Error, 422: Error, 503: Error})
def nearby_tickets():
    """Open tickets in the caller's scope near a point, nearest first (the same 小类 first when `category` is
    given): the duplicate hints of the call registration form."""
    query: m.NearbyQuery = g.query  # radius_m within 1–2000 m, category a 小类 code: the model's rules
    try:
        lon, lat = to_wgs84(query.lon, query.lat, query.crs)
    except OutsideChina as exc:
        raise ApiError(422, "outside_china", str(exc), {"lon": "outside China", "lat": "outside China"}) from None
    with _deps().engine.connect() as conn:
        items = queries.nearby_tickets(conn, scope_of(current_user()), lon, lat, query.radius_m,
                                       category=query.category, limit=query.limit)
    return jsonify({"items": items})


# --- the gazetteer -------------------------------------------------------------------------------------------

@bp.get("/places")
@documented(tags=["lookup"], roles=STAFF_ROLES, query=m.PlacesQuery,
            responses={200: m.JsonList, 400: Error, 401: Error, 403: Error, 503: Error})
def places():
    """Gazetteer places whose name matches the typed text, best first, with the areas they lie in."""
    query: m.PlacesQuery = g.query
    with _deps().engine.connect() as conn:
        return jsonify(lookup.places(conn, query.q, query.limit, _today()))


# --- units ---------------------------------------------------------------------------------------------------

@bp.get("/units")
@documented(tags=["lookup"], roles=STAFF_ROLES, responses={200: m.JsonList, 401: Error, 403: Error, 503: Error})
def units():
    """Every unit with its level, kind, parent and district."""
    with _deps().engine.connect() as conn:
        return jsonify(lookup.units(conn, _today()))


@bp.get("/tickets/<ticket_no>/units")
@documented(tags=["lookup"], roles=CITY_WIDE_ROLES, query=m.TicketUnitsQuery,
            responses={200: m.JsonList, 400: Error, 401: Error, 403: Error, 404: Error, 503: Error})
def ticket_units(ticket_no: str):
    """Units ranked for dispatching this ticket: the duty matrix's answer for its category and area, then the
    units of its district, then the rest; `q` keeps those whose name or code contains it."""
    query: m.TicketUnitsQuery = g.query
    q, limit = query.q or None, query.limit
    with _deps().engine.connect() as conn:
        row = conn.execute(text("SELECT category, area, ST_X(location) AS lon, ST_Y(location) AS lat FROM tickets "
                                "WHERE ticket_no = :no"), {"no": ticket_no}).first()
        if row is None:
            raise ApiError(404, "not_found", f"no ticket {ticket_no}")
        codes = {level: (ref or {}).get("code") for level, ref in (row.area or {}).items()}
        duty = None
        if codes.get("district"):  # as routing does: the matrix speaks of places within a district
            duties = current_app.extensions["yunguan_routing"]().duties
            duty = duties.decide(row.category, codes, row.lon, row.lat, None if row.lon is not None else [])
        return jsonify(lookup.unit_suggestions(
            conn, duty_unit=duty.unit.code if duty else None, duty_rule=duty.rule if duty else None,
            district=codes.get("district"), q=q, limit=limit, on=_today()))
