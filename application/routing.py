"""Routing: where a point is (district → street → community → grid), who is responsible (权责清单, special zones),
and why — the decision of the contract's `GET /api/v1/route` and `yunguan route`, and of every report's opening.

`RoutingContext` is what a process holds in memory to decide without touching the database; `RoutingCache`
keeps it current. Every write to areas, zones, duties or units ends with `NOTIFY yunguan_areas` in the same
transaction (store.areas, store.duties, store.categories); the cache LISTENs on its own connection and reloads
on the next use after a notification, and when the city's day turns (areas are valid by date). Each use costs
one `SELECT 1` on the listening connection (the worker uses the cache once per batch, never per report): the
notification of a change committed before that round trip began is always read by it, whereas only looking at
what has already arrived on the socket left a window of a few milliseconds in which a report sent right after
`yunguan duties load` was routed by the old rules (a CI failure of stop 22). If the listening connection
breaks, the cache reloads and listens again, so a missed notification costs one reload, not a stale router.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import psycopg
from sqlalchemy.engine import Engine

from dispatch.model import Unit
from gis.areas import city_today
from gis.duties import Duties
from gis.router import Placement, Router
from store.areas import load_areas
from store.duties import CHANNEL, default_kinds, load_rules, load_units, load_zones, place_names

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoutingContext:
    """What the worker holds in memory to route without touching the database."""

    router: Router
    duties: Duties
    border_flag_m: float = 30.0
    place_names: tuple[str, ...] | None = None  # the gazetteer's names (None: geocoding reads them itself)


def _area_json(placement: Placement) -> dict:
    return {level: ({"code": ref.code, "name": ref.name} if ref else None) for level, ref in placement.areas.items()}


def decide_route(ctx: RoutingContext, lon: float, lat: float, category: str | None = None) -> dict:
    """The routing decision of the contract: areas per level, the unit, the rule and the method, and why:
    the polygons hit, the distance to the district border (flagged when close), the special zone."""
    return decision_for(ctx, ctx.router.place(lon, lat), lon, lat, category)


def decide_routes(ctx: RoutingContext, rows: list[tuple[float, float, str | None]]) -> list[dict]:
    """`decide_route` for many points at once (bulk routing): the placements are computed as one batch."""
    points = [(lon, lat) for lon, lat, _ in rows]
    placements = ctx.router.place_many(points)
    zones = ctx.duties.zones_many(points)
    return [decision_for(ctx, p, lon, lat, category, z)
            for p, (lon, lat, category), z in zip(placements, rows, zones, strict=True)]


def decision_for(ctx: RoutingContext, placement: Placement, lon: float, lat: float, category: str | None,
                 zones: list | None = None) -> dict:
    """`zones`: the special zones at the point when the caller looked them up for a batch (None: look up)."""
    assignee = None
    rule = None
    zone = None
    district = placement.district
    if district is not None and placement.method != "manual":
        codes = {level: (ref.code if ref else None) for level, ref in placement.areas.items()}
        duty = ctx.duties.decide(category, codes, lon, lat, zones)
        if duty is not None:
            assignee = Unit(duty.unit.code, duty.unit.name, duty.unit.level)
            rule = duty.rule
            zone = {"code": duty.zone.code, "name": duty.zone.name, "kind": duty.zone.kind} if duty.zone else None
    near_border = placement.border_m is not None and placement.border_m < ctx.border_flag_m
    return {
        "area": _area_json(placement),
        "assignee": {"code": assignee.code, "name": assignee.name, "level": assignee.level} if assignee else None,
        "rule": rule,
        "method": placement.method,
        "location": {"lon": lon, "lat": lat},
        "hits": list(placement.hits),
        "distance_m": placement.distance_m,
        "border_m": round(placement.border_m, 1) if placement.border_m is not None else None,
        "near_border": near_border,
        "zone": zone,
    }


# What a ticket keeps of a routing decision (`tickets.routing`): how and why it was placed, not the areas or
# the unit, which have columns of their own.
ROUTING_KEYS = ("method", "rule", "hits", "distance_m", "border_m", "near_border", "zone", "geocode")


def explanation(decision: dict) -> dict:
    return {k: decision.get(k) for k in ROUTING_KEYS if k in decision}


NOWHERE = {"area": {lv: None for lv in ("district", "street", "community", "grid")}, "assignee": None,
            "rule": None, "method": "manual", "location": None, "hits": [], "distance_m": None, "border_m": None,
            "near_border": False, "zone": None}


@dataclass
class RoutingCache:
    engine: Engine
    nearest_tolerance_m: float
    border_flag_m: float = 30.0
    timezone: str = "Asia/Shanghai"
    today: Callable[[], date] | None = None  # the city's day (tests pass a clock); areas are valid by day
    _ctx: RoutingContext | None = None
    _day: date | None = None
    _listener: psycopg.Connection | None = None
    _changed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    reloads: int = 0

    @classmethod
    def from_settings(cls, engine: Engine, settings) -> RoutingCache:
        return cls(engine, settings.nearest_tolerance_m, settings.border_flag_m, settings.timezone)

    def _today(self) -> date:
        return self.today() if self.today is not None else city_today(self.timezone)

    def _listen(self) -> None:
        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._listener = psycopg.connect(url, autocommit=True)
        self._listener.add_notify_handler(self._on_notify)
        self._listener.execute(f"LISTEN {CHANNEL}")

    def _on_notify(self, _notify) -> None:
        self._changed = True

    def _notified(self) -> bool:
        """True when something changed since the last look (or the listener had to be re-opened)."""
        try:
            if self._listener is None or self._listener.closed:
                self._listen()
                return True
            # The server sends a notification committed before this query began ahead of its answer, and
            # psycopg hands it to _on_notify while reading that answer.
            self._listener.execute("SELECT 1")
            changed, self._changed = self._changed, False
            return changed
        except psycopg.Error:
            log.warning("routing: the LISTEN connection broke; reloading and listening again")
            self.close()
            return True

    def reload(self) -> RoutingContext:
        started = time.monotonic()
        self._day = self._today()
        router = Router(load_areas(self.engine, self._day), self.nearest_tolerance_m)
        with self.engine.connect() as conn:
            duties = Duties(load_rules(conn), load_zones(conn), load_units(conn), default_kinds(conn))
            names = place_names(conn)
        self._ctx = RoutingContext(router, duties, self.border_flag_m, names)
        self.reloads += 1
        log.info("router loaded %d areas, %d rules, %d zones in %.2f s", router.area_count, len(duties.rules),
                 len(duties.zones), time.monotonic() - started)
        return self._ctx

    def __call__(self) -> RoutingContext:
        with self._lock:
            changed = self._notified()  # listen before loading: a change during the load is not missed
            if self._ctx is None or changed or self._today() != self._day:  # new polygons may start today
                return self.reload()
            return self._ctx

    def close(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            except psycopg.Error:
                pass
            self._listener = None
