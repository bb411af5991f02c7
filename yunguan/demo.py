"""Demo data: Changchun's real districts, a unit per district, a category slice, demo accounts."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

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
    """Check the whole table first (every problem with its line), then replace it in one transaction."""
    from dispatch.taxonomy import read_file
    from store.categories import save_taxonomy

    taxonomy = read_file(path)
    with engine.begin() as conn:
        return save_taxonomy(conn, taxonomy)


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
