"""综合评价月报 (issue 16: "a printable monthly report page"): the figures of one calendar month, gathered from
application.evaluate (the same tables the API answers with, so the printed numbers are the API's) and
shaped for web/templates/evaluation_report.html, which prints to A4. No SQL here."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Connection

from application import evaluate
from dispatch import kpi

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
TOP_CATEGORIES = 10


class BadMonth(ValueError):
    """`month` is not YYYY-MM."""


def month_period(raw: str | None, timezone: str, now: datetime) -> tuple[date, date]:
    """The month asked for (`YYYY-MM`), or the current month of the city when none is given."""
    if raw in (None, ""):
        return evaluate.current_month(timezone, now)
    found = MONTH.match(raw)
    if not found or not 1900 <= int(found.group(1)) <= 9998:  # the calendar's end: December 9999 has no next month
        raise BadMonth(raw)
    first = date(int(found.group(1)), int(found.group(2)), 1)
    return first, (first + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class Week:
    """A stretch of the month's days (the trend table's row): 1–7, 8–14, … and the rest."""

    first: date
    last: date
    intake: int
    dispatched: int
    closed: int
    overdue: int


def _weeks(days: list[dict]) -> list[Week]:
    out = []
    for i in range(0, len(days), 7):
        chunk = days[i:i + 7]
        out.append(Week(date.fromisoformat(chunk[0]["date"]), date.fromisoformat(chunk[-1]["date"]),
                        *(sum(d[k] for d in chunk) for k in ("intake_total", "dispatched", "closed", "overdue"))))
    return out


def _with_boards(table: dict) -> dict:
    """Each row marked with its board (red, black or None), for the template."""
    red, black = set(table["boards"]["red"]), set(table["boards"]["black"])
    for row in table["rows"]:
        code = row["key"]["code"]
        row["board"] = "red" if row["rank"] is not None and code in red else \
            "black" if row["rank"] is not None and code in black else None
    return table


def build(conn: Connection, first: date, end: date, *, now: datetime, timezone: str,
          policy: evaluate.Policy) -> dict:
    """Everything the report shows: the city's totals and rates (the unit table's rows added up: every ticket
    has one lead unit or none, so the sum is the city), the unit ranking with its boards, the districts, the
    ten categories with most tickets, and the month's intake and closures week by week."""
    def table(by: str) -> dict:
        return evaluate.evaluation(conn, by, first, end, now=now, timezone=timezone, policy=policy)

    units, districts, categories = _with_boards(table("unit")), table("district"), table("category")
    totals = {name: sum(r["counts"][name] for r in units["rows"]) for name in kpi.COUNTS}
    trend = evaluate.trends(conn, first, end, now=now, timezone=timezone)
    top = sorted((r for r in categories["rows"] if r["key"]["code"] and r["counts"]["dispatched"]),
                 key=lambda r: (-r["counts"]["dispatched"], r["key"]["code"]))[:TOP_CATEGORIES]
    return {
        "first": first, "end": end, "last": end - timedelta(days=1), "evaluated_at": now,
        "totals": totals, "rates": kpi.rates(totals),
        "intake": sum(d["intake_total"] for d in trend["days"]),
        "units": units, "districts": districts, "top_categories": top,
        "weeks": _weeks(trend["days"]), "board_size": policy.board_size, "weights": units["weights"],
        "min_dispatched": policy.min_dispatched,
    }


def percent(rate: float | None) -> str:
    """A rate as the page shows it: one decimal and %, or — when it has no denominator."""
    return "—" if rate is None else f"{rate * 100:.1f}%"
