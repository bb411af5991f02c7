"""The history's hash chain: each entry's hash covers the previous hash and the entry itself, so altering,
inserting or deleting a row anywhere in a ticket's history breaks the chain (`yunguan audit verify`).

The chain is per ticket, because a ticket's changes are already serialised by its version check, while
tickets change concurrently. The ticket row keeps the head, so a deleted last entry is caught too.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = ""


def canonical_at(at: datetime) -> str:
    """One spelling of an instant, whatever the time zone it was written in (the database keeps µs)."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(prev: str | None, ticket_no: str, at: datetime, actor: str, role: str, party: str | None,
               action: str, from_status: str | None, to_status: str, note: str | None,
               data: Mapping[str, Any] | None) -> str:
    body = json.dumps(
        {"ticket_no": ticket_no, "at": canonical_at(at), "actor": actor, "role": role, "party": party,
         "action": action, "from": from_status, "to": to_status, "note": note, "data": dict(data or {})},
        ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(f"{prev or GENESIS}\n{body}".encode()).hexdigest()


@dataclass(frozen=True)
class Broken:
    ticket_no: str
    entry_id: int | None
    reason: str


def verify_chain(ticket_no: str, head: str | None, entries: Iterable[Mapping[str, Any]]) -> Broken | None:
    """Check one ticket's entries (oldest first, with their stored prev_hash and hash) against its head."""
    prev = GENESIS
    last_id = None
    for e in entries:
        last_id = e["id"]
        if (e["prev_hash"] or GENESIS) != prev:
            return Broken(ticket_no, e["id"], "entry does not follow the one before it (inserted or deleted row)")
        expected = entry_hash(prev, ticket_no, e["at"], e["actor"], e["role"], e["party"], e["action"],
                              e["from_status"], e["to_status"], e["note"], e["data"])
        if expected != e["hash"]:
            return Broken(ticket_no, e["id"], "entry content does not match its hash (altered row)")
        prev = e["hash"]
    if (head or GENESIS) != prev:
        return Broken(ticket_no, last_id, "the ticket's head hash does not match its last entry (deleted row)")
    return None
