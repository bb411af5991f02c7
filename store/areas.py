"""Areas and units in PostGIS: replace a level atomically from a date, read back the areas valid on a day.

Validity dates are calendar dates in the city's time zone (`gis.areas.city_today`); an area is valid on
day D when valid_from <= D < valid_to (valid_to NULL: open-ended). Old versions stay, so a past ticket's
routing can be explained with the polygons of its day.
"""
from __future__ import annotations

from datetime import date

from shapely import wkb
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from gis.areas import Area

# Demo and benchmark areas have no history of their own: valid since a fixed day before any ticket.
SINCE_EVER = date(2000, 1, 1)

_INSERT_AREA = text(
    "INSERT INTO areas (code, name, level, parent_code, valid_from, geom) "
    "VALUES (:code, :name, :level, :parent_code, :valid_from, "
    "ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_GeomFromWKB(:wkb, 4326)), 3)))"
)


def valid_on(alias: str = "") -> str:
    """SQL condition for 'valid on :on' (bind `on`), for queries that read areas."""
    p = f"{alias}." if alias else ""
    return f"({p}valid_from <= :on AND ({p}valid_to IS NULL OR {p}valid_to > :on))"


def replace_level(conn: Connection, level: str, areas: list[Area], valid_from: date) -> int:
    """Make `areas` the level from `valid_from` on, in the caller's transaction (atomic for readers):
    versions starting on or after that day are superseded (deleted), the versions running then are closed
    (valid_to = valid_from) and kept. Invalid rings are repaired by ST_MakeValid, keeping the polygons."""
    params = {"level": level, "d": valid_from}
    conn.execute(text("DELETE FROM areas WHERE level = :level AND valid_from >= :d"), params)
    conn.execute(text("UPDATE areas SET valid_to = :d WHERE level = :level AND (valid_to IS NULL OR valid_to > :d)"),
                 params)
    conn.execute(
        _INSERT_AREA,
        [
            {"code": a.code, "name": a.name, "level": a.level, "parent_code": a.parent_code, "wkb": a.geometry.wkb,
             "valid_from": valid_from}
            for a in areas
        ],
    )
    conn.execute(text("SELECT pg_notify('yunguan_areas', :level)"), {"level": level})
    return len(areas)


def load_areas(engine: Engine, on: date) -> list[Area]:
    """The areas valid on day `on` (the router's view of the city that day)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT code, name, level, parent_code, ST_AsBinary(geom) AS wkb FROM areas "
                f"WHERE {valid_on()} ORDER BY level, code"
            ),
            {"on": on},
        ).all()
    return [Area(r.code, r.name, r.level, r.parent_code, wkb.loads(bytes(r.wkb))) for r in rows]


def upsert_units(conn: Connection, units: list[dict]) -> int:
    conn.execute(
        text(
            "INSERT INTO units (code, name, level, kind, parent_code, area_code) "
            "VALUES (:code, :name, :level, :kind, :parent_code, :area_code) "
            "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, level = EXCLUDED.level, "
            "kind = EXCLUDED.kind, parent_code = EXCLUDED.parent_code, area_code = EXCLUDED.area_code"
        ),
        units,
    )
    conn.execute(text("SELECT pg_notify('yunguan_areas', 'units')"))
    return len(units)


def check_level(conn: Connection, level: str, on: date, tolerance_m2: float = 1.0) -> dict:
    """What a city's GIS team should look at after loading a level, as the city will be on day `on`:
    children outside (or without) their parent, overlaps between siblings, and parents not covered by their
    children. Areas in square metres; slivers under `tolerance_m2` (rounding in the source data) are ignored."""
    params = {"level": level, "tol": tolerance_m2, "on": on}
    c_on, p_on, a_on, b_on = valid_on("c"), valid_on("p"), valid_on("a"), valid_on("b")
    orphans = conn.execute(text(
        f"SELECT c.code, c.parent_code FROM areas c LEFT JOIN areas p ON p.code = c.parent_code AND {p_on} "
        f"WHERE c.level = :level AND {c_on} AND c.parent_code IS NOT NULL AND p.code IS NULL ORDER BY c.code"),
        params).all()
    outside = conn.execute(text(
        "SELECT c.code, round(ST_Area(ST_Difference(c.geom, p.geom)::geography)::numeric, 1) AS m2 "
        f"FROM areas c JOIN areas p ON p.code = c.parent_code AND {p_on} WHERE c.level = :level AND {c_on} "
        "AND ST_Area(ST_Difference(c.geom, p.geom)::geography) > :tol ORDER BY c.code"), params).all()
    overlaps = conn.execute(text(
        "SELECT a.code AS a, b.code AS b, round(ST_Area(ST_Intersection(a.geom, b.geom)::geography)::numeric, 1) AS m2 "
        f"FROM areas a JOIN areas b ON a.level = b.level AND a.code < b.code AND {b_on} "
        "AND coalesce(a.parent_code, '') = coalesce(b.parent_code, '') AND a.geom && b.geom "
        f"AND ST_Intersects(a.geom, b.geom) WHERE a.level = :level AND {a_on} "
        "AND ST_Area(ST_Intersection(a.geom, b.geom)::geography) > :tol ORDER BY a.code, b.code"), params).all()
    gaps = conn.execute(text(
        "SELECT p.code, round(ST_Area(ST_Difference(p.geom, ST_Union(c.geom))::geography)::numeric, 1) AS m2 "
        f"FROM areas p JOIN areas c ON c.parent_code = p.code AND c.level = :level AND {c_on} WHERE {p_on} "
        "GROUP BY p.code, p.geom "
        "HAVING ST_Area(ST_Difference(p.geom, ST_Union(c.geom))::geography) > :tol ORDER BY p.code"), params).all()
    return {
        "missing_parent": [{"code": r.code, "parent": r.parent_code} for r in orphans],
        "outside_parent": [{"code": r.code, "m2": float(r.m2)} for r in outside],
        "overlaps": [{"a": r.a, "b": r.b, "m2": float(r.m2)} for r in overlaps],
        "gaps": [{"parent": r.code, "m2": float(r.m2)} for r in gaps],
    }
