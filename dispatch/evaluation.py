"""Department evaluation (考核) from ticket facts: the four rates command centres publish, and a ranking.

Who is charged with what:
- The *lead* unit at the end (the one that holds the ticket, or closed it) is charged with 派遣, 处置, 结案
  and 返工. A unit whose return stood (the ticket went to another unit) is not charged with the ticket; the
  return is still counted and shown. A unit that got the ticket back keeps its earlier clock start, so its
  handling is late by the dispute time it caused (see dispatch.lifecycle).
- Every dispatched turn (not a rework) counts for 及时签收率 of its unit, once it is decided: acknowledged,
  or past the limit without acknowledgement. A turn returned within its limit without acknowledging is not
  counted either way.

Rates (None when their denominator is zero):
  按期处置率 on_time_rate   = handled within the handle limit (first handling) / handled
  结案率     close_rate     = closed / dispatched
  返工率     rework_rate    = handled then failed verification at least once / handled
  及时签收率 timely_ack_rate = acknowledged within the limit / decided acknowledgements

Composite score, 0–100: 100 × Σ wᵢ·xᵢ / Σ wᵢ over the rates that are defined, with x = on_time_rate (0.35),
close_rate (0.25), timely_ack_rate (0.20) and 1 − rework_rate (0.20): timeliness first, because it is what
residents feel; a missing rate drops out rather than counting as zero or as perfect. Units with fewer than
`min_dispatched` tickets are listed without a rank (a unit with two tickets should not top the table).
Ties share a rank (1, 2, 2, 4) on the score rounded to two decimals.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from dispatch.deadlines import Limits
from dispatch.lifecycle import AssignmentEnd, TicketState
from dispatch.model import Status
from dispatch.worktime import Span, TimeRule

DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"on_time": 0.35, "close": 0.25, "timely_ack": 0.20, "rework": 0.20}
)


@dataclass(frozen=True)
class TicketFacts:
    ticket_no: str
    lead: str | None
    handled: bool
    handled_on_time: bool | None
    closed: bool
    reworked: bool
    acknowledgements: tuple[tuple[str, bool | None], ...]  # (unit, on time) per dispatched turn; None undecided
    returned_by: tuple[str, ...]
    disputes: tuple[tuple[str, timedelta], ...]  # (unit that returned, time until the next dispatch)


def ticket_facts(ticket: TicketState, limits: Limits, rule: TimeRule, now: datetime) -> TicketFacts:
    """Facts of one ticket as of `now`, with its limits counted in its own rule (working or natural)."""
    pauses = [Span(p.started, p.ended or max(now, p.started)) for p in ticket.pauses]
    lead = ticket.lead
    handled_turns = [a for a in ticket.assignments if a.unit == lead and a.handled_at is not None]
    first = handled_turns[0] if handled_turns else None
    on_time = None
    if first is not None:
        on_time = rule.between(first.clock_started, first.handled_at, pauses) <= limits.handle
    acks: list[tuple[str, bool | None]] = []
    for turn in ticket.assignments:
        if turn.rework:
            continue
        if turn.acknowledged_at is not None:
            acks.append((turn.unit, rule.between(turn.dispatched_at, turn.acknowledged_at) <= limits.acknowledge))
        elif rule.between(turn.dispatched_at, turn.ended_at or now) > limits.acknowledge:
            acks.append((turn.unit, False))
        elif turn.ended_at is None:
            acks.append((turn.unit, None))
    return TicketFacts(
        ticket_no=ticket.ticket_no, lead=lead, handled=first is not None, handled_on_time=on_time,
        closed=ticket.status is Status.CLOSED, reworked=any(
            a.end is AssignmentEnd.REOPENED for a in ticket.assignments if a.unit == lead
        ),
        acknowledgements=tuple(acks),
        returned_by=tuple(a.unit for a in ticket.assignments if a.end is AssignmentEnd.RETURNED),
        disputes=tuple((d.unit, rule.between(d.started, d.ended or now)) for d in ticket.disputes),
    )


@dataclass(frozen=True)
class UnitScore:
    unit: str
    dispatched: int
    handled: int
    handled_on_time: int
    closed: int
    reworked: int
    acks_decided: int
    acks_on_time: int
    returns: int
    dispute: timedelta
    on_time_rate: float | None
    close_rate: float | None
    rework_rate: float | None
    timely_ack_rate: float | None
    score: float | None
    rank: int | None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def composite(on_time: float | None, close: float | None, timely_ack: float | None, rework: float | None,
              weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> float | None:
    """The documented composite score (module docstring); None when no rate is defined."""
    parts = {"on_time": on_time, "close": close, "timely_ack": timely_ack,
             "rework": None if rework is None else 1.0 - rework}
    present = {k: v for k, v in parts.items() if v is not None and weights.get(k, 0) > 0}
    if not present:
        return None
    total = sum(weights[k] for k in present)
    return 100.0 * sum(weights[k] * v for k, v in present.items()) / total


def evaluate(facts: Iterable[TicketFacts], weights: Mapping[str, float] = DEFAULT_WEIGHTS,
             min_dispatched: int = 5) -> list[UnitScore]:
    """Scores per unit, ranked: best first, then unranked units (too few tickets), each by score."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    dispute: dict[str, timedelta] = defaultdict(timedelta)
    for f in facts:
        if f.lead is not None:
            c = counts[f.lead]
            c["dispatched"] += 1
            c["handled"] += f.handled
            c["handled_on_time"] += bool(f.handled_on_time)
            c["closed"] += f.closed
            c["reworked"] += f.handled and f.reworked
        for unit, on_time in f.acknowledgements:
            if on_time is not None:
                counts[unit]["acks_decided"] += 1
                counts[unit]["acks_on_time"] += on_time
        for unit in f.returned_by:
            counts[unit]["returns"] += 1
        for unit, spent in f.disputes:
            dispute[unit] += spent
    rows = []
    for unit, c in counts.items():
        on_time = _rate(c["handled_on_time"], c["handled"])
        close = _rate(c["closed"], c["dispatched"])
        rework = _rate(c["reworked"], c["handled"])
        ack = _rate(c["acks_on_time"], c["acks_decided"])
        rows.append(dict(
            unit=unit, **{k: c[k] for k in ("dispatched", "handled", "handled_on_time", "closed", "reworked",
                                             "acks_decided", "acks_on_time", "returns")},
            dispute=dispute[unit], on_time_rate=on_time, close_rate=close, rework_rate=rework,
            timely_ack_rate=ack, score=composite(on_time, close, ack, rework, weights),
        ))
    ranked = sorted(
        (r for r in rows if r["dispatched"] >= min_dispatched and r["score"] is not None),
        key=lambda r: (-r["score"], -r["dispatched"], r["unit"]),
    )
    rest = sorted(
        (r for r in rows if not (r["dispatched"] >= min_dispatched and r["score"] is not None)),
        key=lambda r: (-(r["score"] or 0.0), r["unit"]),
    )
    out: list[UnitScore] = []
    previous: tuple[float, int] | None = None
    for position, r in enumerate(ranked, start=1):
        key = round(r["score"], 2)
        rank = previous[1] if previous is not None and previous[0] == key else position
        previous = (key, rank)
        out.append(UnitScore(**r, rank=rank))
    out.extend(UnitScore(**r, rank=None) for r in rest)
    return out
