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


FINAL_STATUSES = (Status.CLOSED, Status.REJECTED)  # 结案, 不予立案: no action moves a ticket out of these
# Open: every other status. SQL gets it as a bound parameter built from this set (`status = ANY(:open)`);
# the partial indexes of migrations 0004 and 0008 mirror it (`status NOT IN ('closed', 'rejected')`).
OPEN_STATUSES = frozenset(Status) - set(FINAL_STATUSES)


@dataclass(frozen=True)
class Unit:
    """A responsible unit: a department branch, a street office, a utility company or a command centre."""

    code: str
    name: str
    level: str
