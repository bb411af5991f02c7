"""A ticket's opening from one report: routed from its location (or a confident gazetteer match of its address),
then the intake rules of the domain (category set aside, urgency, auto-dispatch) and its first clocks."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from application.envelope import ReportEnvelope
from application.routing import NOWHERE, RoutingContext, decide_route
from dispatch import snapshot
from dispatch.intake import decide, is_alarm
from dispatch.lifecycle import Priority, opened
from dispatch.model import Unit
from gis.crs import to_wgs84
from gis.geocode import GeocodeDecision
from store.loop import LoopContext
from store.tickets import (
    NewTicket,
)


def prepare_ticket(envelope: ReportEnvelope, ctx: RoutingContext, geocoded: GeocodeDecision | None = None,
                   routed: dict | None = None) -> NewTicket:
    """Route from the location, or from a confident gazetteer match of the address (hotline reports);
    an address that does not place the report leaves it for an operator with the candidates. `routed`: the
    decision for the location when the caller already made it for a whole batch."""
    lon = lat = None
    decision = NOWHERE
    if envelope.location is not None:
        lon, lat = to_wgs84(envelope.location.lon, envelope.location.lat, envelope.location.crs)
        decision = routed if routed is not None else decide_route(ctx, lon, lat, envelope.category)
    elif geocoded is not None:
        if geocoded.place is not None:
            lon, lat = geocoded.place["lon"], geocoded.place["lat"]
            decision = decide_route(ctx, lon, lat, envelope.category)
        decision = {**decision, "geocode": geocoded.explain(envelope.address or "")}
    a = decision["assignee"]
    assignee = Unit(a["code"], a["name"], a["level"]) if a else None
    decided = decide(None, envelope.category, decision["method"], assignee, is_alarm(envelope))
    return NewTicket(
        status=decided.opening.status,
        category=decided.category,
        description=envelope.description,
        address=envelope.address,
        lon=lon,
        lat=lat,
        area=decision["area"],
        assignee=assignee,
        routing={k: decision.get(k) for k in ("method", "rule", "hits", "distance_m", "border_m", "near_border",
                                              "zone", "geocode") if k in decision},
        history=decided.opening.history,
        priority=decided.priority,
    )


def with_loop(ticket_no: str, ticket: NewTicket, loop: LoopContext, now: datetime,
              memo: dict | None = None) -> NewTicket:
    """The opening loop state (clocks started at once when auto-dispatched) and its first deadline, with the
    rules that need the taxonomy: a category that is not one of its 小类 is set aside (the ticket opens
    `pending` without it, the history says why; the report keeps it), and an urgent category makes the
    ticket urgent, its clocks counting in natural time. Tickets opened together share `now`, so their
    deadlines depend only on category, status and priority: `memo` computes each once per batch
    (working-time arithmetic is the costly part)."""
    # prepare_ticket decided without the taxonomy, so the ticket is urgent only if it is a sensor alarm
    method = (ticket.routing or {}).get("method", "manual")
    alarm = ticket.priority is Priority.URGENT
    unit = (ticket.assignee.code, ticket.assignee.name, ticket.assignee.level) if ticket.assignee else None
    rule_key = ("decide", ticket.category, method, unit, alarm)  # `decide` is pure: once per kind per batch
    decided = memo.get(rule_key) if memo is not None else None
    if decided is None:
        decided = decide(loop.taxonomy, ticket.category, method, ticket.assignee, alarm=alarm)
        if memo is not None:
            memo[rule_key] = decided
    ticket = replace(ticket, category=decided.category, status=decided.opening.status,
                     history=decided.opening.history, priority=decided.priority)
    grid = (ticket.area.get("grid") or {}).get("code")
    state = opened(ticket_no, ticket.status, now, category=ticket.category, grid=grid,
                   assignee=ticket.assignee.code if ticket.assignee else None, priority=ticket.priority,
                   border_check=bool((ticket.routing or {}).get("near_border")))
    key = (ticket.category, ticket.status, ticket.priority)
    clocks = memo.get(key) if memo is not None else None
    if clocks is None:
        clocks = loop.clocks(state, now)
        if memo is not None:
            memo[key] = clocks
    return replace(ticket, loop=snapshot.dump(state), grid_code=grid, deadline=clocks.deadline,
                   deadline_state=str(clocks.light) if clocks.light else None)



