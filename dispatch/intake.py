"""What a new report becomes: the first states of its ticket, decided from category and routing alone."""
from __future__ import annotations

from dataclasses import dataclass

from dispatch.model import HistoryEntry, Status, Unit

SYSTEM_ACTOR = "system"
SYSTEM_ROLE = "system"

# Routing methods that are certain enough to dispatch without a person looking (自动分拨).
AUTO_DISPATCH_METHODS = frozenset({"contains", "boundary"})


@dataclass(frozen=True)
class Opening:
    status: Status
    history: tuple[HistoryEntry, ...]


def open_ticket(category: str | None, method: str, assignee: Unit | None) -> Opening:
    """A report with a known category and a certain route is registered and dispatched at once;
    anything else waits for an operator as `pending` (unclassified, unroutable or needs review)."""
    if category and assignee is not None and method in AUTO_DISPATCH_METHODS:
        return Opening(
            Status.DISPATCHED,
            (
                HistoryEntry("register", None, Status.REGISTERED, SYSTEM_ACTOR, SYSTEM_ROLE, "auto: known category"),
                HistoryEntry(
                    "dispatch", Status.REGISTERED, Status.DISPATCHED, SYSTEM_ACTOR, SYSTEM_ROLE,
                    f"auto: routed by {method} to {assignee.code}",
                ),
            ),
        )
    reasons = []
    if not category:
        reasons.append("category unknown")
    if assignee is None:
        reasons.append("no responsible unit found")
    elif method not in AUTO_DISPATCH_METHODS:
        reasons.append(f"routing method {method} needs review")
    return Opening(
        Status.PENDING,
        (HistoryEntry("create", None, Status.PENDING, SYSTEM_ACTOR, SYSTEM_ROLE, "; ".join(reasons)),),
    )
