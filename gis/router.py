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
    """A district's boundary in a local metric frame (longitude scaled by the cosine of its latitude), cut
    into its segments under an STRtree: the nearest segment within the watch distance is one indexed query
    per point, where a distance to the whole boundary would visit every one of its thousands of vertices."""

    scale: float
    tree: STRtree

    @classmethod
    def of(cls, area: Area) -> _Border:
        scale = math.cos(math.radians(area.geometry.centroid.y))
        line = shapely.affinity.scale(area.geometry.boundary, xfact=scale, yfact=1.0, origin=(0, 0))
        segments = []
        for part in shapely.get_parts(line):
            xy = shapely.get_coordinates(part)
            if len(xy) >= 2:
                segments.append(shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1)))
        return cls(scale, STRtree(np.concatenate(segments) if segments else np.array([], dtype=object)))

    def metres(self, lon: float, lat: float) -> float | None:
        return self.metres_many(np.array([[lon, lat]]))[0]

    def metres_many(self, xy: np.ndarray) -> list[float | None]:
        points = shapely.points(xy[:, 0] * self.scale, xy[:, 1])
        (found, _), dist = self.tree.query_nearest(points, max_distance=BORDER_WATCH_M / METRES_PER_DEGREE,
                                                   return_distance=True, all_matches=False)
        out: list[float | None] = [None] * len(xy)
        for i, d in zip(found.tolist(), (dist * METRES_PER_DEGREE).tolist(), strict=True):
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
        self._level_refs = {level: [self._refs[a.code] for a in ix.areas] for level, ix in self._levels.items()}
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
        """The same answers as `place` for many points, with the tree queries, the `covers` tests and the
        border distances done in C over the whole batch (the worker's batches, bulk routing, benchmarks).
        Points inside exactly one area of every level — nearly all of them — are assembled on a short path;
        the others (shared edges, gaps, outside) go through `_assemble` like `place`."""
        n = len(coords)
        if n == 0:
            return []
        xy = np.asarray(coords, dtype=float)
        points = shapely.points(xy)
        firsts: dict[str, np.ndarray] = {}  # level -> index of the first (smallest-code) covering area, or -1
        single = np.ones(n, dtype=bool)  # exactly one covering area on every loaded level
        pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for level, index in self._levels.items():
            q, t = index.tree.query(points)  # bounding boxes, all pairs at once
            # Then `covers` on the candidate pairs, vectorized; the area geometries are prepared.
            keep = shapely.covers(index.geoms[t], points[q])
            q, t = q[keep], t[keep]
            order = np.lexsort((t, q))  # by point, then by area index (= code order: ties to the smallest)
            q, t = q[order], t[order]
            first = np.full(n, -1, dtype=np.int64)
            if len(q):
                starts = np.flatnonzero(np.r_[True, q[1:] != q[:-1]])
                first[q[starts]] = t[starts]
            single &= np.bincount(q, minlength=n) == 1
            firsts[level], pairs[level] = first, (q, t)
        borders: list[float | None] = [None] * n
        if "district" in firsts:
            district_first = firsts["district"]
            inside = np.flatnonzero(district_first >= 0)
            codes = self._levels["district"].areas
            for j in np.unique(district_first[inside]).tolist():
                rows = inside[district_first[inside] == j]
                for i, metres in zip(rows.tolist(), self._edge(codes[j].code).metres_many(xy[rows]), strict=True):
                    borders[i] = metres
        else:
            single[:] = False  # without districts every answer is `manual`: the general path says so
        out: list[Placement | None] = [None] * n
        present = [lv for lv in LEVELS if lv in firsts]
        columns = [(lv, self._level_refs[lv], firsts[lv].tolist()) for lv in present]
        template = dict.fromkeys(LEVELS)
        for i in np.flatnonzero(single).tolist():
            areas = dict(template)
            hits = []
            for lv, refs, first in columns:
                ref = refs[first[i]]
                areas[lv] = ref
                hits.append(ref.code)
            out[i] = Placement(areas, "contains", tuple(hits), None, borders[i])
        rest = np.flatnonzero(~single)
        if len(rest):
            covering: dict[str, dict[int, list[Area]]] = {}
            wanted = np.zeros(n, dtype=bool)
            wanted[rest] = True
            for level, (q, t) in pairs.items():
                per: dict[int, list[Area]] = {}
                areas_of = self._levels[level].areas
                sel = wanted[q]
                for i, j in zip(q[sel].tolist(), t[sel].tolist(), strict=True):
                    per.setdefault(i, []).append(areas_of[j])
                covering[level] = per
            nearest = self._nearest_many(points, xy, [i for i in rest.tolist() if firsts.get("district") is not None
                                                      and firsts["district"][i] < 0])
            for i in rest.tolist():
                out[i] = self._assemble(points[i], {lv: per.get(i, []) for lv, per in covering.items()}, borders[i],
                                        nearest.get(i, False))
        return out  # type: ignore[return-value]

    def _nearest_many(self, points: np.ndarray, xy: np.ndarray, outside: list[int]) -> dict[int, tuple[Area, float] | None]:
        """The nearest district within the tolerance for each point outside all districts, in one query."""
        if not outside or "district" not in self._levels or self.nearest_tolerance_m <= 0:
            return {}
        nearest: dict[int, tuple[Area, float] | None] = dict.fromkeys(outside)
        index = self._levels["district"]
        lat = float(np.abs(xy[outside, 1]).max())
        max_deg = self.nearest_tolerance_m / (METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.1))
        q, t = index.tree.query_nearest(points[outside], max_distance=max_deg, all_matches=True)
        candidates: dict[int, list[Area]] = {}
        for i, j in zip(q.tolist(), t.tolist(), strict=True):
            candidates.setdefault(outside[i], []).append(index.areas[j])
        for i, found in candidates.items():
            nearest[i] = self._closest(points[i], found)
        return nearest

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
