"""Demo data: Changchun's real districts with synthetic streets, communities and grid cells, units, the
responsibility matrix, special zones, a gazetteer, the category taxonomy and demo accounts."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from sqlalchemy.engine import Engine

from gis.areas import Area, read_geojson
from store.areas import SINCE_EVER, replace_level, upsert_units
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


KIND_NAMES = {
    "enforcement": "城市管理行政执法局", "sanitation": "环境卫生管理中心", "roads": "市政设施管理处",
    "drainage": "排水管理处", "greening": "园林绿化局", "gas": "燃气公司", "heating": "供热公司", "water": "供水公司",
    "water_affairs": "水务局", "lighting": "路灯管理处", "power": "供电公司", "telecom": "通信管线管理办",
    "housing": "住房和城乡建设局", "ecology": "生态环境分局", "traffic_police": "交警大队", "transport": "交通运输局",
    "market": "市场监督管理局", "fire": "消防救援大队", "civil_defense": "人防办", "sports": "文体旅局",
    "lifeline": "城市生命线监测中心",
}
CITY_UNITS = [
    {"code": "2201-RAIL", "name": "长春市铁路沿线环境管理办公室", "level": "city", "kind": "railway"},
    {"code": "2201-EDU", "name": "长春市教育局", "level": "city", "kind": "education"},
    {"code": "2201-ROADS", "name": "长春市市政设施管理中心", "level": "city", "kind": "roads"},
]


def demo_units(districts: list[Area], streets: list[Area]) -> list[dict]:
    """The city centre and city departments, per district a command centre and a branch of every
    department kind the taxonomy names, per (synthetic) street its office."""
    units = [CITY_UNIT] + [{**u, "parent_code": CITY_UNIT["code"], "area_code": None} for u in CITY_UNITS]
    for d in districts:
        units.append({"code": f"{d.code}-CMD", "name": f"{d.name}城市运行管理服务中心", "level": "district",
                      "kind": "command_centre", "parent_code": CITY_UNIT["code"], "area_code": d.code})
        units += [{"code": f"{d.code}-{kind.upper()}"[:32], "name": f"{d.name}{name}", "level": "district",
                   "kind": kind, "parent_code": f"{d.code}-CMD", "area_code": d.code} for kind, name in KIND_NAMES.items()]
    units += [{"code": f"{s.code}-SO", "name": s.name.replace("（合成）", "办事处（合成）"), "level": "street",
               "kind": "street_office", "parent_code": f"{s.parent_code}-CMD", "area_code": s.code} for s in streets]
    return units


def load_demo_data(engine: Engine, say) -> list[tuple[str, str, str]]:
    """Idempotent; returns the demo accounts as (username, password, what for)."""
    import yaml

    from gis.duties import parse_rules
    from gis.synthetic import hierarchy
    from store.duties import replace_places, replace_rules, replace_zones
    from yunguan.demo_places import ZONES, places

    say(f"demo: {load_categories(engine, demo_file('categories.csv'))} categories")
    districts = read_geojson(demo_file("changchun-districts.gcj02.geojson"), "district", "gcj02", code_field="adcode")
    levels = hierarchy(districts)
    rules = parse_rules(yaml.safe_load(demo_file("duties.yaml").read_text(encoding="utf-8"))["rules"])
    with engine.begin() as conn:
        replace_level(conn, "district", districts, SINCE_EVER)
        for level in ("street", "community", "grid"):
            replace_level(conn, level, levels[level], SINCE_EVER)
        units = demo_units(districts, levels["street"])
        upsert_units(conn, units)
        replace_zones(conn, ZONES)
        replace_rules(conn, rules)
        gazetteer = places(levels["community"])
        replace_places(conn, gazetteer)
    say(f"demo: {len(districts)} Changchun districts (GCJ-02 → WGS-84) with synthetic {len(levels['street'])} streets, "
        f"{len(levels['community'])} communities, {len(levels['grid'])} grid cells; {len(units)} units, "
        f"{len(rules)} duty rules, {len(ZONES)} special zones, {len(gazetteer)} gazetteer places")
    first_grid = levels["grid"][0].code  # 南关区1街1社第1网格（合成）
    accounts = [
        ("admin", "admin", None, False, "administrator"),
        ("duty", "operator", None, True, "值班长 duty supervisor (command centre)"),
        ("operator", "operator", None, False, "受理员 operator (command centre)"),
        ("hotline", "hotline", None, False, "12345 call-taker"),
        ("nanguan", "department", "220102-CMD", False, "南关区 district centre (department workbench)"),
        ("nanguan-env", "department", "220102-SANITATION", False, "南关区环卫 sanitation branch (workbench)"),
        ("nanguan-so1", "department", "220102001-SO", False, "南关区第1街道办事处 street office (workbench)"),
        ("gw01", "grid", None, False, f"grid worker of {first_grid} (phone page /grid)"),
    ]
    with engine.begin() as conn:
        for username, role, unit, supervisor, _ in accounts:
            add_user(conn, username, DEMO_PASSWORD, role, unit=unit, supervisor=supervisor, replace=True,
                     grid=first_grid if role == "grid" else None)
    return [(username, DEMO_PASSWORD, what) for username, _, _, _, what in accounts]


DEMO_HISTORY_DAYS = 30
DEMO_HISTORY_SEED = 16


def load_demo_history(engine: Engine, settings, topics, say, days: int = DEMO_HISTORY_DAYS) -> bool:
    """A month of past traffic before the demo goes live (`yunguan simulate --history`), so that evaluation,
    rankings and the wall screen have closed, late, returned and reworked cases to show. Skipped when the
    database has tickets already (an earlier demo start: the second start is quick). True when written."""
    from store.timeline import ticket_count
    from yunguan.history_sim import HistoryRun, simulate_history

    with engine.connect() as conn:
        existing = ticket_count(conn)
    if existing:
        say(f"demo: {existing} tickets exist already; no history simulated")
        return False
    say(f"demo: simulating {days} days of history (reports, dispatch, handling, verification, deadline passes)…")
    result = simulate_history(engine, settings, topics, HistoryRun(days, DEMO_HISTORY_SEED), say)
    say("demo: " + result.summary())
    return True
