"""定位: an operator places a ticket on the map (an address-only report, or a point that was wrong). The point is
converted to WGS-84 and routed as intake routes a report (area, unit, rule, method); the ticket keeps its
status, takes the new location, areas and routing, and a pending ticket shows the routed unit as the
suggestion (the console dispatches)."""
from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from application.routing import RoutingContext, decide_route, explanation
from dispatch.actors import Actor
from dispatch.lifecycle import Command, Position, TicketState, apply
from gis.crs import Crs, OutsideChina, to_wgs84
from store.loop import LoopContext, load, save
from store.tickets import point_of, relocate


def place(ctx: RoutingContext, lon: float, lat: float, crs: Crs | str, category: str | None,
          previous: tuple[float, float] | None) -> tuple[Position, dict | None]:
    """The domain's Position of a point and the routing decision behind it; a point outside China (or
    outside every district) becomes a Position without a district, which the domain refuses (422 naming
    `location`) after it has checked scope, version and role like for any action."""
    try:
        lon, lat = to_wgs84(lon, lat, crs)
    except OutsideChina:
        return Position(lon, lat, previous=previous), None
    decision = decide_route(ctx, lon, lat, category)
    area = decision["area"]
    code = {level: (ref or {}).get("code") for level, ref in area.items()}
    return Position(
        lon, lat, district=code.get("district"), grid=code.get("grid"),
        assignee=(decision["assignee"] or {}).get("code"), rule=decision["rule"], method=decision["method"],
        near_border=bool(decision["near_border"]), previous=previous,
    ), decision


def locate(engine: Engine, ticket_no: str, command: Command, point: tuple[float, float, str] | None, actor: Actor,
           now: datetime, loop: LoopContext, routing: RoutingContext) -> TicketState | None:
    """Place ticket `ticket_no` at `point` (lon, lat, crs); None when there is no such ticket. Raises
    DispatchError (scope, version, role, a closed ticket, no point or one outside the city: `location`)."""
    with engine.begin() as conn:
        return locate_in(conn, ticket_no, command, point, actor, now, loop, routing)


def locate_in(conn: Connection, ticket_no: str, command: Command, point: tuple[float, float, str] | None,
              actor: Actor, now: datetime, loop: LoopContext, routing: RoutingContext) -> TicketState | None:
    """`locate` in the caller's transaction; a refusal (DispatchError) is raised before anything is written."""
    loaded = load(conn, ticket_no)
    if loaded is None:
        return None
    position, decision = (None, None) if point is None else place(
        routing, *point, loaded.state.category, point_of(conn, loaded.id))
    outcome = apply(loaded.state, dataclasses.replace(command, position=position), actor, now)
    assert position is not None and decision is not None  # the domain refuses a point it could not place
    # Position first, in the same transaction: `save` builds the event from the row, so its rooms are
    # the new cell's; a stale version rolls both back.
    relocate(conn, loaded.id, position.lon, position.lat, decision["area"], explanation(decision))
    save(conn, loaded, outcome, loop, now, suggested=position.assignee)  # shown while no unit holds it
    return outcome.ticket
