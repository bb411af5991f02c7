"""Turn validated reports into tickets in one transaction: place them, decide their opening, write."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from dispatch import snapshot
from dispatch.intake import open_ticket
from dispatch.lifecycle import opened
from dispatch.model import Unit
from dispatch.numbers import ticket_number
from gis.crs import to_wgs84
from gis.router import Placement, Router
from store.loop import LoopContext
from store.tickets import NewReport, NewTicket, TicketToWrite, allocate_sequence, insert_reports, insert_tickets
from streams.envelope import ReportEnvelope


@dataclass(frozen=True)
class Received:
    envelope: ReportEnvelope
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class RoutingContext:
    """What the worker holds in memory to route without touching the database."""

    router: Router
    district_units: dict[str, Unit]


def _area_json(placement: Placement) -> dict:
    return {level: ({"code": ref.code, "name": ref.name} if ref else None) for level, ref in placement.areas.items()}


def decide_route(ctx: RoutingContext, lon: float, lat: float) -> dict:
    """The routing decision of the contract: areas per level, the unit, the rule and the method."""
    placement = ctx.router.place(lon, lat)
    assignee = None
    rule = None
    district = placement.district
    if district is not None and placement.method != "manual":
        assignee = ctx.district_units.get(district.code)
        rule = "district-default" if assignee else None
    return {
        "area": _area_json(placement),
        "assignee": {"code": assignee.code, "name": assignee.name, "level": assignee.level} if assignee else None,
        "rule": rule,
        "method": placement.method,
        "location": {"lon": lon, "lat": lat},
        "hits": list(placement.hits),
        "distance_m": placement.distance_m,
    }


_NOWHERE = {"area": {lv: None for lv in ("district", "street", "community", "grid")}, "assignee": None,
            "rule": None, "method": "manual", "location": None, "hits": [], "distance_m": None}


def prepare_ticket(envelope: ReportEnvelope, ctx: RoutingContext) -> NewTicket:
    lon = lat = None
    decision = _NOWHERE
    if envelope.location is not None:
        lon, lat = to_wgs84(envelope.location.lon, envelope.location.lat, envelope.location.crs)
        decision = decide_route(ctx, lon, lat)
    a = decision["assignee"]
    assignee = Unit(a["code"], a["name"], a["level"]) if a else None
    opening = open_ticket(envelope.category, decision["method"], assignee)
    return NewTicket(
        status=opening.status,
        category=envelope.category,
        description=envelope.description,
        address=envelope.address,
        lon=lon,
        lat=lat,
        area=decision["area"],
        assignee=assignee,
        routing={k: decision[k] for k in ("method", "rule", "hits", "distance_m")},
        history=opening.history,
    )


def with_loop(ticket_no: str, ticket: NewTicket, loop: LoopContext, now: datetime) -> NewTicket:
    """The opening loop state (clocks started at once when auto-dispatched) and its first deadline."""
    grid = (ticket.area.get("grid") or {}).get("code")
    state = opened(ticket_no, ticket.status, now, category=ticket.category, grid=grid,
                   assignee=ticket.assignee.code if ticket.assignee else None)
    clocks = loop.clocks(state, now)
    return replace(ticket, loop=snapshot.dump(state), grid_code=grid, deadline=clocks.deadline,
                   deadline_state=str(clocks.light) if clocks.light else None)


def ingest(
    conn: Connection, received: list[Received], ctx: RoutingContext, *, now: datetime, timezone: str,
    ticket_prefix: str, events_topic: str, loop: LoopContext | None = None,
) -> list[str]:
    """Write the reports and one ticket per report not seen before; return the new ticket numbers.
    Redelivered reports hit the unique (channel, report_id) and make nothing."""
    reports = [
        NewReport(
            channel=r.envelope.channel, report_id=r.envelope.report_id, reported_at=r.envelope.reported_at,
            category=r.envelope.category, envelope=r.envelope.to_json_dict(), topic=r.topic,
            partition=r.partition, offset=r.offset,
        )
        for r in received
    ]
    new_ids = insert_reports(conn, reports)
    fresh = []
    taken: set[tuple[str, str]] = set()
    for r in received:  # the same report twice in one batch: only its first copy counts
        key = (r.envelope.channel, r.envelope.report_id)
        if key in new_ids and key not in taken:
            taken.add(key)
            fresh.append(r)
    if not fresh:
        return []
    day = now.astimezone(ZoneInfo(timezone)).date()
    first = allocate_sequence(conn, day, len(fresh))
    batch = []
    for i, r in enumerate(fresh):
        ticket_no = ticket_number(ticket_prefix, day, first + i)
        ticket = prepare_ticket(r.envelope, ctx)
        if loop is not None:
            ticket = with_loop(ticket_no, ticket, loop, now)
        batch.append(TicketToWrite(ticket_no, ticket, (new_ids[(r.envelope.channel, r.envelope.report_id)],)))
    insert_tickets(conn, batch, now, events_topic)
    return [w.ticket_no for w in batch]
