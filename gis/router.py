"""The in-memory router: which areas contain a point, level by level, without a database round trip.

Each level is an STRtree over prepared Shapely geometries. `covers` (not `contains`) is the test,
so that a point on a boundary belongs to an area, the same answer as PostGIS ST_Covers. A point on
an edge shared by two areas goes to the one with the smallest code: deterministic, and stable
when the areas are reloaded.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import shapely
import shapely.ops
from shapely import STRtree
from shapely.geometry import Point

from gis.areas import LEVELS, Area

METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class AreaRef:
    code: str
    name: str


@dataclass(frozen=True)
class Placement:
    """Where a point lies: one area per level (None where no area of that level is loaded or hit)."""

    areas: dict[str, AreaRef | None]
    method: str  # contains | boundary | nearest | manual
    hits: tuple[str, ...] = ()
    distance_m: float | None = None
    border_m: float | None = None  # from the point to its district's boundary (属地 disputes start near it)

    @property
    def district(self) -> AreaRef | None:
        return self.areas.get("district")


@dataclass
class _LevelIndex:
    areas: list[Area]
    tree: STRtree = field(init=False)

    def __post_init__(self) -> None:
        geoms = [a.geometry for a in self.areas]
        for g in geoms:
            shapely.prepare(g)
        self.tree = STRtree(geoms)


def _approx_metres(p: Point, geom) -> float:
    """Distance in metres from a WGS-84 point, scaling longitude by the latitude's cosine."""
    scale = math.cos(math.radians(p.y))
    near = shapely.ops.nearest_points(p, geom)[1]
    dx = (near.x - p.x) * scale
    dy = near.y - p.y
    return math.hypot(dx, dy) * METRES_PER_DEGREE


class Router:
    def __init__(self, areas: Iterable[Area], nearest_tolerance_m: float = 200.0) -> None:
        by_level: dict[str, list[Area]] = {level: [] for level in LEVELS}
        for area in areas:
            by_level[area.level].append(area)
        self._levels = {
            level: _LevelIndex(sorted(items, key=lambda a: a.code)) for level, items in by_level.items() if items
        }
        self.nearest_tolerance_m = nearest_tolerance_m
        self._by_code = {level: {a.code: a for a in ix.areas} for level, ix in self._levels.items()}

    @property
    def area_count(self) -> int:
        return sum(len(ix.areas) for ix in self._levels.values())

    def _covering(self, level: str, point: Point) -> list[Area]:
        index = self._levels.get(level)
        if index is None:
            return []
        candidates = index.tree.query(point)  # bounding boxes only; covers() decides
        return [index.areas[i] for i in sorted(candidates) if index.areas[i].geometry.covers(point)]

    def place(self, lon: float, lat: float) -> Placement:
        point = Point(lon, lat)
        areas: dict[str, AreaRef | None] = {}
        method = "contains"
        hits: list[str] = []
        distance = None
        for level in LEVELS:
            covering = self._covering(level, point)
            hits.extend(a.code for a in covering)
            if covering:
                if len(covering) > 1:
                    method = "boundary" if method == "contains" else method
                chosen = covering[0]
                areas[level] = AreaRef(chosen.code, chosen.name)
                continue
            if level == "district" and level in self._levels:
                nearest = self._nearest(level, point)
                if nearest is not None:
                    area, distance = nearest
                    areas[level] = AreaRef(area.code, area.name)
                    method = "nearest"
                    continue
                return Placement({lv: None for lv in LEVELS}, "manual", tuple(hits), None)
            areas[level] = None
        if "district" not in self._levels:
            method = "manual"
        border = None
        district = areas.get("district")
        if district is not None and method != "nearest":
            border = _approx_metres(point, self._by_code["district"][district.code].geometry.boundary)
        return Placement(areas, method, tuple(hits), distance, border)

    def _nearest(self, level: str, point: Point) -> tuple[Area, float] | None:
        if self.nearest_tolerance_m <= 0:  # `nearest` switched off: outside means the operator queue
            return None
        index = self._levels[level]
        max_deg = self.nearest_tolerance_m / (METRES_PER_DEGREE * max(math.cos(math.radians(point.y)), 0.1))
        found = index.tree.query_nearest(point, max_distance=max_deg, all_matches=True)
        if len(found) == 0:
            return None
        best = min((index.areas[i] for i in found), key=lambda a: (_approx_metres(point, a.geometry), a.code))
        metres = _approx_metres(point, best.geometry)
        if metres > self.nearest_tolerance_m:
            return None
        return best, metres
