"""Areas and units in PostGIS: replace a level atomically, read everything back for the router."""
from __future__ import annotations

from shapely import wkb
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from dispatch.model import Unit
from gis.areas import Area

_INSERT_AREA = text(
    "INSERT INTO areas (code, name, level, parent_code, geom) "
    "VALUES (:code, :name, :level, :parent_code, "
    "ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_GeomFromWKB(:wkb, 4326)), 3)))"
)


def replace_level(conn: Connection, level: str, areas: list[Area]) -> int:
    """Delete a level and insert its new areas in the caller's transaction (atomic for readers).
    Invalid rings are repaired by ST_MakeValid, keeping only the polygonal part."""
    conn.execute(text("DELETE FROM areas WHERE level = :level"), {"level": level})
    conn.execute(
        _INSERT_AREA,
        [
            {"code": a.code, "name": a.name, "level": a.level, "parent_code": a.parent_code, "wkb": a.geometry.wkb}
            for a in areas
        ],
    )
    conn.execute(text("SELECT pg_notify('yunguan_areas', :level)"), {"level": level})
    return len(areas)


def load_areas(engine: Engine) -> list[Area]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT code, name, level, parent_code, ST_AsBinary(geom) AS wkb FROM areas "
                "WHERE valid_to IS NULL OR valid_to > current_date ORDER BY level, code"
            )
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


def district_units(engine: Engine) -> dict[str, Unit]:
    """The default responsible unit per district: its district-level unit with the smallest code.
    (The full responsibility matrix replaces this rule.)"""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT DISTINCT ON (area_code) area_code, code, name, level FROM units "
                "WHERE level = 'district' AND area_code IS NOT NULL ORDER BY area_code, code"
            )
        ).all()
    return {r.area_code: Unit(r.code, r.name, r.level) for r in rows}


def check_level(conn: Connection, level: str, tolerance_m2: float = 1.0) -> dict:
    """What a city's GIS team should look at after loading a level: children outside (or without) their
    parent, overlaps between siblings, and parents not covered by their children. Areas in square metres;
    slivers under `tolerance_m2` (rounding in the source data) are ignored."""
    params = {"level": level, "tol": tolerance_m2}
    orphans = conn.execute(text(
        "SELECT c.code, c.parent_code FROM areas c LEFT JOIN areas p ON p.code = c.parent_code "
        "WHERE c.level = :level AND c.parent_code IS NOT NULL AND p.code IS NULL ORDER BY c.code"), params).all()
    outside = conn.execute(text(
        "SELECT c.code, round(ST_Area(ST_Difference(c.geom, p.geom)::geography)::numeric, 1) AS m2 "
        "FROM areas c JOIN areas p ON p.code = c.parent_code WHERE c.level = :level "
        "AND ST_Area(ST_Difference(c.geom, p.geom)::geography) > :tol ORDER BY c.code"), params).all()
    overlaps = conn.execute(text(
        "SELECT a.code AS a, b.code AS b, round(ST_Area(ST_Intersection(a.geom, b.geom)::geography)::numeric, 1) AS m2 "
        "FROM areas a JOIN areas b ON a.level = b.level AND a.code < b.code "
        "AND coalesce(a.parent_code, '') = coalesce(b.parent_code, '') AND a.geom && b.geom "
        "AND ST_Intersects(a.geom, b.geom) WHERE a.level = :level "
        "AND ST_Area(ST_Intersection(a.geom, b.geom)::geography) > :tol ORDER BY a.code, b.code"), params).all()
    gaps = conn.execute(text(
        "SELECT p.code, round(ST_Area(ST_Difference(p.geom, ST_Union(c.geom))::geography)::numeric, 1) AS m2 "
        "FROM areas p JOIN areas c ON c.parent_code = p.code AND c.level = :level GROUP BY p.code, p.geom "
        "HAVING ST_Area(ST_Difference(p.geom, ST_Union(c.geom))::geography) > :tol ORDER BY p.code"), params).all()
    return {
        "missing_parent": [{"code": r.code, "parent": r.parent_code} for r in orphans],
        "outside_parent": [{"code": r.code, "m2": float(r.m2)} for r in outside],
        "overlaps": [{"a": r.a, "b": r.b, "m2": float(r.m2)} for r in overlaps],
        "gaps": [{"parent": r.code, "m2": float(r.m2)} for r in gaps],
    }
