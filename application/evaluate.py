"""综合评价 v1 (contract §8): the evaluation table of a breakdown and period, the cases behind one figure,
hotspots and daily trends. The formulas are the domain's (dispatch.kpi); the counts come from the facts table
(store.kpi), written with every change of a ticket, so nothing here replays history.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Engine

from dispatch import kpi
from dispatch.vocabulary import CHANNELS
from store import kpi as facts_table
from store.loop import LoopContext

NO_KEY = "none"  # the key of the row of tickets without one (no area at that level, say)


@dataclass(frozen=True)
class Policy:
    """What configuration decides: the score's weights, the 红黑榜 size, the fewest tickets for a rank."""

    weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType(dict(kpi.DEFAULT_WEIGHTS)))
    board_size: int = 3
    min_dispatched: int = 1

    @classmethod
    def from_settings(cls, settings) -> Policy:
        return cls(MappingProxyType(kpi.parse_weights(settings.evaluation_weights)), settings.evaluation_board_size,
                   settings.evaluation_min_dispatched)


def city_period(start: date, end: date, timezone: str, now: datetime) -> facts_table.Period:
    """The city's days [start, end) as instants: midnight in the city's time zone."""
    tz = ZoneInfo(timezone)
    return facts_table.Period(datetime.combine(start, time(), tz), datetime.combine(end, time(), tz), now)


def current_month(timezone: str, now: datetime) -> tuple[date, date]:
    """The default period: the current month in the city's time zone, `to` exclusive."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    first = today.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1)


def evaluation(conn: Connection, by: str, start: date, end: date, *, now: datetime, timezone: str,
               policy: Policy = Policy()) -> dict:
    """The table of one breakdown: a row per key with the nine counts, seven rates, score and rank (best
    first; rows without a rank after), the formulas, and the 红黑榜 (extension `boards`)."""
    counted = facts_table.counts(conn, by, city_period(start, end, timezone, now))
    named = facts_table.names(conn, by, [k for k, _ in counted if k is not None], start)
    rows = []
    for key, counts in counted:
        rates = kpi.rates(counts)
        rows.append({"key": {"code": key, "name": named.get(key) if key is not None else None},
                     "counts": counts, "rates": rates, "score": kpi.score(rates, policy.weights)})
    for row, rank in zip(rows, kpi.ranks([(r["score"], r["counts"]["dispatched"]) for r in rows],
                                         policy.min_dispatched), strict=True):
        row["rank"] = rank
    rows.sort(key=lambda r: kpi.board_order(r["rank"], r["counts"]["dispatched"], r["key"]["code"]))
    return {
        "by": by, "from": start.isoformat(), "to": end.isoformat(), "evaluated_at": now.isoformat(),
        "formulas": kpi.formulas(policy.weights), "weights": dict(policy.weights),
        "min_dispatched": policy.min_dispatched,
        "boards": kpi.boards([(r["key"]["code"], r["rank"], r["counts"]["dispatched"]) for r in rows],
                             policy.board_size),
        "rows": rows,
    }


def known_key(conn: Connection, by: str, key: str) -> bool:
    return key == NO_KEY or facts_table.key_exists(conn, by, key)


def known_category(conn: Connection, code: str) -> bool:
    return len(code) <= 16 and facts_table.key_exists(conn, "category", code)


def cases(conn: Connection, by: str, key: str, count: str, start: date, end: date, *, now: datetime,
          timezone: str, limit: int = 50, after: int | None = None) -> dict:
    """A page of the tickets behind one count of one row (oldest ticket first); `total` is the figure."""
    items, last, total = facts_table.cases(conn, by, None if key == NO_KEY else key, count,
                                           city_period(start, end, timezone, now), limit=limit, after=after)
    return {"by": by, "key": key, "count": count, "from": start.isoformat(), "to": end.isoformat(),
            "total": total, "items": items, "next_cursor": str(last) if last is not None else None}


def hotspots(conn: Connection, level: str, start: date, end: date, *, now: datetime, timezone: str,
             category: str | None = None, simplify_m: float = 0.0) -> str:
    """Tickets opened in the period per area of `level` (the areas valid today), as GeoJSON text."""
    period = city_period(start, end, timezone, now)
    today = now.astimezone(ZoneInfo(timezone)).date()
    return facts_table.hotspots(conn, level, period.since, period.until, today, category, simplify_m)


def trends(conn: Connection, start: date, end: date, *, now: datetime, timezone: str) -> dict:
    """One entry per day of [start, end): tickets opened per channel, first dispatches, closures, deadlines
    missed (zeros included, so a chart has every day)."""
    period = city_period(start, end, timezone, now)
    series = facts_table.trends(conn, period.since, period.until, now, timezone)
    days = {start + timedelta(days=i): {"intake": dict.fromkeys(CHANNELS, 0), "dispatched": 0, "closed": 0,
                                        "overdue": 0} for i in range((end - start).days)}
    for day, channel, n in series["intake"]:
        if day in days:
            days[day]["intake"][channel] = days[day]["intake"].get(channel, 0) + n
    for name in ("dispatched", "closed", "overdue"):
        for day, n in series[name]:
            if day in days:
                days[day][name] += n
    return {"from": start.isoformat(), "to": end.isoformat(), "evaluated_at": now.isoformat(), "days": [
        {"date": d.isoformat(), **v, "intake_total": sum(v["intake"].values())} for d, v in days.items()]}


def rebuild_facts(engine: Engine, ctx_of: Callable[[Connection], LoopContext], batch: int = 2000) -> int:
    """(Re)compute the facts of every ticket from its loop state (the state its history produced, as every
    action loads it), `batch` tickets per transaction; returns how many. Safe while the platform runs: each
    batch locks its tickets while it reads and writes them, and every later change writes its own facts."""
    done, after = 0, 0
    while True:
        with engine.begin() as conn:
            ctx = ctx_of(conn)
            states = facts_table.ticket_batch(conn, after, batch)
            if not states:
                return done
            facts_table.write(conn, [(tid, ctx.facts(state), None) for tid, state in states])
        done += len(states)
        after = states[-1][0]
