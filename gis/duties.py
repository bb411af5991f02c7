"""The responsibility matrix (权责清单): which unit answers for a category at a place.

A rule names a unit directly (`2201-RAIL`) or by a pattern resolved at the place: `street_office` (the
office of the street containing the point), `district:<kind>` (that district's branch of a department,
e.g. `district:greening`), `city:<kind>`. Rules may be limited to a category (a code prefix: `0205` is every
街面秩序 subclass), to an area (a code prefix at any level), and to a special zone kind (park, campus,
railway, trunk_road); the highest priority wins, then the more specific rule. When no rule resolves, the
category's own default unit kind (from the taxonomy) is used, then the district command centre. The
decision names the rule, so an operator can see why.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

ZONE_KINDS = ("park", "campus", "railway", "trunk_road", "scenic", "other")


@dataclass(frozen=True)
class Rule:
    name: str
    unit: str
    category: str = ""
    area: str | None = None
    zone: str | None = None
    priority: int = 0

    def specificity(self) -> tuple[int, int, int]:
        return (1 if self.zone else 0, len(self.area or ""), len(self.category))


@dataclass(frozen=True)
class Zone:
    code: str
    name: str
    kind: str
    geometry: BaseGeometry  # WGS-84 polygon (a line zone is stored buffered)


@dataclass(frozen=True)
class UnitInfo:
    code: str
    name: str
    level: str
    kind: str
    area_code: str | None


@dataclass(frozen=True)
class Duty:
    unit: UnitInfo
    rule: str
    zone: Zone | None = None


class RuleError(ValueError):
    pass


def parse_rules(rows: Iterable[Mapping]) -> list[Rule]:
    """From YAML mappings or CSV rows; every problem is reported with the rule's position."""
    rules, problems = [], []
    for i, row in enumerate(rows, start=1):
        name = str(row.get("name") or "").strip()
        unit = str(row.get("unit") or "").strip()
        zone = (str(row.get("zone") or "").strip()) or None
        if not name or not unit:
            problems.append(f"rule {i}: `name` and `unit` are required")
            continue
        if zone is not None and zone not in ZONE_KINDS:
            problems.append(f"rule {i} ({name}): zone must be one of {', '.join(ZONE_KINDS)}")
            continue
        if ":" in unit and unit.split(":", 1)[0] not in ("district", "city"):
            problems.append(f"rule {i} ({name}): unit pattern must be district:<kind> or city:<kind>")
            continue
        try:
            priority = int(row.get("priority") or 0)
        except (TypeError, ValueError):
            problems.append(f"rule {i} ({name}): priority must be an integer")
            continue
        rules.append(Rule(name, unit, str(row.get("category") or "").strip(),
                          (str(row.get("area") or "").strip()) or None, zone, priority))
    if problems:
        raise RuleError("; ".join(problems))
    return rules


class Duties:
    def __init__(self, rules: Iterable[Rule], zones: Iterable[Zone], units: Iterable[UnitInfo],
                 default_kinds: Mapping[str, str] | None = None) -> None:
        self.rules = sorted(rules, key=lambda r: (-r.priority, tuple(-x for x in r.specificity()), r.name))
        self.zones = list(zones)
        for z in self.zones:
            shapely.prepare(z.geometry)
        self._zone_geoms = np.array([z.geometry for z in self.zones], dtype=object)
        self._zone_tree = STRtree(self._zone_geoms) if self.zones else None
        self.units = {u.code: u for u in units}
        self._by_area_kind = {(u.area_code, u.kind): u for u in self.units.values() if u.area_code}
        self._city_kind = {u.kind: u for u in self.units.values() if u.level == "city"}
        self.default_kinds = dict(default_kinds or {})  # 小类 code -> unit kind (taxonomy)

    def zones_at(self, lon: float, lat: float) -> list[Zone]:
        if self._zone_tree is None:
            return []
        p = Point(lon, lat)
        return [self.zones[i] for i in sorted(self._zone_tree.query(p)) if self.zones[i].geometry.covers(p)]

    def zones_many(self, points: list[tuple[float, float]]) -> list[list[Zone]]:
        """`zones_at` for many points in one vectorized query (the worker routes a batch at a time)."""
        out: list[list[Zone]] = [[] for _ in points]
        if self._zone_tree is None or not points:
            return out
        geoms = shapely.points(points)
        q, t = self._zone_tree.query(geoms)  # (point, zone) pairs whose boxes meet
        keep = shapely.covers(self._zone_geoms[t], geoms[q])  # then the exact test on the prepared zones
        for i, j in sorted(zip(q[keep].tolist(), t[keep].tolist(), strict=True)):
            out[i].append(self.zones[j])
        return out

    def _resolve(self, unit: str, areas: Mapping[str, str | None]) -> UnitInfo | None:
        if unit == "street_office":
            return self._by_area_kind.get((areas.get("street"), "street_office"))
        if unit.startswith("district:"):
            return self._by_area_kind.get((areas.get("district"), unit.split(":", 1)[1]))
        if unit.startswith("city:"):
            return self._city_kind.get(unit.split(":", 1)[1])
        return self.units.get(unit)

    def decide(self, category: str | None, areas: Mapping[str, str | None], lon: float, lat: float,
               zones: list[Zone] | None = None) -> Duty | None:
        """`areas`: level → code of the placement; `zones`: the zones at the point, when the caller looked them
        up for a whole batch (`zones_many`). None when not even a district centre answers."""
        if zones is None:
            zones = self.zones_at(lon, lat)
        zone_kinds = {z.kind: z for z in zones}
        codes = [c for c in areas.values() if c]
        for rule in self.rules:
            if rule.category and not (category or "").startswith(rule.category):
                continue
            if rule.zone and rule.zone not in zone_kinds:
                continue
            if rule.area and not any(c.startswith(rule.area) for c in codes):
                continue
            unit = self._resolve(rule.unit, areas)
            if unit is not None:
                return Duty(unit, rule.name, zone_kinds.get(rule.zone) if rule.zone else None)
        kind = self.default_kinds.get(category or "")
        if kind:
            pattern = "street_office" if kind == "street_office" else f"district:{kind}"
            unit = self._resolve(pattern, areas)
            if unit is not None:
                return Duty(unit, f"category-default:{kind}")
        unit = self._by_area_kind.get((areas.get("district"), "command_centre"))
        return Duty(unit, "district-default") if unit else None
