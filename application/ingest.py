"""Turn validated reports into tickets in one transaction: place them, decide their opening, write."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from application.envelope import ReportEnvelope
from application.opening import open_prepared, prepare_ticket
from application.routing import RoutingContext, decide_routes
from dispatch.lifecycle import merge
from dispatch.merge import Candidate, MergeRule, merge_target
from dispatch.model import Status
from dispatch.numbers import ticket_number
from dispatch.taxonomy import Taxonomy
from gis.crs import to_wgs84
from gis.geocode import choose
from store.duties import geocode
from store.events import publish_events
from store.intake_log import refused_among
from store.loop import LoopContext
from store.tickets import (
    NewReport,
    NewTicket,
    OpenTicket,
    TicketToWrite,
    allocate_sequence,
    append_merges,
    heads,
    insert_reports,
    insert_tickets,
    lock_open,
    merge_candidates,
    seen_reports,
)


@dataclass(frozen=True)
class Received:
    envelope: ReportEnvelope
    topic: str
    partition: int
    offset: int
    via_http: bool = False  # HTTP intake published it: it may have been answered 503 (intake_log.refused_at)


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
        batch.append(TicketToWrite(numbers[i], open_prepared(numbers[i], prepared[i], loop, now, memo), ()))
    ids = insert_tickets(conn, batch, now, events_topic)
    ticket_of = [ids[numbers[i]] if into is None else
                 (into.existing.id if into.existing is not None else ids[numbers[into.batch_index]])
                 for i, into in enumerate(plan)]
    written = insert_reports(conn, [
        NewReport(channel=r.envelope.channel, report_id=r.envelope.report_id, reported_at=r.envelope.reported_at,
                  category=r.envelope.category, envelope=r.envelope.to_json_dict(), topic=r.topic,
                  partition=r.partition, offset=r.offset, ticket_id=ticket_of[i], received_at=now)
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
    """Attach merged reports (written already, pointing at their ticket): one domain record per report
    (`dispatch.lifecycle.merge`), chained and appended with each ticket's report count and new version, and
    one `merged` event per ticket, so consoles update. Set-based like new tickets."""
    by_ticket: dict[int, list[tuple[int, MergeInto]]] = {}
    for i, into in merged:
        by_ticket.setdefault(ticket_of[i], []).append((i, into))
    current = heads(conn, list(by_ticket))  # merge targets are locked (lock_open) since the plan
    records = {tid: [merge(Status(current[tid].status), now, channel=fresh[i].envelope.channel,
                           report_id=fresh[i].envelope.report_id, distance_m=into.distance_m, reason=into.reason)
                     for i, into in items] for tid, items in by_ticket.items()}
    append_merges(conn, records, current, now)
    publish_events(conn, list(by_ticket), "merged", now, "system", events_topic)
