"""A ticket's opening from one report: routed from its location (or a confident gazetteer match of its address)
(`prepare_ticket`), then opened by the domain (`open_prepared`: the intake rules — category set aside,
urgency, auto-dispatch — and `dispatch.lifecycle.open_ticket`) with its first clocks."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from application.envelope import ReportEnvelope
from application.routing import NOWHERE, RoutingContext, decide_route, explanation
from dispatch import snapshot
from dispatch.deadlines import Due, moved
from dispatch.intake import decide, is_alarm
from dispatch.lifecycle import Priority, open_ticket
from dispatch.model import Unit
from gis.crs import to_wgs84
from gis.geocode import GeocodeDecision
from store.loop import LoopContext
from store.tickets import NewTicket


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
        routing=explanation(decision),
        priority=decided.priority,
        channel=envelope.channel,
    )


def open_prepared(ticket_no: str, ticket: NewTicket, loop: LoopContext | None, now: datetime,
                  memo: dict | None = None) -> NewTicket:
    """The ticket's opening as the domain decides it (`dispatch.intake.decide`, then
    `dispatch.lifecycle.open_ticket`): its status, its first state (clocks started at once when auto-dispatched)
    and the records of its opening history, plus its first deadline. The rules that need the taxonomy apply
    when `loop` is given: a category that is not one of its 小类 is set aside (the ticket opens `pending`
    without it, the history says why; the report keeps it), and an urgent category makes the ticket urgent,
    its clocks counting in natural time. Without `loop` (no taxonomy loaded) no state or deadline is stored.
    Tickets opened together share `now`, so their decision and deadlines depend only on category, route,
    status and priority: `memo` computes each once per batch (working-time arithmetic is the costly part)."""
    # prepare_ticket decided without the taxonomy, so the ticket is urgent only if it is a sensor alarm
    method = (ticket.routing or {}).get("method", "manual")
    alarm = ticket.priority is Priority.URGENT
    unit = (ticket.assignee.code, ticket.assignee.name, ticket.assignee.level) if ticket.assignee else None
    rule_key = ("decide", ticket.category, method, unit, alarm)  # `decide` is pure: once per kind per batch
    decided = memo.get(rule_key) if memo is not None else None
    if decided is None:
        decided = decide(loop.taxonomy if loop else None, ticket.category, method, ticket.assignee, alarm=alarm)
        if memo is not None:
            memo[rule_key] = decided
    grid = (ticket.area.get("grid") or {}).get("code")
    opened = open_ticket(ticket_no, decided.opening, now, category=decided.category, grid=grid,
                         assignee=ticket.assignee.code if ticket.assignee else None, priority=decided.priority,
                         border_check=bool((ticket.routing or {}).get("near_border")))
    state = opened.ticket
    ticket = replace(ticket, category=state.category, status=state.status, priority=state.priority,
                     records=opened.records, grid_code=grid)
    if loop is None:
        return ticket
    key = (state.category, state.status, state.priority)
    found = memo.get(key) if memo is not None else None
    if found is None:
        found = (loop.clocks(state, now), loop.due(state))
        if memo is not None:
            memo[key] = found
    clocks, due = found
    records = opened.records
    if records and (deadline := moved(Due(), due)):  # the dispatch sets the first deadlines (contract §8)
        # shared by the batch's tickets opened alike, like the records themselves (store.tickets converts
        # each shared record to a row once)
        shared_key = ("records", decided.opening, key)
        shared = memo.get(shared_key) if memo is not None else None
        if shared is None:
            shared = (*records[:-1], replace(records[-1], data={**records[-1].data, **deadline}))
            if memo is not None:
                memo[shared_key] = shared
        records = shared
    return replace(ticket, loop=snapshot.dump(state), deadline=clocks.deadline, records=records,
                   deadline_state=str(clocks.light) if clocks.light else None, facts=loop.facts(state, due))
