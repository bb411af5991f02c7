"""Ticket states and the values carried by a ticket, named exactly as in the API (contract §5)."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    REGISTERED = "registered"
    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    HANDLED = "handled"
    VERIFIED = "verified"
    CLOSED = "closed"
    RETURNED = "returned"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    REOPENED = "reopened"


OPEN_STATUSES = frozenset(Status) - {Status.CLOSED, Status.REJECTED}


@dataclass(frozen=True)
class Unit:
    """A responsible unit: a department branch, a street office, a utility company or a command centre."""

    code: str
    name: str
    level: str


@dataclass(frozen=True)
class HistoryEntry:
    action: str
    from_status: Status | None
    to_status: Status
    actor: str
    role: str
    note: str | None = None
