"""The in-memory router agrees with PostGIS ST_Covers at every level, including points on and next to
shared edges and vertices (Hypothesis), and picks the smallest code where several areas cover a point."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from gis.areas import LEVELS
from gis.router import Router
from store.areas import load_areas

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(base_settings):
    from store.db import make_engine

    engine = make_engine(base_settings.database_url)
    areas = load_areas(engine, date.today())
    router = Router(areas, nearest_tolerance_m=0.0)
    # Vertices of shared edges: points where the answer is most fragile.
    streets = [a for a in areas if a.level == "street" and a.parent_code == "220102"]
    vertices = []
    for a in streets:
        for poly in a.geometry.geoms:
            vertices.extend(poly.exterior.coords[:-1])
    yield _World((engine, router, areas, vertices))
    engine.dispose()


class _World(tuple):
    """The fixture's value; a short repr keeps Hypothesis's failure reports readable."""

    def __repr__(self) -> str:
        return "<router and PostGIS over the demo areas>"


def _postgis(conn, lon: float, lat: float) -> dict[str, list[str]]:
    rows = conn.execute(text(
        "SELECT level, code FROM areas WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) "
        "AND (valid_to IS NULL OR valid_to > current_date) ORDER BY code"), {"x": lon, "y": lat}).all()
    out: dict[str, list[str]] = {level: [] for level in LEVELS}
    for r in rows:
        out[r.level].append(r.code)
    return out


def _check(conn, router: Router, lon: float, lat: float) -> None:
    expected = _postgis(conn, lon, lat)
    placement = router.place(lon, lat)
    for level in LEVELS:
        got = placement.areas.get(level)
        if expected[level]:
            assert got is not None and got.code == expected[level][0], (level, lon, lat, expected[level], got)
        elif placement.method != "nearest":
            assert got is None, (level, lon, lat, got)
    assert sorted(placement.hits) == sorted(c for codes in expected.values() for c in codes)


CHANGCHUN = st.tuples(st.floats(124.3, 127.1, allow_nan=False), st.floats(43.0, 45.3, allow_nan=False))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(point=CHANGCHUN)
def test_random_points_match_st_covers(world, point):
    engine, router, _, _ = world
    with engine.connect() as conn:
        _check(conn, router, *point)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_points_on_and_beside_shared_vertices_match_st_covers(world, data):
    engine, router, _, vertices = world
    x, y = vertices[data.draw(st.integers(0, len(vertices) - 1))]
    dx = data.draw(st.sampled_from([0.0, 1e-9, -1e-9, 1e-7, -1e-7]))
    dy = data.draw(st.sampled_from([0.0, 1e-9, -1e-9, 1e-7, -1e-7]))
    with engine.connect() as conn:
        _check(conn, router, x + dx, y + dy)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_points_on_shared_edges_go_to_the_smallest_code(world, data):
    engine, router, areas, _ = world
    streets = [a for a in areas if a.level == "street" and a.parent_code == "220102"]

    def corners(area):
        return {c for poly in area.geometry.geoms for c in poly.exterior.coords}

    shared = sorted({c for i, a in enumerate(streets) for b in streets[i + 1:] for c in corners(a) & corners(b)})
    assert len(shared) >= 5, "the synthetic streets share vertices: the test means something"
    x, y = shared[data.draw(st.integers(0, len(shared) - 1))]
    with engine.connect() as conn:
        expected = _postgis(conn, x, y)
    placement = router.place(x, y)
    assert len(expected["street"]) >= 2, "a shared vertex is covered by every street that has it"
    assert placement.method == "boundary" and placement.areas["street"].code == min(expected["street"])
