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

import orjson

GENESIS = ""


def canonical_at(at: datetime) -> str:
    """One spelling of an instant, whatever the time zone it was written in (the database keeps µs)."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(prev: str | None, ticket_no: str, at: datetime, actor: str, role: str, party: str | None,
               action: str, from_status: str | None, to_status: str, note: str | None,
               data: Mapping[str, Any] | None) -> str:
    body = canonical_json(
        {"ticket_no": ticket_no, "at": canonical_at(at), "actor": actor, "role": role, "party": party,
         "action": action, "from": from_status, "to": to_status, "note": note, "data": dict(data or {})})
    return hashlib.sha256((prev or GENESIS).encode() + b"\n" + body).hexdigest()


def canonical_json(body: Mapping[str, Any]) -> bytes:
    """The hashed spelling of an entry: json.dumps(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
    default=str) in UTF-8, which every stored hash was made with. orjson writes exactly those bytes for text,
    None, booleans, 64-bit integers, lists and dicts of them (every code point checked, tests/test_audit.py)
    and is several times faster, which counts when the worker opens thousands of tickets a second; floats
    (spelt differently: 1e16 against 1e+16) and anything else take the standard library's way."""
    if _orjson_spells_alike(body):
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()


def _orjson_spells_alike(value: Any) -> bool:
    kind = type(value)
    if value is None or kind is bool or issubclass(kind, str):
        return True
    if kind is int:
        return -(2 ** 63) <= value < 2 ** 63
    if kind is dict:
        return all(type(k) is str and _orjson_spells_alike(v) for k, v in value.items())
    if kind is list or kind is tuple:
        return all(_orjson_spells_alike(v) for v in value)
    return False


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
