"""The batch zone lookup the worker uses must answer exactly as the per-point one (pure, no services)."""
from __future__ import annotations

import random

from shapely.geometry import LineString, box

from gis.duties import Duties, Rule, UnitInfo, Zone

ZONES = [
    Zone("P1", "park", "park", box(125.30, 43.80, 125.32, 43.82)),
    Zone("C1", "campus", "campus", box(125.31, 43.81, 125.34, 43.83)),  # overlaps the park
    Zone("R1", "railway", "railway", LineString([(125.29, 43.79), (125.35, 43.85)]).buffer(0.002)),
]
UNITS = [UnitInfo("2201-PARK", "园林", "district", "greening", "220102"),
         UnitInfo("2201-CMD", "指挥中心", "district", "command_centre", "220102")]


def test_zones_many_agrees_with_zones_at_inside_on_edges_and_outside():
    duties = Duties([Rule("park", "district:greening", zone="park")], ZONES, UNITS)
    rng = random.Random(5)
    points = [(rng.uniform(125.28, 125.36), rng.uniform(43.78, 43.86)) for _ in range(3000)]
    points += [(125.30, 43.81), (125.32, 43.82), (125.31, 43.81), (125.20, 43.70)]  # corners, shared edges, far
    batch = duties.zones_many(points)
    single = [duties.zones_at(lon, lat) for lon, lat in points]
    assert batch == single
    assert sum(1 for z in batch if len(z) >= 2) > 0  # overlaps were exercised
    assert sum(1 for z in batch if not z) > 0


def test_decide_with_batch_zones_matches_the_per_point_decision():
    duties = Duties([Rule("park", "district:greening", zone="park")], ZONES, UNITS)
    areas = {"district": "220102", "street": None, "community": None, "grid": None}
    inside, outside = (125.305, 43.805), (125.20, 43.70)
    for (lon, lat), zones in zip((inside, outside), duties.zones_many([inside, outside]), strict=True):
        assert duties.decide("0101", areas, lon, lat, zones) == duties.decide("0101", areas, lon, lat)
    assert duties.decide("0101", areas, *inside).unit.code == "2201-PARK"
    assert duties.decide("0101", areas, *outside).unit.code == "2201-CMD"
