"""The history's hash chain: each entry's hash covers the previous hash and the entry itself, so altering,
inserting or deleting a row anywhere in a ticket's history breaks the chain (`yunguan audit verify`).

The chain is per ticket, because a ticket's changes are already serialised by its version check, while
tickets change concurrently. The ticket row keeps the head, so a deleted last entry is caught too.

A chain alone cannot catch someone who can write the database: they recompute the later hashes and the
head. So the heads are also anchored outside it: signed checkpoints (HMAC-SHA256), appended to a file at
intervals, record each ticket's entry count and head; `yunguan audit verify` then requires every chain to
still pass through every recorded head (docs/decisions/0012-tamper-evidence.md). The file handling and the
database reads are in store/audit.py; what a checkpoint is and how it is checked is here.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
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


# ---------------------------------------------------------------- checkpoints

CHECKPOINT_SCHEMA = "audit-checkpoint/1"


@dataclass(frozen=True)
class Checkpoint:
    """One signed line of the checkpoint log. `heads` holds only the tickets whose (entry count, head)
    changed since the database's previous checkpoint (every ticket in its first), so a line stays small in
    a city with a million tickets; the log as a whole records each ticket at every count it was seen at.
    `prev` is the previous checkpoint's signature (of the same database): lines removed from the middle of
    the log or reordered are noticed."""

    seq: int
    at: str
    database: str
    tickets: int
    entries: int
    heads: dict[str, tuple[int, str]]
    prev: str
    sig: str
    line_no: int = 0

    def body(self) -> dict[str, Any]:
        return {"schema": CHECKPOINT_SCHEMA, "seq": self.seq, "at": self.at, "database": self.database,
                "tickets": self.tickets, "entries": self.entries, "prev": self.prev,
                "heads": {no: [count, head] for no, (count, head) in sorted(self.heads.items())}}

    def line(self) -> str:
        return json.dumps({**self.body(), "sig": self.sig}, ensure_ascii=False, sort_keys=True,
                          separators=(",", ":"))


def signature(key: bytes, body: Mapping[str, Any]) -> str:
    payload = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def next_checkpoint(key: bytes, previous: Checkpoint | None, known: Mapping[str, tuple[int, str]], database: str,
                    at: datetime, current: Mapping[str, tuple[int, str]], entries: int) -> Checkpoint:
    """The checkpoint after `previous`, given what the log knows (`known`, see `fold`) and the database's
    `current` (entry count, head) per ticket. A ticket missing from `current` is simply not mentioned: the
    log keeps its last record, and verify reports it gone."""
    changed = {no: (count, head) for no, (count, head) in current.items()
               if count > 0 and known.get(no) != (count, head)}
    unsigned = Checkpoint(seq=(previous.seq + 1) if previous else 1, at=canonical_at(at), database=database,
                          tickets=len(current), entries=entries, heads=changed,
                          prev=previous.sig if previous else GENESIS, sig="")
    return replace(unsigned, sig=signature(key, unsigned.body()))


@dataclass(frozen=True)
class CheckpointLog:
    """The checkpoints of one database, oldest first, that are signed with the key and follow each other;
    `problems` names every line that is not (forged, altered, out of order, unreadable)."""

    checkpoints: list[Checkpoint]
    problems: list[str]
    other_databases: int = 0

    @property
    def last(self) -> Checkpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None


def read_checkpoints(lines: Iterable[str], key: bytes, database: str) -> CheckpointLog:
    checkpoints: list[Checkpoint] = []
    problems: list[str] = []
    others = 0
    for line_no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            body = {k: v for k, v in record.items() if k != "sig"}
            cp = Checkpoint(seq=int(record["seq"]), at=str(record["at"]), database=str(record["database"]),
                            tickets=int(record["tickets"]), entries=int(record["entries"]),
                            heads={str(no): (int(v[0]), str(v[1])) for no, v in record["heads"].items()},
                            prev=str(record["prev"]), sig=str(record["sig"]), line_no=line_no)
            if record.get("schema") != CHECKPOINT_SCHEMA:
                raise ValueError(record.get("schema"))
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            problems.append(f"checkpoint line {line_no}: not a checkpoint (unreadable or altered)")
            continue
        if cp.database != database:
            # Another database's line (a file shared by several, e.g. test sessions), possibly under another key.
            # Renaming a line's database only hides it as removing it would: the next line's `prev` tells.
            others += 1
            continue
        if not hmac.compare_digest(signature(key, body), cp.sig):
            problems.append(f"checkpoint line {line_no}: signature does not match (forged or altered checkpoint, "
                            "or another audit_key)")
            continue
        expected_prev = checkpoints[-1].sig if checkpoints else GENESIS
        expected_seq = checkpoints[-1].seq + 1 if checkpoints else 1
        if cp.prev != expected_prev or cp.seq != expected_seq:
            problems.append(f"checkpoint line {line_no} (#{cp.seq}): does not follow checkpoint "
                            f"#{expected_seq - 1} (a checkpoint was removed, reordered or copied in)")
        checkpoints.append(cp)
    return CheckpointLog(checkpoints, problems, others)


def fold(checkpoints: Iterable[Checkpoint]) -> dict[str, tuple[int, str]]:
    """Each ticket's latest recorded (entry count, head)."""
    known: dict[str, tuple[int, str]] = {}
    for cp in checkpoints:
        known.update(cp.heads)
    return known


def recorded_points(checkpoints: Iterable[Checkpoint]) -> dict[str, list[tuple[int, str, int]]]:
    """Per ticket every (entry count, head, checkpoint seq) the log recorded: verify checks them all, so a
    rewrite that a later checkpoint already saw is still caught by the earlier one."""
    points: dict[str, list[tuple[int, str, int]]] = {}
    for cp in checkpoints:
        for no, (count, head) in cp.heads.items():
            points.setdefault(no, []).append((count, head, cp.seq))
    return points


def check_points(ticket_no: str, length: int, hash_at: Mapping[int, str],
                 points: Iterable[tuple[int, str, int]]) -> str | None:
    """Why a ticket's chain (`length` entries; `hash_at[n]` the stored hash of its n-th entry, from 1) no
    longer passes through a recorded head, or None. New entries after a checkpoint are fine."""
    for count, head, seq in points:
        if length < count:
            return (f"history has {length} entries, checkpoint #{seq} recorded {count} "
                    "(entries deleted after the checkpoint)")
        if hash_at.get(count) != head:
            return f"entry {count} differs from checkpoint #{seq} (history rewritten after the checkpoint)"
    return None
