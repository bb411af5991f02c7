"""The ticket history: the one place that hashes entries into a ticket's chain and the one that appends them.

Every change of a ticket — its opening, a merged report, an action, the deadline pass — is decided by
`dispatch.lifecycle` as a `Record`; `entry` turns a record into a row, `chain` hashes a run of rows onto the
ticket's head (dispatch.audit.entry_hash; the ticket row keeps the head), `append` writes any number of chains
in one statement (set-based: the intake worker opens hundreds of tickets per batch).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from dispatch.audit import entry_hash
from dispatch.state import Record


@dataclass(frozen=True)
class Entry:
    at: datetime
    actor: str
    role: str
    party: str | None
    action: str
    from_status: str | None
    to_status: str
    note: str | None
    data: dict | None = None


def entry(record: Record) -> Entry:
    """The row of a domain record: enums as their values, instants in `data` as ISO 8601 (what is hashed is
    what is stored); no particulars is NULL."""
    data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in record.data.items()}
    return Entry(record.at, record.actor, record.role, str(record.party), str(record.action),
                 str(record.from_status) if record.from_status else None, str(record.to_status), record.note,
                 data or None)


@dataclass(frozen=True)
class Chained:
    ticket_id: int | None  # None until the ticket row exists (an opening is hashed before it is inserted)
    entry: Entry
    prev_hash: str | None
    hash: str


def chain(ticket_id: int | None, ticket_no: str, prev: str | None, entries: list[Entry]) -> list[Chained]:
    """`entries` hashed one after the other onto `prev`; the last hash is the ticket's new head."""
    out = []
    for e in entries:
        digest = entry_hash(prev, ticket_no, e.at, e.actor, e.role, e.party, e.action, e.from_status,
                            e.to_status, e.note, e.data)
        out.append(Chained(ticket_id, e, prev, digest))
        prev = digest
    return out


def append(conn: Connection, rows: list[Chained]) -> None:
    """Write chained entries, in order; every entry of the history table is written here."""
    if not rows:
        return
    conn.execute(_APPEND, {"rows": [
        {"seq": seq, "ticket_id": r.ticket_id, "at": r.entry.at.isoformat(), "actor": r.entry.actor,
         "role": r.entry.role, "party": r.entry.party, "action": r.entry.action,
         "from_status": r.entry.from_status, "to_status": r.entry.to_status, "note": r.entry.note,
         "data": r.entry.data or None, "prev_hash": r.prev_hash, "hash": r.hash}
        for seq, r in enumerate(rows)]})


_APPEND = text(
    "INSERT INTO ticket_history (ticket_id, at, actor, role, party, action, from_status, to_status, note, data, "
    "prev_hash, hash) SELECT h.ticket_id, h.at, h.actor, h.role, h.party, h.action, h.from_status, h.to_status, "
    "h.note, h.data, h.prev_hash, h.hash FROM jsonb_to_recordset(:rows) AS h(seq int, ticket_id bigint, "
    "at timestamptz, actor text, role text, party text, action text, from_status text, to_status text, note text, "
    "data jsonb, prev_hash text, hash text) ORDER BY h.seq"
).bindparams(bindparam("rows", type_=JSONB))
