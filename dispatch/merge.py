"""Duplicate merge across channels: does a new report belong to an open ticket?

A hotline call, a grid worker's photo and a sensor alarm about the same burst pipe are one case. A report
attaches to an open ticket of the same 小类 whose location is within the category's merge distance (default
50 m, geodesic on WGS-84) and whose latest report is within the category's time window (default 24 h) of
this one, in either direction since channels deliver out of order. Among several, the nearest wins, then the
most recent. A report without a location (an address only) is never merged automatically: an operator
decides. The store pre-selects candidates with an index (e.g. ST_DWithin on geography) and calls this.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from pyproj import Geod

from dispatch.model import OPEN_STATUSES, Status
from dispatch.taxonomy import DEFAULT_MERGE_DISTANCE_M, DEFAULT_MERGE_WINDOW_H, Category


@dataclass(frozen=True)
class MergeRule:
    distance_m: float = DEFAULT_MERGE_DISTANCE_M
    window: timedelta = timedelta(hours=DEFAULT_MERGE_WINDOW_H)

    @classmethod
    def of(cls, category: Category | None) -> MergeRule:
        if category is None:
            return cls()
        return cls(category.merge_distance_m, timedelta(hours=category.merge_window_h))


@dataclass(frozen=True)
class Candidate:
    """An open ticket as the merge decision needs it; lon/lat in WGS-84."""

    ticket_no: str
    category: str | None
    status: Status
    lon: float | None
    lat: float | None
    last_reported_at: datetime


@dataclass(frozen=True)
class MergeDecision:
    ticket_no: str | None  # None: open a new ticket
    distance_m: float | None
    reason: str


@lru_cache(maxsize=1)
def _geod() -> Geod:
    return Geod(ellps="WGS84")


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Geodesic distance on the WGS-84 ellipsoid, in metres."""
    _, _, dist = _geod().inv(lon1, lat1, lon2, lat2)
    return float(dist)


def merge_target(
    category: str | None,
    lon: float | None,
    lat: float | None,
    reported_at: datetime,
    candidates: Iterable[Candidate],
    rule: MergeRule = MergeRule(),
) -> MergeDecision:
    """The open ticket this report should attach to, or why it opens a new one."""
    if not category:
        return MergeDecision(None, None, "no category: an operator classifies it first")
    if lon is None or lat is None:
        return MergeDecision(None, None, "no location: an operator merges address-only reports by hand")
    best: tuple[float, float, Candidate] | None = None
    for c in candidates:
        if c.category != category or c.status not in OPEN_STATUSES or c.lon is None or c.lat is None:
            continue
        gap = abs(reported_at - c.last_reported_at)
        if gap > rule.window:
            continue
        d = distance_m(lon, lat, c.lon, c.lat)
        if d > rule.distance_m:
            continue
        key = (d, gap.total_seconds(), c)
        if best is None or key[:2] < best[:2]:
            best = key
    if best is None:
        return MergeDecision(
            None, None, f"no open {category} ticket within {rule.distance_m:g} m and {rule.window} of this report"
        )
    d, _, c = best
    return MergeDecision(c.ticket_no, d, f"same category {category}, {d:.0f} m from ticket {c.ticket_no}")
