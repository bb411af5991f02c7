"""The worker's and the web's in-memory routing state, reloaded when areas, zones, duties or units change.

Every write to those tables ends with `NOTIFY yunguan_areas` in the same transaction (store.areas,
store.duties, store.categories); the cache LISTENs on its own connection and reloads on the next use after
a notification, and when the city's day turns (areas are valid by date) — never a database round trip per
report. If the listening connection breaks, the cache
reloads and listens again, so a missed notification costs one reload, not a stale router.
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

from gis.areas import city_today
from gis.duties import Duties
from gis.router import Router
from store.areas import district_units, load_areas
from store.duties import CHANNEL, default_kinds, load_rules, load_units, load_zones, place_names
from streams.intake import RoutingContext

log = logging.getLogger(__name__)


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
        self._listener.execute(f"LISTEN {CHANNEL}")

    def _notified(self) -> bool:
        """True when something changed since the last look (or the listener had to be re-opened)."""
        try:
            if self._listener is None or self._listener.closed:
                self._listen()
                return True
            return any(True for _ in self._listener.notifies(timeout=0))
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
        self._ctx = RoutingContext(router, district_units(self.engine), duties, self.border_flag_m, names)
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
