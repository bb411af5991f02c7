"""Writing tickets: reports (idempotent on channel + report_id), tickets, history, outbox events."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Engine

from dispatch.kpi import Facts
from dispatch.lifecycle import Priority, Record
from dispatch.model import Status, Unit
from store import history, kpi
from store.events import publish_events


@dataclass(frozen=True)
class NewReport:
    channel: str
    report_id: str
    reported_at: datetime
    category: str | None
    envelope: dict
    topic: str
    partition: int
    offset: int
    ticket_id: int | None = None
    received_at: datetime | None = None  # when the worker took it (None: the database's now())


@dataclass(frozen=True)
class NewTicket:
    status: Status
    category: str | None
    description: str | None
    address: str | None
    lon: float | None
    lat: float | None
    area: dict[str, dict | None]
    assignee: Unit | None
    routing: dict[str, Any]
    records: tuple[Record, ...] = ()  # the opening's history (dispatch.lifecycle.open_ticket)
    loop: dict | None = None  # dispatch.snapshot of the opening state
    grid_code: str | None = None
    deadline: datetime | None = None
    deadline_state: str | None = None
    priority: Priority = Priority.NORMAL  # urgent: a sensor alarm, or (once the taxonomy is known) its category
    channel: str | None = None  # of the report that opens it
    facts: Facts | None = None  # the evaluation's facts of its opening state (dispatch.kpi), written with it


_INSERT_REPORTS = text(
    "INSERT INTO reports (channel, report_id, reported_at, category, envelope, source_topic, source_partition, "
    "source_offset, ticket_id, received_at) SELECT r.channel, r.report_id, r.reported_at, r.category, r.envelope, "
    "r.topic, r.partition, r.offset, r.ticket_id, coalesce(r.received_at, now()) FROM jsonb_to_recordset(:rows) "
    "AS r(seq int, channel text, report_id text, reported_at timestamptz, category text, envelope jsonb, topic text, "
    "\"partition\" int, \"offset\" bigint, ticket_id bigint, received_at timestamptz) ORDER BY r.seq "
    "ON CONFLICT ON CONSTRAINT reports_channel_report_id DO NOTHING RETURNING id, channel, report_id"
).bindparams(bindparam("rows", type_=JSONB))

_SEEN_REPORTS = text(
    "SELECT r.channel, r.report_id FROM reports r "
    "JOIN unnest(CAST(:channels AS text[]), CAST(:ids AS text[])) AS k(channel, report_id) "
    "ON r.channel = k.channel AND r.report_id = k.report_id"
)


def seen_reports(conn: Connection, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (channel, report_id) are in the database already (committed): redeliveries make nothing."""
    if not keys:
        return set()
    rows = conn.execute(_SEEN_REPORTS, {"channels": [c for c, _ in keys], "ids": [r for _, r in keys]})
    return {(row.channel, row.report_id) for row in rows}


def insert_reports(conn: Connection, reports: list[NewReport]) -> dict[tuple[str, str], int]:
    """Insert the reports not seen before in one statement, in the given order (ids ascend with it), each
    already pointing at its ticket when `ticket_id` is set; return {(channel, report_id): id} of the rows
    inserted. A report seen before (redelivery) or twice in the batch is inserted once."""
    if not reports:
        return {}
    rows = [
        {
            "seq": seq, "channel": r.channel, "report_id": r.report_id, "reported_at": r.reported_at.isoformat(),
            "category": r.category, "envelope": r.envelope, "topic": r.topic, "partition": r.partition,
            "offset": r.offset, "ticket_id": r.ticket_id,
            "received_at": r.received_at.isoformat() if r.received_at else None,
        }
        for seq, r in enumerate(reports)
    ]
    return {(row.channel, row.report_id): row.id for row in conn.execute(_INSERT_REPORTS, {"rows": rows})}


def allocate_sequence(conn: Connection, day: date, count: int) -> int:
    """Reserve `count` numbers of the day's sequence; return the first. In the caller's transaction: the
    day's row stays locked until it commits (other writers of tickets wait), and a rollback returns the
    numbers."""
    last = conn.execute(
        text(
            "INSERT INTO ticket_day_sequence (day, last) VALUES (:day, :n) "
            "ON CONFLICT (day) DO UPDATE SET last = ticket_day_sequence.last + :n RETURNING last"
        ),
        {"day": day, "n": count},
    ).scalar_one()
    return last - count + 1


def allocate_sequence_apart(engine: Engine, day: date, count: int) -> int:
    """`allocate_sequence` in a short transaction of its own, for the intake worker: held in the batch's
    transaction, the day's row serialised the workers for the whole rest of each batch. A batch that then
    fails leaves a gap in the day's numbers, never a duplicate.

    Its commit need not wait for the disk: the batch that uses the numbers commits synchronously later,
    and the write-ahead log is flushed in order, so a ticket that survives a crash always finds its numbers'
    reservation flushed before it; a reservation lost in a crash was never used."""
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        return allocate_sequence(conn, day, count)


_INSERT_TICKETS = text(
    "INSERT INTO tickets (ticket_no, status, version, category, description, address, location, district_code, "
    "area, assignee_code, routing, loop, grid_code, deadline, deadline_state, priority, history_head, created_at, "
    "updated_at) SELECT t.ticket_no, t.status, 1, t.category, t.description, t.address, "
    "CASE WHEN t.lon IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326) END, "
    "t.district_code, t.area, t.assignee_code, t.routing, t.loop, t.grid_code, t.deadline, t.deadline_state, "
    "t.priority, t.history_head, :now, :now "
    "FROM jsonb_to_recordset(:rows) AS t(ticket_no text, status text, category text, description text, "
    "address text, lon float8, lat float8, district_code text, area jsonb, assignee_code text, routing jsonb, "
    "loop jsonb, grid_code text, deadline timestamptz, deadline_state text, priority text, history_head text) "
    "RETURNING id, ticket_no"
).bindparams(bindparam("rows", type_=JSONB))

_LINK_REPORTS = text(
    "UPDATE reports SET ticket_id = link.ticket_id "
    "FROM unnest(CAST(:report_ids AS bigint[]), CAST(:ticket_ids AS bigint[])) AS link(report_id, ticket_id) "
    "WHERE reports.id = link.report_id"
)

@dataclass(frozen=True)
class TicketToWrite:
    ticket_no: str
    ticket: NewTicket
    report_ids: tuple[int, ...]


def insert_tickets(conn: Connection, batch: list[TicketToWrite], now: datetime, events_topic: str) -> dict[str, int]:
    """Write a batch of new tickets with their opening history (the domain's records, hashed here), report links
    and `created` events in four statements, whatever the batch size: per-row round trips, not the database,
    limit a worker (five with the evaluation's facts)."""
    if not batch:
        return {}
    rows: dict[int, history.Entry] = {}  # tickets opened alike share their records: convert each once

    def entry_of(record: Record) -> history.Entry:
        found = rows.get(id(record))
        if found is None:
            found = rows[id(record)] = history.entry(record)
        return found

    chains = {w.ticket_no: history.chain(None, w.ticket_no, None, [entry_of(r) for r in w.ticket.records])
              for w in batch}
    ids = {
        row.ticket_no: row.id
        for row in conn.execute(_INSERT_TICKETS, {"now": now, "rows": [
            {**_ticket_row(w), "history_head": chains[w.ticket_no][-1].hash if chains[w.ticket_no] else None}
            for w in batch]})
    }
    report_ids = [rid for w in batch for rid in w.report_ids]
    ticket_ids = [ids[w.ticket_no] for w in batch for _ in w.report_ids]
    link_reports(conn, report_ids, ticket_ids)
    history.append(conn, [replace(c, ticket_id=ids[w.ticket_no]) for w in batch for c in chains[w.ticket_no]])
    kpi.write(conn, [(ids[w.ticket_no], w.ticket.facts, w.ticket.channel) for w in batch if w.ticket.facts])
    publish_events(conn, [ids[w.ticket_no] for w in batch], "created", now, "system", events_topic)
    return ids


def _ticket_row(w: TicketToWrite) -> dict:
    t = w.ticket
    district = t.area.get("district")
    return {
        "ticket_no": w.ticket_no, "status": str(t.status), "category": t.category, "description": t.description,
        "address": t.address, "lon": t.lon, "lat": t.lat, "district_code": district["code"] if district else None,
        "area": t.area, "assignee_code": t.assignee.code if t.assignee else None, "routing": t.routing,
        "loop": t.loop, "grid_code": t.grid_code, "deadline": t.deadline.isoformat() if t.deadline else None,
        "deadline_state": t.deadline_state, "priority": str(t.priority),
    }


_CANDIDATES = text(
    "SELECT q.idx, t.* FROM jsonb_to_recordset(:rows) AS q(idx int, category text, lon float8, lat float8, dist float8) "
    "CROSS JOIN LATERAL (SELECT t.id, t.ticket_no, t.category, t.status, ST_X(t.location) AS lon, "
    "ST_Y(t.location) AS lat, t.version, t.history_head, "
    "(SELECT max(r.reported_at) FROM reports r WHERE r.ticket_id = t.id) AS last_at FROM tickets t "
    # The open tickets of the category in a box that surely holds the merge circle (a degree of latitude is
    # over 110 km, one of longitude over 110 km × cos(latitude)), answered by the GiST index on
    # (category, location) of open tickets (migration 0008); then the exact geodesic distance.
    "WHERE t.category = q.category AND t.status NOT IN ('closed', 'rejected') "
    "AND t.location && ST_Expand(ST_SetSRID(ST_MakePoint(q.lon, q.lat), 4326), "
    "q.dist / (110000.0 * greatest(cos(radians(abs(q.lat) + q.dist / 110000.0)), 0.01)), q.dist / 110000.0) "
    "AND ST_DWithin(t.location::geography, ST_SetSRID(ST_MakePoint(q.lon, q.lat), 4326)::geography, q.dist)"
    ") AS t"
).bindparams(bindparam("rows", type_=JSONB))

_LOCK_OPEN = text(
    "SELECT id FROM tickets WHERE id = ANY(:ids) AND status NOT IN ('closed', 'rejected') ORDER BY id FOR NO KEY UPDATE"
)


@dataclass(frozen=True)
class OpenTicket:
    """An open ticket a new report might belong to (as read, not locked: `lock_open` locks the chosen ones)."""

    id: int
    ticket_no: str
    category: str | None
    status: str
    lon: float
    lat: float
    version: int
    history_head: str | None
    last_reported_at: datetime | None


def merge_candidates(conn: Connection, probes: list[dict]) -> dict[int, list[OpenTicket]]:
    """Open tickets near each probe `{idx, category, lon, lat, dist}`, in one statement for the batch."""
    out: dict[int, list[OpenTicket]] = {}
    if not probes:
        return out
    for row in conn.execute(_CANDIDATES, {"rows": probes}):
        out.setdefault(row.idx, []).append(OpenTicket(
            row.id, row.ticket_no, row.category, row.status, row.lon, row.lat, row.version, row.history_head,
            row.last_at))
    return out


def lock_open(conn: Connection, ids: list[int]) -> set[int]:
    """Lock the tickets reports will merge into (in id order, so two writers cannot deadlock on them) and
    return those still open. Only the chosen targets are locked: locking every candidate wrote a row lock
    for ~6 tickets per report. NO KEY UPDATE, the lock an UPDATE of the row takes: reports referencing the
    ticket (a key-share lock for the foreign key) are not held up by it."""
    if not ids:
        return set()
    return set(conn.execute(_LOCK_OPEN, {"ids": sorted(set(ids))}).scalars())


def link_reports(conn: Connection, report_ids: list[int], ticket_ids: list[int]) -> None:
    """Point each report at its ticket, in one statement for the batch."""
    if report_ids:
        conn.execute(_LINK_REPORTS, {"report_ids": report_ids, "ticket_ids": ticket_ids})


def heads(conn: Connection, ids: list[int]) -> dict:
    """Number, status and history head of tickets (merge targets, locked by `lock_open` beforehand)."""
    return {row.id: row for row in conn.execute(
        text("SELECT id, ticket_no, status, history_head FROM tickets WHERE id = ANY(:ids)"), {"ids": ids})}


def append_merges(conn: Connection, merges: dict[int, list[Record]], current: dict, now: datetime) -> None:
    """Merged reports, by ticket id (locked by `lock_open`; `current`: their `heads`): the records chained onto
    each ticket's head (store.history), and each ticket's report count, version (one up per batch) and head,
    set-based."""
    entries, counts = [], []
    for tid, records in merges.items():
        chained = history.chain(tid, current[tid].ticket_no, current[tid].history_head,
                                [history.entry(r) for r in records])
        entries += chained
        counts.append({"id": tid, "n": len(records), "head": chained[-1].hash})
    history.append(conn, entries)
    conn.execute(_MERGE_TICKETS, {"rows": counts, "now": now})


_MERGE_TICKETS = text(
    "UPDATE tickets SET report_count = report_count + m.n, version = version + 1, history_head = m.head, "
    "updated_at = :now FROM jsonb_to_recordset(:rows) AS m(id bigint, n int, head text) WHERE tickets.id = m.id"
).bindparams(bindparam("rows", type_=JSONB))


def reports_of(conn: Connection, ticket_id: int) -> list:
    """The reports merged into a ticket, oldest first (id, channel, report_id, envelope)."""
    return conn.execute(text("SELECT id, channel, report_id, envelope FROM reports WHERE ticket_id = :t ORDER BY id"),
                        {"t": ticket_id}).all()


def report_taken_out(conn: Connection, ticket_id: int) -> None:
    """One report fewer on a ticket (拆分: it moves to a ticket of its own)."""
    conn.execute(text("UPDATE tickets SET report_count = report_count - 1 WHERE id = :t"), {"t": ticket_id})


def lock_pair(conn: Connection, *numbers: str) -> None:
    """Lock the tickets of a 合并 (by number; unknown numbers are skipped) in id order, the order `lock_open`
    uses too, so that two transactions locking the same two tickets cannot deadlock."""
    conn.execute(text("SELECT id FROM tickets WHERE ticket_no = ANY(:nos) ORDER BY id FOR NO KEY UPDATE"),
                 {"nos": [n for n in numbers if n]})


def move_reports(conn: Connection, from_id: int, to_id: int) -> int:
    """合并: every report of ticket `from_id` now belongs to `to_id`, and both report counts follow; returns how
    many moved (tickets locked by `lock_pair`)."""
    moved = conn.execute(text("UPDATE reports SET ticket_id = :to WHERE ticket_id = :f"),
                         {"to": to_id, "f": from_id}).rowcount
    conn.execute(text("UPDATE tickets SET report_count = CASE WHEN id = :to THEN report_count + :n ELSE 0 END "
                      "WHERE id IN (:f, :to)"), {"to": to_id, "f": from_id, "n": moved})
    return moved


def point_of(conn: Connection, ticket_id: int) -> tuple[float, float] | None:
    """A ticket's point (WGS-84), None when it has none (an address-only report nobody placed yet)."""
    row = conn.execute(text("SELECT ST_X(location) AS lon, ST_Y(location) AS lat FROM tickets WHERE id = :id "
                            "AND location IS NOT NULL"), {"id": ticket_id}).first()
    return None if row is None else (row.lon, row.lat)


_RELOCATE = text(
    "UPDATE tickets SET location = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), district_code = :district, "
    "area = :area, grid_code = :grid, routing = :routing WHERE id = :id"
).bindparams(bindparam("area", type_=JSONB), bindparam("routing", type_=JSONB))


def relocate(conn: Connection, ticket_id: int, lon: float, lat: float, area: dict, routing: dict) -> None:
    """定位: the ticket's point, areas and routing explanation as placed (in the action's transaction, before
    `store.loop.save` builds its event, so the event and its rooms follow the new cell)."""
    district, grid = area.get("district"), area.get("grid")
    conn.execute(_RELOCATE, {"lon": lon, "lat": lat, "district": district["code"] if district else None,
                             "area": area, "grid": grid["code"] if grid else None, "routing": routing, "id": ticket_id})
