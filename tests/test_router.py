"""The router's edge cases on hand-made squares: shared edges, gaps between areas, points outside."""
from __future__ import annotations

from shapely.geometry import MultiPolygon, box

from gis.areas import Area
from gis.router import Router


def _area(code: str, x0: float, x1: float, level: str = "district") -> Area:
    return Area(code, code, level, None, MultiPolygon([box(x0, 43.0, x1, 43.01)]))


# Two districts sharing the edge x = 125.01, a third beyond a 0.001° (~80 m) gap.
AREAS = [_area("A2", 125.00, 125.01), _area("A1", 125.01, 125.02), _area("B", 125.021, 125.03)]


def test_a_point_on_a_shared_edge_goes_to_the_smallest_code():
    p = Router(AREAS, 200.0).place(125.01, 43.005)
    assert p.method == "boundary" and p.areas["district"].code == "A1" and sorted(p.hits) == ["A1", "A2"]


def test_a_point_in_a_gap_goes_to_the_nearest_area_within_tolerance():
    p = Router(AREAS, 200.0).place(125.0203, 43.005)  # ~24 m from A1, ~56 m from B
    assert p.method == "nearest" and p.areas["district"].code == "A1" and 20 < p.distance_m < 30
    assert p.hits == ()


def test_beyond_the_tolerance_or_with_nearest_off_the_operator_decides():
    far = Router(AREAS, 200.0).place(125.05, 43.005)  # ~1.6 km east
    assert far.method == "manual" and far.areas["district"] is None
    off = Router(AREAS, 0.0).place(125.0203, 43.005)
    assert off.method == "manual"


def test_border_distance_is_reported_near_borders_only():
    router = Router(AREAS, 200.0)
    near = router.place(125.0102, 43.005)  # ~16 m inside A1 from its western edge
    assert 10 < near.border_m < 22
    assert router.place(125.015, 43.005).border_m is not None  # 400 m: still within the 1 km watch
    wide = Router([Area("W", "W", "district", None, MultiPolygon([box(125.0, 43.0, 125.2, 43.2)]))], 200.0)
    wide = wide.place(125.1, 43.1)
    assert wide.border_m is None  # > 1 km from every border: not measured


def test_lower_levels_are_placed_independently_and_batches_agree():
    areas = AREAS + [_area("A1-s1", 125.01, 125.015, "street"), _area("A1-s2", 125.015, 125.02, "street")]
    router = Router(areas, 200.0)
    p = router.place(125.012, 43.005)
    assert p.areas["street"].code == "A1-s1" and p.areas["community"] is None
    points = [(125.012, 43.005), (125.015, 43.005), (125.0203, 43.005), (125.05, 43.005), (125.01, 43.01)]
    assert router.place_many(points) == [router.place(x, y) for x, y in points]
