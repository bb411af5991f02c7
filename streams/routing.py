"""The worker's and the web's in-memory routing state, reloaded when areas or units change."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.router import Router
from store.areas import district_units, load_areas
from streams.intake import RoutingContext

log = logging.getLogger(__name__)


@dataclass
class RoutingCache:
    """Areas and units held in memory; reloaded when their fingerprint in the database changes.

    The check is one tiny query every `check_every_s`, never one per report."""

    engine: Engine
    nearest_tolerance_m: float
    check_every_s: float = 5.0
    _ctx: RoutingContext | None = None
    _fingerprint: tuple | None = None
    _checked_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _current_fingerprint(self) -> tuple:
        with self.engine.connect() as conn:
            return tuple(
                conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM areas), (SELECT coalesce(max(id), 0) FROM areas), "
                        "(SELECT count(*) FROM units), (SELECT md5(coalesce(string_agg(code || area_code, ',' "
                        "ORDER BY code), '')) FROM units WHERE area_code IS NOT NULL)"
                    )
                ).one()
            )

    def reload(self) -> RoutingContext:
        fingerprint = self._current_fingerprint()
        router = Router(load_areas(self.engine), self.nearest_tolerance_m)
        self._ctx = RoutingContext(router, district_units(self.engine))
        self._fingerprint = fingerprint
        self._checked_at = time.monotonic()
        log.info("router loaded %d areas", router.area_count)
        return self._ctx

    def __call__(self) -> RoutingContext:
        with self._lock:
            if self._ctx is None:
                return self.reload()
            if time.monotonic() - self._checked_at >= self.check_every_s:
                self._checked_at = time.monotonic()
                if self._current_fingerprint() != self._fingerprint:
                    return self.reload()
            return self._ctx
