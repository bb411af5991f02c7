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
