"""The in-memory router: which areas contain a point, level by level, without a database round trip.

Each level is an STRtree over prepared Shapely geometries. `covers` (not `contains`) is the test,
so that a point on a boundary belongs to an area, the same answer as PostGIS ST_Covers. A point on
an edge shared by two areas goes to the one with the smallest code: deterministic, and stable
when the areas are reloaded.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import shapely
import shapely.affinity
import shapely.ops
from shapely import STRtree
from shapely.geometry import Point

from gis.areas import LEVELS, Area

METRES_PER_DEGREE = 111_320.0
# Border distances are measured only this close to a border: beyond it, no one doubts the district, and
# measuring to a real boundary of thousands of vertices would cost more than the whole placement.
BORDER_WATCH_M = 1000.0


@dataclass(frozen=True)
class AreaRef:
    code: str
    name: str


class Placement(NamedTuple):
    """Where a point lies: one area per level (None where no area of that level is loaded or hit).
    A named tuple: bulk routing builds hundreds of thousands of these."""

    areas: dict[str, AreaRef | None]
    method: str  # contains | boundary | nearest | manual
    hits: tuple[str, ...] = ()
    distance_m: float | None = None
    border_m: float | None = None  # to the district's boundary when within BORDER_WATCH_M (属地 disputes start there)

    @property
    def district(self) -> AreaRef | None:
        return self.areas.get("district")


@dataclass
class _LevelIndex:
    areas: list[Area]
    tree: STRtree = field(init=False)

    def __post_init__(self) -> None:
        self.geoms = np.array([a.geometry for a in self.areas], dtype=object)
        shapely.prepare(self.geoms)
        self.tree = STRtree(self.geoms)


@dataclass
class _Border:
    """A district's boundary in a local metric frame (longitude scaled by the cosine of its latitude), so
    distances are one GEOS call; prepared, so the 'is it near at all' test is cheap."""

    scale: float
    line: object

    @classmethod
    def of(cls, area: Area) -> _Border:
        scale = math.cos(math.radians(area.geometry.centroid.y))
        line = shapely.affinity.scale(area.geometry.boundary, xfact=scale, yfact=1.0, origin=(0, 0))
        shapely.prepare(line)
        return cls(scale, line)

    def metres(self, lon: float, lat: float) -> float | None:
        p = Point(lon * self.scale, lat)
        watch = BORDER_WATCH_M / METRES_PER_DEGREE
        if not shapely.dwithin(self.line, p, watch):
            return None
        return float(shapely.distance(self.line, p)) * METRES_PER_DEGREE

    def metres_many(self, xy: np.ndarray) -> list[float | None]:
        points = shapely.points(xy[:, 0] * self.scale, xy[:, 1])
        near = shapely.dwithin(self.line, points, BORDER_WATCH_M / METRES_PER_DEGREE)
        out: list[float | None] = [None] * len(xy)
        if near.any():
            dist = shapely.distance(self.line, points[near]) * METRES_PER_DEGREE
            for i, d in zip(np.flatnonzero(near).tolist(), dist.tolist(), strict=True):
                out[i] = d
        return out


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
        self._refs = {a.code: AreaRef(a.code, a.name) for ix in self._levels.values() for a in ix.areas}
        self._borders: dict[str, _Border] = {}  # built on first use per district

    @property
    def area_count(self) -> int:
        return sum(len(ix.areas) for ix in self._levels.values())

    def _covering(self, level: str, point: Point) -> list[Area]:
        index = self._levels.get(level)
        if index is None:
            return []
        candidates = index.tree.query(point)  # bounding boxes only; prepared covers() decides
        return [index.areas[i] for i in sorted(candidates) if index.areas[i].geometry.covers(point)]

    def place(self, lon: float, lat: float) -> Placement:
        point = Point(lon, lat)
        covering = {level: self._covering(level, point) for level in self._levels}
        district = covering.get("district")
        border = self._border(district[0].code, lon, lat) if district else None
        return self._assemble(point, covering, border)

    def place_many(self, coords: Sequence[tuple[float, float]]) -> list[Placement]:
        """The same answers as `place` for many points, with the tree queries, the `covered_by` tests and
        the border distances done in C over the whole batch (bulk routing, audits, benchmarks)."""
        if len(coords) == 0:
            return []
        xy = np.asarray(coords, dtype=float)
        points = shapely.points(xy)
        covering: dict[str, list[list[Area]]] = {}
        for level, index in self._levels.items():
            q, t = index.tree.query(points)  # bounding boxes, all pairs at once
            # Then `covers` on the candidate pairs, vectorized; the area geometries are prepared.
            keep = shapely.covers(index.geoms[t], points[q])
            q, t = q[keep], t[keep]
            order = np.lexsort((t, q))  # by point, then by area index (= code order: ties to the smallest)
            per: list[list[Area]] = [[] for _ in range(len(xy))]
            areas = index.areas
            for i, j in zip(q[order].tolist(), t[order].tolist(), strict=True):
                per[i].append(areas[j])
            covering[level] = per
        borders: list[float | None] = [None] * len(xy)
        by_district: dict[str, list[int]] = {}
        for i, hit in enumerate(covering.get("district", [[]] * len(xy))):
            if hit:
                by_district.setdefault(hit[0].code, []).append(i)
        for code, rows in by_district.items():
            for i, metres in zip(rows, self._edge(code).metres_many(xy[rows]), strict=True):
                borders[i] = metres
        nearest: dict[int, tuple[Area, float] | None] = {}
        if "district" in self._levels and self.nearest_tolerance_m > 0:
            outside = [i for i, hit in enumerate(covering["district"]) if not hit]
            nearest = dict.fromkeys(outside)
            if outside:  # one nearest-neighbour query for every point outside all districts
                index = self._levels["district"]
                lat = float(np.abs(xy[outside, 1]).max())
                max_deg = self.nearest_tolerance_m / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.1))
                q, t = index.tree.query_nearest(points[outside], max_distance=max_deg, all_matches=True)
                candidates: dict[int, list[Area]] = {}
                for i, j in zip(q.tolist(), t.tolist(), strict=True):
                    candidates.setdefault(outside[i], []).append(index.areas[j])
                for i, found in candidates.items():
                    nearest[i] = self._closest(points[i], found)
        levels = list(covering.items())
        return [self._assemble(points[i], {lv: per[i] for lv, per in levels}, borders[i], nearest.get(i, False))
                for i in range(len(xy))]

    def _assemble(self, point: Point, covering: dict[str, list[Area]], border: float | None,
                  nearest: tuple[Area, float] | None | bool = False) -> Placement:
        """`nearest`: the nearest district already found for a point outside all (None: none in reach);
        False: not looked up yet."""
        areas: dict[str, AreaRef | None] = {}
        method = "contains"
        hits: list[str] = []
        distance = None
        for level in LEVELS:
            found = covering.get(level, ())
            if found:
                hits.extend(a.code for a in found)
                if len(found) > 1 and method == "contains":
                    method = "boundary"
                areas[level] = self._refs[found[0].code]
                continue
            if level == "district" and level in self._levels:
                if nearest is False:
                    nearest = self._nearest(level, point)
                if nearest is None:
                    return Placement({lv: None for lv in LEVELS}, "manual", tuple(hits), None)
                area, distance = nearest
                areas[level] = AreaRef(area.code, area.name)
                method = "nearest"
                continue
            areas[level] = None
        if "district" not in self._levels:
            method = "manual"
        return Placement(areas, method, tuple(hits), distance, border if method != "nearest" else None)

    def _edge(self, code: str) -> _Border:
        edge = self._borders.get(code)
        if edge is None:
            edge = self._borders[code] = _Border.of(self._by_code["district"][code])
        return edge

    def _border(self, code: str, lon: float, lat: float) -> float | None:
        return self._edge(code).metres(lon, lat)

    def _nearest(self, level: str, point: Point) -> tuple[Area, float] | None:
        if self.nearest_tolerance_m <= 0:  # `nearest` switched off: outside means the operator queue
            return None
        index = self._levels[level]
        max_deg = self.nearest_tolerance_m / (METRES_PER_DEGREE * max(math.cos(math.radians(point.y)), 0.1))
        found = index.tree.query_nearest(point, max_distance=max_deg, all_matches=True)
        if len(found) == 0:
            return None
        return self._closest(point, [index.areas[i] for i in found])

    def _closest(self, point: Point, found: list[Area]) -> tuple[Area, float] | None:
        best = min(found, key=lambda a: (_approx_metres(point, a.geometry), a.code))
        metres = _approx_metres(point, best.geometry)
        if metres > self.nearest_tolerance_m:
            return None
        return best, metres
