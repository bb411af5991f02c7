"""Writing tickets: reports (idempotent on channel + report_id), tickets, history, outbox events."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from dispatch.model import HistoryEntry, Status, Unit

EVENT_SCHEMA = "ticket-event/1"


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
    history: tuple[HistoryEntry, ...]


_INSERT_REPORT = text(
    "INSERT INTO reports (channel, report_id, reported_at, category, envelope, source_topic, "
    "source_partition, source_offset) VALUES (:channel, :report_id, :reported_at, :category, :envelope, "
    ":topic, :partition, :offset) ON CONFLICT ON CONSTRAINT reports_channel_report_id DO NOTHING "
    "RETURNING id, channel, report_id"
).bindparams(bindparam("envelope", type_=JSONB))


def insert_reports(conn: Connection, reports: list[NewReport]) -> dict[tuple[str, str], int]:
    """Insert reports not seen before; return {(channel, report_id): id} of the new ones only."""
    new: dict[tuple[str, str], int] = {}
    for r in reports:
        row = conn.execute(
            _INSERT_REPORT,
            {
                "channel": r.channel, "report_id": r.report_id, "reported_at": r.reported_at,
                "category": r.category, "envelope": r.envelope, "topic": r.topic,
                "partition": r.partition, "offset": r.offset,
            },
        ).first()
        if row is not None:
            new[(row.channel, row.report_id)] = row.id
    return new


def allocate_sequence(conn: Connection, day: date, count: int) -> int:
    """Reserve `count` numbers of the day's sequence; return the first."""
    last = conn.execute(
        text(
            "INSERT INTO ticket_day_sequence (day, last) VALUES (:day, :n) "
            "ON CONFLICT (day) DO UPDATE SET last = ticket_day_sequence.last + :n RETURNING last"
        ),
        {"day": day, "n": count},
    ).scalar_one()
    return last - count + 1


_INSERT_TICKET = text(
    "INSERT INTO tickets (ticket_no, status, version, category, description, address, location, district_code, "
    "area, assignee_code, routing, created_at, updated_at) VALUES (:ticket_no, :status, 1, :category, :description, "
    ":address, ST_SetSRID(ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326), "
    ":district_code, :area, :assignee_code, :routing, :now, :now) RETURNING id"
).bindparams(bindparam("area", type_=JSONB), bindparam("routing", type_=JSONB))

_INSERT_HISTORY = text(
    "INSERT INTO ticket_history (ticket_id, at, actor, role, action, from_status, to_status, note) "
    "VALUES (:ticket_id, :at, :actor, :role, :action, :from_status, :to_status, :note)"
)

_INSERT_OUTBOX = text("INSERT INTO outbox (topic, key, payload) VALUES (:topic, :key, :payload)").bindparams(
    bindparam("payload", type_=JSONB)
)


def ticket_event(ticket_no: str, ticket: NewTicket, event: str, at: datetime, actor: str, version: int = 1) -> dict:
    return {
        "schema": EVENT_SCHEMA,
        "ticket_no": ticket_no,
        "event": event,
        "at": at.isoformat(),
        "status": str(ticket.status),
        "version": version,
        "category": ticket.category,
        "assignee": (
            {"code": ticket.assignee.code, "name": ticket.assignee.name, "level": ticket.assignee.level}
            if ticket.assignee else None
        ),
        "area": ticket.area,
        "location": {"lon": ticket.lon, "lat": ticket.lat} if ticket.lon is not None else None,
        "deadline": None,
        "escalation_level": 0,
        "actor": actor,
    }


def insert_ticket(
    conn: Connection, ticket_no: str, ticket: NewTicket, report_ids: list[int], now: datetime, events_topic: str
) -> int:
    district = ticket.area.get("district")
    ticket_id = conn.execute(
        _INSERT_TICKET,
        {
            "ticket_no": ticket_no, "status": str(ticket.status), "category": ticket.category,
            "description": ticket.description, "address": ticket.address, "lon": ticket.lon, "lat": ticket.lat,
            "district_code": district["code"] if district else None, "area": ticket.area,
            "assignee_code": ticket.assignee.code if ticket.assignee else None, "routing": ticket.routing, "now": now,
        },
    ).scalar_one()
    conn.execute(
        text("UPDATE reports SET ticket_id = :t WHERE id = ANY(:ids)"), {"t": ticket_id, "ids": report_ids}
    )
    conn.execute(
        _INSERT_HISTORY,
        [
            {
                "ticket_id": ticket_id, "at": now, "actor": h.actor, "role": h.role, "action": h.action,
                "from_status": str(h.from_status) if h.from_status else None, "to_status": str(h.to_status),
                "note": h.note,
            }
            for h in ticket.history
        ],
    )
    actor = ticket.history[-1].actor if ticket.history else "system"
    conn.execute(
        _INSERT_OUTBOX,
        {"topic": events_topic, "key": ticket_no, "payload": ticket_event(ticket_no, ticket, "created", now, actor)},
    )
    return ticket_id
