"""综合评价 v1 (contract §8): the facts of one ticket that every count needs, and the rates, score and ranking
of a row of counts. Pure: the store keeps one row of facts per ticket (`ticket_kpi`) and counts them with
GROUP BY; docs/evaluation.md states the formulas in Chinese and English.

Who a ticket belongs to: its lead unit, the last unit it was dispatched or reassigned to as lead. A return
the command centre upheld (the ticket went on to another unit for good, or was rejected) is not counted
against the unit that returned it; a return that was not upheld (the ticket came back to that unit, by
re-dispatch or by the 值班长's arbitration) or is still undecided counts against it. Every count of a ticket is about its lead unit's turns,
so the figures of a unit are its own record.

The facts depend on the ticket's loop state alone, not on the time of reading, except `overdue`: a ticket
still unhandled whose deadline has passed. The facts therefore keep the running handle clock's deadline
(`handle_due`) and the store decides `overdue` at query time (`handled_late OR handle_due < now`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from dispatch.deadlines import Due, Limits, in_force
from dispatch.model import Status
from dispatch.state import Assignment, AssignmentEnd, TicketState
from dispatch.worktime import Span, TimeRule

# The counts of a row, in the contract's order (§8), and what each means.
COUNTS: Mapping[str, str] = MappingProxyType({
    "dispatched": "the ticket's first dispatch falls in the period (the population)",
    "acknowledged_on_time": "the lead unit's first acknowledgement came no later than its acknowledgement deadline",
    "handled": "the lead unit handled it at least once",
    "handled_on_time": "its last handling came no later than that turn's handling deadline, approved "
                       "extensions included",
    "overdue": "handled after its deadline, or still unhandled with its deadline passed at evaluation time",
    "reworked": "the lead unit's handling failed verification at least once",
    "returned": "the lead unit returned it at least once (returns the command centre upheld excluded)",
    "extended": "an extension was approved",
    "closed": "it is closed",
})

# rate: (numerator, denominator, Chinese name); a zero denominator gives None (null).
RATES: Mapping[str, tuple[str, str, str]] = MappingProxyType({
    "on_time_rate": ("handled_on_time", "dispatched", "按期处置率"),
    "close_rate": ("closed", "dispatched", "结案率"),
    "rework_rate": ("reworked", "handled", "返工率"),
    "ack_rate": ("acknowledged_on_time", "dispatched", "及时签收率"),
    "return_rate": ("returned", "dispatched", "退单率"),
    "extension_rate": ("extended", "dispatched", "延期率"),
    "overdue_rate": ("overdue", "dispatched", "超期率"),
})
# Rates where more is better; the others enter the score as 1 − rate.
GOOD_RATES = frozenset({"on_time_rate", "close_rate", "ack_rate"})
# Weight names (configuration key `evaluation_weights`) → rate.
WEIGHT_RATES: Mapping[str, str] = MappingProxyType({
    "on_time": "on_time_rate", "close": "close_rate", "ack": "ack_rate", "overdue": "overdue_rate",
    "rework": "rework_rate", "return": "return_rate", "extension": "extension_rate",
})
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType({
    "on_time": 0.30, "close": 0.20, "ack": 0.15, "overdue": 0.15, "rework": 0.10, "return": 0.05, "extension": 0.05,
})
BREAKDOWNS = ("unit", "district", "street", "community", "grid", "category")


@dataclass(frozen=True)
class Facts:
    """One ticket's row of facts. Instants are the domain's; flags are about the lead unit's turns."""

    first_dispatched_at: datetime | None
    lead_unit: str | None
    acknowledged_on_time: bool = False
    handled: bool = False
    handled_on_time: bool = False
    handled_late: bool = False
    handled_due: datetime | None = None  # the deadline the last handling was held to
    reworked: bool = False
    returned: bool = False
    extended: bool = False
    status: Status | None = None  # closed and rejected tickets are told apart by it
    ack_due: datetime | None = None  # deadlines in force (running clocks), as the ticket's detail shows them
    handle_due: datetime | None = None


def facts(ticket: TicketState, limits: Limits | None, rule: TimeRule, due: Due | None = None) -> Facts:
    """The facts of a ticket as its loop state stands. `due`: its deadlines in force when the caller has
    them already (the intake worker computes them once per kind of ticket and batch). Without limits (no
    小类 with time limits) nothing can be late: a step done counts as done on time."""
    due = due if due is not None else in_force(ticket, limits, rule)
    turns = ticket.assignments
    if not turns:
        return Facts(None, None, extended=bool(ticket.pauses), status=ticket.status, ack_due=due.acknowledge,
                     handle_due=due.handle)
    lead = turns[-1].unit
    own = [(i, t) for i, t in enumerate(turns) if t.unit == lead]
    pauses = [Span(p.started, p.ended) for p in ticket.pauses if p.ended is not None]
    acked = next((t for _, t in own if not t.rework and t.acknowledged_at is not None), None)
    ack_on_time = acked is not None and (
        limits is None or acked.acknowledged_at <= rule.add(acked.dispatched_at, limits.acknowledge, pauses))
    handled = [t for _, t in own if t.handled_at is not None]
    last = max(handled, key=lambda t: t.handled_at) if handled else None
    handled_due = None if last is None or limits is None else rule.add(last.clock_started, limits.handle, pauses)
    on_time = last is not None and (handled_due is None or last.handled_at <= handled_due)
    return Facts(
        first_dispatched_at=turns[0].dispatched_at, lead_unit=lead, acknowledged_on_time=ack_on_time,
        handled=last is not None, handled_on_time=on_time, handled_late=last is not None and not on_time,
        handled_due=handled_due,
        reworked=any(t.end is AssignmentEnd.REOPENED for _, t in own),
        returned=any(t.end is AssignmentEnd.RETURNED and not _upheld(ticket, i) for i, t in own),
        extended=bool(ticket.pauses), status=ticket.status,
        ack_due=due.acknowledge, handle_due=due.handle,
    )


def _upheld(ticket: TicketState, index: int) -> bool:
    """Whether the lead unit's return (its turn `index`) stood. A later turn of the ticket means it came back
    to this unit, the lead, so the return did not stand in the end (the 值班长's arbitration included). The
    last turn returned stands only if the command centre then rejected the ticket (不予立案: nobody had to
    handle it); while undecided (`returned`) it counts."""
    turns: Sequence[Assignment] = ticket.assignments
    return index == len(turns) - 1 and ticket.status is Status.REJECTED


# --- a row of counts: rates, score, rank -------------------------------------------------------------------

def rates(counts: Mapping[str, int]) -> dict[str, float | None]:
    """The seven rates of a row (None when the denominator is zero)."""
    return {name: (counts[num] / counts[den] if counts[den] else None) for name, (num, den, _) in RATES.items()}


def score(row_rates: Mapping[str, float | None], weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> float | None:
    """100 × Σ wᵢ·xᵢ / Σ wᵢ over the rates that are defined, x = the rate where more is better, else 1 − rate;
    a rate that is not defined drops out rather than counting as zero or as perfect. None when none is."""
    parts = {}
    for name, weight in weights.items():
        rate_name = WEIGHT_RATES[name]
        value = row_rates.get(rate_name)
        if value is not None and weight > 0:
            parts[name] = (weight, value if rate_name in GOOD_RATES else 1.0 - value)
    total = sum(w for w, _ in parts.values())
    if not total:
        return None
    return round(100.0 * sum(w * x for w, x in parts.values()) / total, 2)


def ranks(scores: Sequence[tuple[float | None, int]], min_dispatched: int = 1) -> list[int | None]:
    """Competition ranks (1, 2, 2, 4) of rows given as (score, dispatched): best score first, ties share a
    rank. A row with fewer than `min_dispatched` tickets, or without a score, gets None."""
    ranked = sorted((s, i) for i, (s, n) in enumerate(scores) if s is not None and n >= min_dispatched)
    ranked.sort(key=lambda si: -si[0])
    out: list[int | None] = [None] * len(scores)
    previous: float | None = None
    rank = 0
    for position, (s, i) in enumerate(ranked, start=1):
        if s != previous:
            rank, previous = position, s
        out[i] = rank
    return out


def board_order(rank: int | None, dispatched: int, key: str | None) -> tuple:
    """The order of a table's rows: by rank, unranked last; within a shared rank the row with more tickets
    first (of two units with every case on time, the one that handled 300 before the one that handled 2)."""
    return (rank is None, rank or 0, -dispatched, key is None, key or "")


def boards(ranked: Sequence[tuple[str | None, int | None, int]], size: int) -> dict[str, list]:
    """红黑榜 from rows given as (key, rank, dispatched): the keys of the best ranked rows (红榜, best first)
    and of the worst (黑榜, worst first), `size` each; within a shared rank the row with more tickets comes
    first on either board (it weighs more, for good or ill). A row is on one board at most, so with fewer
    than 2 × size ranked rows each board takes half."""
    rows = [(r, n, k) for k, r, n in ranked if r is not None]
    best = [k for r, n, k in sorted(rows, key=lambda x: board_order(x[0], x[1], x[2]))]
    worst = [k for r, n, k in sorted(rows, key=lambda x: (-x[0], -x[1], x[2] is None, x[2] or ""))]
    n = min(size, len(rows) // 2)
    red = best[:n]
    return {"red": red, "black": [k for k in worst if k not in red][:n]}


def formulas(weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> dict[str, str]:
    """The formulas as the API and the exports state them."""
    out = {name: f"{num} / {den} ({zh}; null when {den} = 0)" for name, (num, den, zh) in RATES.items()}
    terms = " + ".join(f"{w:g}×{WEIGHT_RATES[k] if WEIGHT_RATES[k] in GOOD_RATES else '(1 − ' + WEIGHT_RATES[k] + ')'}"
                       for k, w in weights.items() if w > 0)
    out["score"] = f"100 × ({terms}) / Σ weights of the rates defined (综合得分)"
    out["rank"] = "1 = best score; equal scores share a rank (1, 2, 2, 4) (排名)"
    return out


def parse_weights(text: str) -> dict[str, float]:
    """`on_time=0.30,close=0.20,...` → weights; names outside WEIGHT_RATES or negative numbers refused."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in WEIGHT_RATES:
            raise ValueError(f"unknown weight {name!r}; known: {', '.join(WEIGHT_RATES)}")
        try:
            out[name] = float(value)
        except ValueError:
            raise ValueError(f"weight {name!r} must be a number, got {value!r}") from None
        if out[name] < 0:
            raise ValueError(f"weight {name!r} must not be negative")
    if not any(out.values()):
        raise ValueError("at least one weight must be above zero")
    return out
