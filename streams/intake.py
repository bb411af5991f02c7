"""Turn validated reports into tickets in one transaction: place them, decide their opening, write."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from dispatch import snapshot
from dispatch.actors import Actor
from dispatch.audit import entry_hash
from dispatch.intake import decide, is_alarm
from dispatch.lifecycle import Command, Priority, apply, opened
from dispatch.merge import Candidate, MergeRule, merge_target
from dispatch.model import Status, Unit
from dispatch.numbers import ticket_number
from dispatch.taxonomy import Taxonomy
from gis.crs import to_wgs84
from gis.duties import Duties
from gis.geocode import GeocodeDecision, choose
from gis.router import Placement, Router
from store.duties import geocode
from store.intake_log import refused_among
from store.loop import LoopContext, publish_events, save
from store.loop import load as load_ticket
from store.tickets import (
    NewReport,
    NewTicket,
    OpenTicket,
    TicketToWrite,
    allocate_sequence,
    insert_reports,
    insert_tickets,
    lock_open,
    merge_candidates,
    seen_reports,
)
from streams.envelope import ReportEnvelope, validate_envelope


@dataclass(frozen=True)
class Received:
    envelope: ReportEnvelope
    topic: str
    partition: int
    offset: int
    via_http: bool = False  # HTTP intake published it: it may have been answered 503 (intake_log.refused_at)


@dataclass(frozen=True)
class RoutingContext:
    """What the worker holds in memory to route without touching the database."""

    router: Router
    district_units: dict[str, Unit]
    duties: Duties | None = None
    border_flag_m: float = 30.0
    place_names: tuple[str, ...] | None = None  # the gazetteer's names (None: geocoding reads them itself)


def _area_json(placement: Placement) -> dict:
    return {level: ({"code": ref.code, "name": ref.name} if ref else None) for level, ref in placement.areas.items()}


def decide_route(ctx: RoutingContext, lon: float, lat: float, category: str | None = None) -> dict:
    """The routing decision of the contract: areas per level, the unit, the rule and the method, and why:
    the polygons hit, the distance to the district border (flagged when close), the special zone."""
    return decision_for(ctx, ctx.router.place(lon, lat), lon, lat, category)


def decide_routes(ctx: RoutingContext, rows: list[tuple[float, float, str | None]]) -> list[dict]:
    """`decide_route` for many points at once (bulk routing): the placements are computed as one batch."""
    points = [(lon, lat) for lon, lat, _ in rows]
    placements = ctx.router.place_many(points)
    zones = ctx.duties.zones_many(points) if ctx.duties is not None else [None] * len(rows)
    return [decision_for(ctx, p, lon, lat, category, z)
            for p, (lon, lat, category), z in zip(placements, rows, zones, strict=True)]


def decision_for(ctx: RoutingContext, placement: Placement, lon: float, lat: float, category: str | None,
                 zones: list | None = None) -> dict:
    """`zones`: the special zones at the point when the caller looked them up for a batch (None: look up)."""
    assignee = None
    rule = None
    zone = None
    district = placement.district
    if district is not None and placement.method != "manual":
        if ctx.duties is not None:
            codes = {level: (ref.code if ref else None) for level, ref in placement.areas.items()}
            duty = ctx.duties.decide(category, codes, lon, lat, zones)
            if duty is not None:
                assignee = Unit(duty.unit.code, duty.unit.name, duty.unit.level)
                rule = duty.rule
                zone = {"code": duty.zone.code, "name": duty.zone.name, "kind": duty.zone.kind} if duty.zone else None
        else:
            assignee = ctx.district_units.get(district.code)
            rule = "district-default" if assignee else None
    near_border = placement.border_m is not None and placement.border_m < ctx.border_flag_m
    return {
        "area": _area_json(placement),
        "assignee": {"code": assignee.code, "name": assignee.name, "level": assignee.level} if assignee else None,
        "rule": rule,
        "method": placement.method,
        "location": {"lon": lon, "lat": lat},
        "hits": list(placement.hits),
        "distance_m": placement.distance_m,
        "border_m": round(placement.border_m, 1) if placement.border_m is not None else None,
        "near_border": near_border,
        "zone": zone,
    }


_NOWHERE = {"area": {lv: None for lv in ("district", "street", "community", "grid")}, "assignee": None,
            "rule": None, "method": "manual", "location": None, "hits": [], "distance_m": None, "border_m": None,
            "near_border": False, "zone": None}


def prepare_ticket(envelope: ReportEnvelope, ctx: RoutingContext, geocoded: GeocodeDecision | None = None,
                   routed: dict | None = None) -> NewTicket:
    """Route from the location, or from a confident gazetteer match of the address (hotline reports);
    an address that does not place the report leaves it for an operator with the candidates. `routed`: the
    decision for the location when the caller already made it for a whole batch."""
    lon = lat = None
    decision = _NOWHERE
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



def ingest(
    conn: Connection, received: list[Received], ctx: RoutingContext, *, now: datetime, timezone: str,
    ticket_prefix: str, events_topic: str, loop: LoopContext | None = None,
    allocate: Callable[[date, int], int] | None = None,
) -> list[str]:
    """Write the reports and one ticket per report not seen before; return the new ticket numbers.
    Redelivered reports make nothing: those already committed are skipped up front, and the unique
    (channel, report_id) catches one that another worker writes at the same moment (after a rebalance), in
    which case this transaction is abandoned and the batch replayed. Reports are written last, each already
    pointing at its ticket: linking them afterwards rewrote every report row a second time.
    `allocate(day, count)` reserves ticket numbers (default: in this transaction)."""
    seen = seen_reports(conn, [(r.envelope.channel, r.envelope.report_id) for r in received])
    fresh = []
    taken: set[tuple[str, str]] = set()
    for r in received:  # the same report twice in one batch: only its first copy counts
        key = (r.envelope.channel, r.envelope.report_id)
        if key not in seen and key not in taken:
            taken.add(key)
            fresh.append(r)
    refused = refused_among(conn, [(r.envelope.channel, r.envelope.report_id) for r in fresh if r.via_http])
    if refused:  # answered 503 over HTTP: the caller was told nothing was accepted
        fresh = [r for r in fresh if (r.envelope.channel, r.envelope.report_id) not in refused]
        taken -= refused
    if not fresh:
        return []
    lookups = [(i, r.envelope.address) for i, r in enumerate(fresh)
               if r.envelope.location is None and r.envelope.address]
    found = geocode(conn, lookups, ctx.place_names) if lookups else {}
    located = [i for i, r in enumerate(fresh) if r.envelope.location is not None]
    points = [(*to_wgs84(fresh[i].envelope.location.lon, fresh[i].envelope.location.lat,
                         fresh[i].envelope.location.crs), fresh[i].envelope.category) for i in located]
    routed = dict(zip(located, decide_routes(ctx, points), strict=True))  # one vectorized placement per batch
    prepared = [prepare_ticket(r.envelope, ctx, choose(found.get(i, [])) if r.envelope.location is None
                               and r.envelope.address else None, routed.get(i)) for i, r in enumerate(fresh)]
    plan = plan_merges(conn, fresh, prepared, loop.taxonomy if loop else None)
    day = now.astimezone(ZoneInfo(timezone)).date()
    opening = [i for i, target in enumerate(plan) if target is None]
    reserve = allocate or (lambda d, n: allocate_sequence(conn, d, n))
    first = reserve(day, len(opening)) if opening else 0
    numbers = {i: ticket_number(ticket_prefix, day, first + n) for n, i in enumerate(opening)}
    batch = []
    memo: dict = {}
    for i in opening:
        ticket = prepared[i]
        if loop is not None:
            ticket = with_loop(numbers[i], ticket, loop, now, memo)
        batch.append(TicketToWrite(numbers[i], ticket, ()))
    ids = insert_tickets(conn, batch, now, events_topic)
    ticket_of = [ids[numbers[i]] if into is None else
                 (into.existing.id if into.existing is not None else ids[numbers[into.batch_index]])
                 for i, into in enumerate(plan)]
    written = insert_reports(conn, [
        NewReport(channel=r.envelope.channel, report_id=r.envelope.report_id, reported_at=r.envelope.reported_at,
                  category=r.envelope.category, envelope=r.envelope.to_json_dict(), topic=r.topic,
                  partition=r.partition, offset=r.offset, ticket_id=ticket_of[i])
        for i, r in enumerate(fresh)])
    if len(written) != len(fresh):
        missing = next(k for k in taken if k not in written)
        raise ConcurrentIntake(f"report {missing[0]}/{missing[1]} was written by another worker meanwhile; "
                               "replaying the batch")
    merged = [(i, target) for i, target in enumerate(plan) if target is not None]
    if merged:
        # Locked last, so the tickets other workers also merge into are held only for the merge and commit.
        targets = {into.existing.id: into.existing.ticket_no for _, into in merged if into.existing is not None}
        still_open = lock_open(conn, list(targets))
        if len(still_open) != len(targets):
            gone = next(no for tid, no in targets.items() if tid not in still_open)
            raise ConcurrentIntake(f"ticket {gone} was closed while reports were being merged into it; "
                                   "replaying the batch")
        write_merges(conn, merged, fresh, ticket_of, now, events_topic)
    return [w.ticket_no for w in batch]


class ConcurrentIntake(RuntimeError):
    """Something the batch relied on changed under it: another worker wrote one of its reports (a rebalance
    handed the partition over mid-batch), or a ticket it merges into was closed meanwhile. A transient
    failure: the transaction is abandoned and the batch replayed, which then sees the change."""


@dataclass(frozen=True)
class MergeInto:
    """Where a report goes instead of a new ticket: an open ticket in the database, or one this batch opens."""

    distance_m: float
    reason: str
    existing: OpenTicket | None = None
    batch_index: int | None = None


def plan_merges(conn: Connection, fresh: list[Received], prepared: list[NewTicket],
                taxonomy: Taxonomy | None) -> list[MergeInto | None]:
    """For each fresh report, the ticket it merges into (None: it opens one). Reports of one batch merge into
    each other too, in order: the first about a burst pipe opens the ticket, the next ones attach."""
    rules = [MergeRule.of(taxonomy.get(t.category) if taxonomy else None) for t in prepared]
    probes = [{"idx": i, "category": t.category, "lon": t.lon, "lat": t.lat, "dist": rules[i].distance_m}
              for i, t in enumerate(prepared) if t.category and t.lon is not None]
    near = merge_candidates(conn, probes)
    plan: list[MergeInto | None] = []
    opened_here: dict[str, list[Candidate]] = {}  # by category: only the same 小类 can merge
    for i, (r, t) in enumerate(zip(fresh, prepared, strict=True)):
        existing = {c.ticket_no: c for c in near.get(i, [])}
        candidates = [Candidate(c.ticket_no, c.category, Status(c.status), c.lon, c.lat,
                                c.last_reported_at or r.envelope.reported_at) for c in existing.values()]
        if t.category and t.lon is not None:
            candidates += _nearby(opened_here.get(t.category, ()), t.lon, t.lat, rules[i].distance_m)
        decision = merge_target(t.category, t.lon, t.lat, r.envelope.reported_at, candidates, rules[i])
        if decision.ticket_no is None:
            plan.append(None)
            if t.category and t.lon is not None:
                opened_here.setdefault(t.category, []).append(Candidate(
                    f"batch:{i}", t.category, t.status, t.lon, t.lat, r.envelope.reported_at))
        elif decision.ticket_no in existing:
            plan.append(MergeInto(decision.distance_m or 0.0, decision.reason, existing=existing[decision.ticket_no]))
        else:
            plan.append(MergeInto(decision.distance_m or 0.0, decision.reason,
                                  batch_index=int(decision.ticket_no.removeprefix("batch:"))))
    return plan


def _nearby(candidates, lon: float, lat: float, distance_m: float) -> list[Candidate]:
    """The candidates inside a box that surely holds the merge circle (a degree of latitude is over 110.5 km,
    one of longitude over 110.5 km × cos(latitude)): the exact geodesic test then runs on a handful, not on
    every ticket the batch opened. Same idea as the bounding box the database's GiST index answers."""
    dlat = distance_m / 110_000.0
    dlon = distance_m / (110_000.0 * max(math.cos(math.radians(abs(lat) + dlat)), 0.01))
    return [c for c in candidates if abs(c.lat - lat) <= dlat and abs(c.lon - lon) <= dlon]


def write_merges(conn: Connection, merged: list[tuple[int, MergeInto]], fresh: list[Received],
                 ticket_of: list[int], now: datetime, events_topic: str) -> None:
    """Attach merged reports (written already, pointing at their ticket): the report count, one history entry
    per report (hash-chained) and one `merged` event per ticket at a new version, so consoles update.
    Set-based like new tickets."""
    by_ticket: dict[int, list[tuple[int, MergeInto]]] = {}
    for i, into in merged:
        by_ticket.setdefault(ticket_of[i], []).append((i, into))
    current = {row.id: row for row in conn.execute(  # merge targets are locked (lock_open) since the plan
        text("SELECT id, ticket_no, status, history_head FROM tickets WHERE id = ANY(:ids)"),
        {"ids": list(by_ticket)})}
    history, counts = [], []
    for tid, items in by_ticket.items():
        row = current[tid]
        head = row.history_head
        for i, into in items:
            e = fresh[i].envelope
            data = {"channel": e.channel, "report_id": e.report_id, "distance_m": round(into.distance_m, 1)}
            digest = entry_hash(head, row.ticket_no, now, "system", "system", "system", "merge", row.status,
                                row.status, into.reason, data)
            history.append({"seq": len(history), "ticket_id": tid, "at": now.isoformat(), "actor": "system",
                            "role": "system", "party": "system", "action": "merge", "from_status": row.status,
                            "to_status": row.status, "note": into.reason, "data": data, "prev_hash": head,
                            "hash": digest})
            head = digest
        counts.append({"id": tid, "n": len(items), "head": head})
    conn.execute(_MERGE_HISTORY, {"rows": history})
    conn.execute(_MERGE_TICKETS, {"rows": counts, "now": now})
    publish_events(conn, list(by_ticket), "merged", now, "system", events_topic)


_MERGE_HISTORY = text(
    "INSERT INTO ticket_history (ticket_id, at, actor, role, party, action, from_status, to_status, note, data, "
    "prev_hash, hash) SELECT h.ticket_id, h.at, h.actor, h.role, h.party, h.action, h.from_status, h.to_status, "
    "h.note, h.data, h.prev_hash, h.hash FROM jsonb_to_recordset(:rows) AS h(seq int, ticket_id bigint, "
    "at timestamptz, actor text, role text, party text, action text, from_status text, to_status text, note text, "
    "data jsonb, prev_hash text, hash text) ORDER BY h.seq"
).bindparams(bindparam("rows", type_=JSONB))

_MERGE_TICKETS = text(
    "UPDATE tickets SET report_count = report_count + m.n, version = version + 1, history_head = m.head, "
    "updated_at = :now FROM jsonb_to_recordset(:rows) AS m(id bigint, n int, head text) WHERE tickets.id = m.id"
).bindparams(bindparam("rows", type_=JSONB))


class SplitRefused(ValueError):
    """The report named for a split is not one of this ticket's, or is its only report."""


def split_out(conn: Connection, ticket_no: str, report: tuple[str, str], command: Command, actor: Actor,
              ctx: RoutingContext, loop: LoopContext, *, now: datetime, timezone: str, ticket_prefix: str) -> str:
    """拆分: an operator takes a wrongly merged report out of a ticket into a ticket of its own, routed and
    opened as if it had just arrived. Both tickets get a history entry and an event; returns the new number."""
    loaded = load_ticket(conn, ticket_no)
    if loaded is None:
        raise LookupError(ticket_no)
    rows = conn.execute(text("SELECT id, channel, report_id, envelope FROM reports WHERE ticket_id = :t ORDER BY id"),
                        {"t": loaded.id}).all()
    chosen = next((r for r in rows if (r.channel, r.report_id) == report), None)
    if chosen is None:
        raise SplitRefused(f"report {report[0]}/{report[1]} is not merged into ticket {ticket_no}")
    if len(rows) < 2:
        raise SplitRefused(f"report {report[0]}/{report[1]} is the ticket's only report; nothing to split")
    outcome = apply(loaded.state, command, actor, now)
    conn.execute(text("UPDATE tickets SET report_count = report_count - 1 WHERE id = :t"), {"t": loaded.id})
    outcome = replace(outcome, record=replace(outcome.record, data={
        **dict(outcome.record.data), "channel": chosen.channel, "report_id": chosen.report_id}))
    save(conn, loaded, outcome, loop, now)
    day = now.astimezone(ZoneInfo(timezone)).date()
    new_no = ticket_number(ticket_prefix, day, allocate_sequence(conn, day, 1))
    ticket = with_loop(new_no, prepare_ticket(validate_envelope(chosen.envelope), ctx), loop, now)
    insert_tickets(conn, [TicketToWrite(new_no, ticket, (chosen.id,))], now, loop.events_topic)
    return new_no
