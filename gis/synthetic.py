"""Synthetic streets (街道), communities (社区) and grid cells (网格) inside real districts, for the demo.

Real street and grid boundaries come from a city's own GIS through `yunguan areas load`; the demo needs all
four levels to show routing to street offices and grid workers, so it makes them: each parent is split by
the Voronoi diagram of seeded points inside it and every cell is clipped to the parent. Children therefore
tile their parent exactly (shared edges, no gaps, no overlaps) and the same input always gives the same
areas. Every name says 合成 (synthetic).
"""
from __future__ import annotations

import random
from collections.abc import Iterable

import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon

from gis.areas import Area

# Children per parent: (min, max); a larger parent gets more, by area rank within its level.
SPLITS = {"street": (4, 8), "community": (3, 5), "grid": (2, 4)}
SUFFIX = {"street": "街道", "community": "社区", "grid": "网格"}
SHORT = {"district": "", "street": "街", "community": "社"}


def _seeds(parent: Area, count: int, rng: random.Random) -> list[Point]:
    minx, miny, maxx, maxy = parent.geometry.bounds
    points: list[Point] = []
    attempts = 0
    while len(points) < count and attempts < count * 500:
        attempts += 1
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if parent.geometry.contains(p):
            points.append(p)
    return points


def _multi(geom) -> MultiPolygon | None:
    polys = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon) and not g.is_empty]
    polys = [p for p in polys if p.area > 0]
    return MultiPolygon(polys) if polys else None


def split(parent: Area, level: str, count: int, prefix_name: str) -> list[Area]:
    """Tile `parent` with `count` Voronoi cells (fewer if seeds cannot be placed)."""
    rng = random.Random(f"{parent.code}:{level}")  # string seeds are stable across runs and platforms
    seeds = _seeds(parent, count, rng)
    if len(seeds) < 2:
        cells = [parent.geometry]
    else:
        diagram = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=parent.geometry.envelope.buffer(0.01))
        # Order cells by their seed so that numbering follows the seeds, not GEOS's output order.
        by_seed = []
        for cell in diagram.geoms:
            seed = next((i for i, s in enumerate(seeds) if cell.contains(s)), len(seeds))
            by_seed.append((seed, cell))
        cells = [cell.intersection(parent.geometry) for _, cell in sorted(by_seed, key=lambda x: x[0])]
    out = []
    n = 0
    for cell in cells:
        geom = _multi(cell)
        if geom is None:
            continue
        n += 1
        code = f"{parent.code}{n:03d}"
        out.append(Area(code, f"{prefix_name}第{n}{SUFFIX[level]}（合成）", level, parent.code, geom))
    return out


def _counts(parents: list[Area], level: str) -> dict[str, int]:
    low, high = SPLITS[level]
    ranked = sorted(parents, key=lambda a: a.geometry.area)
    out = {}
    for i, a in enumerate(ranked):
        out[a.code] = low + round((high - low) * i / max(len(ranked) - 1, 1))
    return out


def hierarchy(districts: Iterable[Area]) -> dict[str, list[Area]]:
    """Streets in every district, communities in every street, grid cells in every community."""
    levels: dict[str, list[Area]] = {"street": [], "community": [], "grid": []}
    parents = list(districts)
    names = {a.code: a.name for a in parents}
    for level, parent_level in (("street", "district"), ("community", "street"), ("grid", "community")):
        counts = _counts(parents, level)
        children: list[Area] = []
        for parent in parents:
            short = _short_name(parent, parent_level, names)
            children.extend(split(parent, level, counts[parent.code], short))
        for child in children:
            names[child.code] = child.name
        levels[level] = children
        parents = children
    return levels


def _short_name(parent: Area, level: str, names: dict[str, str]) -> str:
    """南关区 → 南关区; 南关区第3街道（合成） → 南关区3街; then 南关区3街2社 for grid cells."""
    if level == "district":
        return parent.name
    number = int(parent.code[-3:])
    grand = names.get(parent.parent_code or "", "")
    base = _short_name_from(grand)
    return f"{base}{number}{SHORT[level]}"


def _short_name_from(name: str) -> str:
    if "（合成）" not in name:
        return name
    head = name.replace("（合成）", "")
    head = head.replace("第", "").replace("街道", "街").replace("社区", "社")
    return head
