"""Demo data: Changchun's real districts, a unit per district, a category slice, demo accounts."""
from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.areas import read_geojson
from store.areas import replace_level, upsert_units
from store.users import add_user

DEMO_PASSWORD = "yunguan-demo"
CITY_UNIT = {"code": "2201-CMD", "name": "长春市城市运行管理服务指挥中心", "level": "city", "kind": "command_centre",
             "parent_code": None, "area_code": None}


def demo_file(name: str) -> Path:
    return Path(str(resources.files("yunguan").joinpath("demo_data", name)))


def load_categories(engine: Engine, path: Path) -> int:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    with engine.begin() as conn:
        for row in rows:  # parents come before children in the file
            conn.execute(
                text(
                    "INSERT INTO categories (code, name, kind, parent, ack_limit_h, handle_limit_h) "
                    "VALUES (:code, :name, :kind, :parent, :ack, :handle) ON CONFLICT (code) DO UPDATE SET "
                    "name = EXCLUDED.name, kind = EXCLUDED.kind, parent = EXCLUDED.parent, "
                    "ack_limit_h = EXCLUDED.ack_limit_h, handle_limit_h = EXCLUDED.handle_limit_h"
                ),
                {
                    "code": row["code"], "name": row["name"], "kind": row["kind"], "parent": row["parent"] or None,
                    "ack": float(row["ack_limit_h"]) if row["ack_limit_h"] else None,
                    "handle": float(row["handle_limit_h"]) if row["handle_limit_h"] else None,
                },
            )
    return len(rows)


def load_demo_data(engine: Engine, say) -> list[tuple[str, str, str]]:
    """Idempotent; returns the demo accounts as (username, password, what for)."""
    districts = read_geojson(demo_file("changchun-districts.gcj02.geojson"), "district", "gcj02", code_field="adcode")
    with engine.begin() as conn:
        replace_level(conn, "district", districts)
        units = [CITY_UNIT] + [
            {"code": f"{d.code}-CMD", "name": f"{d.name}城市运行管理服务中心", "level": "district",
             "kind": "command_centre", "parent_code": CITY_UNIT["code"], "area_code": d.code}
            for d in districts
        ]
        upsert_units(conn, units)
    say(f"demo: {len(districts)} Changchun districts (GCJ-02 → WGS-84), {len(units)} units")
    say(f"demo: {load_categories(engine, demo_file('categories.csv'))} categories")
    accounts = [
        ("admin", "admin", None, False, "administrator"),
        ("duty", "operator", None, True, "值班长 duty supervisor (command centre)"),
        ("operator", "operator", None, False, "受理员 operator (command centre)"),
        ("hotline", "hotline", None, False, "12345 call-taker"),
        ("nanguan", "department", "220102-CMD", False, "南关区 district centre (department workbench)"),
    ]
    with engine.begin() as conn:
        for username, role, unit, supervisor, _ in accounts:
            add_user(conn, username, DEMO_PASSWORD, role, unit=unit, supervisor=supervisor, replace=True)
    return [(username, DEMO_PASSWORD, what) for username, _, _, _, what in accounts]
