"""What a new report becomes: the first states of its ticket, decided from category, routing and priority.

Only a 小类 (a leaf of the taxonomy) has time limits, so only a report with one can be registered and
dispatched at once with a running clock. A category that is unknown or not a leaf is refused at HTTP intake
(`check_report`); on Kafka the report is not lost: its ticket opens `pending` without a category, and the
history says which code was given and why it was set aside (the report keeps the code as sent).

Priority `urgent` (加急) is set by rule, never by a free choice of the reporter: the category's `urgent` flag
(gas leaks, burst mains, collapsed roads, ...) or a sensor alarm, i.e. a report on the `sensor` channel
whose envelope carries the extension field `"priority": "urgent"`. Other channels may not set it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from dispatch.errors import IntakeRefused
from dispatch.lifecycle import Opening, Priority, TicketState
from dispatch.model import Status, Unit
from dispatch.taxonomy import Category, Taxonomy

# Routing methods that are certain enough to dispatch without a person looking (自动分拨).
AUTO_DISPATCH_METHODS = frozenset({"contains", "boundary"})

# The one channel whose reports may declare themselves alarms (`"priority": "urgent"`).
ALARM_CHANNEL = "sensor"
PRIORITY_FIELD = "priority"


class Report(Protocol):
    """What intake rules read of a report envelope (application.envelope.ReportEnvelope has these)."""

    channel: str
    category: str | None

    @property
    def model_extra(self) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class Urgency:
    priority: Priority
    reason: str | None = None  # why urgent, for the opening history entry


def category_problem(taxonomy: Taxonomy, code: str | None) -> str | None:
    """Why `code` cannot give a ticket its clock, as a sentence; None for a 小类 or for no category at all
    (an unclassified report is the operator's to classify, not an error)."""
    if code is None:
        return None
    category = taxonomy.get(code)
    if category is None:
        return f"category {code} is not in the category table"
    if not category.is_subclass:
        level = "门类" if category.level == "root" else "大类"
        return (f"category {code} ({category.name}) is a {level}, not a 小类: "
                "choose one of the six-digit codes under it")
    return None


def alarm_priority(report: Report) -> Priority | None:
    """The priority the report's envelope asks for (`"priority"` extension field), valid or not; None when
    it asks for none. Unknown values and `urgent` off the sensor channel are errors for `check_report`."""
    value = (report.model_extra or {}).get(PRIORITY_FIELD)
    if value is None:
        return None
    try:
        return Priority(value) if isinstance(value, str) else None
    except ValueError:
        return None


def is_alarm(report: Report) -> bool:
    """A sensor alarm: the `sensor` channel and `"priority": "urgent"`. Anywhere else the field is ignored
    (Kafka) or refused (HTTP, see `check_report`)."""
    return report.channel == ALARM_CHANNEL and alarm_priority(report) is Priority.URGENT


def check_report(taxonomy: Taxonomy, report: Report) -> None:
    """HTTP intake's refusals beyond the envelope schema, each naming its field (IntakeRefused, 422):
    a category that is not a 小类 of the taxonomy, and a `priority` that is not `normal`/`urgent` or that
    asks for `urgent` off the sensor channel."""
    fields = {}
    problem = category_problem(taxonomy, report.category)
    if problem:
        fields["category"] = problem
    raw = (report.model_extra or {}).get(PRIORITY_FIELD)
    if raw is not None:
        asked = alarm_priority(report)
        if asked is None:
            fields[PRIORITY_FIELD] = "must be \"normal\" or \"urgent\""
        elif asked is Priority.URGENT and report.channel != ALARM_CHANNEL:
            fields[PRIORITY_FIELD] = ("only sensor alarms (channel sensor) may ask for urgent; "
                                      "otherwise the category decides")
    if fields:
        raise IntakeRefused("; ".join(f"{k}: {v}" for k, v in fields.items()), fields=fields)


def urgency(category: Category | None, alarm: bool) -> Urgency:
    """`urgent` when the category is flagged urgent or the report is a sensor alarm; else `normal`."""
    if category is not None and category.urgent:
        return Urgency(Priority.URGENT, f"urgent category {category.code} {category.name}")
    if alarm:
        return Urgency(Priority.URGENT, "sensor alarm")
    return Urgency(Priority.NORMAL)


def opening(category: str | None, method: str, assignee: Unit | None, *,
            set_aside: str | None = None, urgent_reason: str | None = None) -> Opening:
    """A report with a usable category and a certain route is registered and dispatched at once; anything
    else waits for an operator as `pending` (unclassified, category set aside, unroutable or needs review).
    `set_aside`: why the given category was set aside (`category_problem`; the ticket opens without one).
    The notes say why, for the opening's history records (`dispatch.lifecycle.open_ticket` writes them)."""
    urgent = f"; 加急 urgent: {urgent_reason}" if urgent_reason else ""
    if category and not set_aside and assignee is not None and method in AUTO_DISPATCH_METHODS:
        return Opening(Status.DISPATCHED, ("auto: known category" + urgent,
                                           f"auto: routed by {method} to {assignee.code}"))
    reasons = []
    if set_aside:
        reasons.append(f"{set_aside}; an operator classifies it")
    elif not category:
        reasons.append("category unknown")
    if assignee is None:
        reasons.append("no responsible unit found")
    elif method not in AUTO_DISPATCH_METHODS:
        reasons.append(f"routing method {method} needs review")
    return Opening(Status.PENDING, ("; ".join(reasons) + urgent,))


@dataclass(frozen=True)
class Decision:
    """A new report's ticket as intake decides it: its category (None when set aside), priority, opening."""

    category: str | None
    priority: Priority
    opening: Opening


def decide(taxonomy: Taxonomy | None, category: str | None, method: str, assignee: Unit | None,
           alarm: bool) -> Decision:
    """The whole intake rule in one place. Without a taxonomy (not loaded yet) only the alarm counts and the
    category is taken as given; with one, a category that is not a 小类 is set aside and an urgent
    category makes the ticket urgent."""
    problem = category_problem(taxonomy, category) if taxonomy is not None else None
    kept = None if problem else category
    urgent = urgency(taxonomy.get(kept) if taxonomy is not None else None, alarm)
    opened = opening(kept, method, assignee, set_aside=problem, urgent_reason=urgent.reason)
    return Decision(kept, urgent.priority, opened)


def classified(state: TicketState, category: Category | None) -> TicketState:
    """The category's urgency after an operator (re)classifies a ticket: a ticket put into an urgent 小类
    becomes urgent. Never back to normal: an alarm or an earlier urgent class keeps the ticket urgent."""
    if category is not None and category.urgent and state.priority is not Priority.URGENT:
        return replace(state, priority=Priority.URGENT)
    return state
