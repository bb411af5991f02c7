"""Loading a city's own data through the CLI: areas (GeoJSON, Shapefile, GCJ-02), the responsibility
matrix, zones and places; bad files are refused with exit 2 and change nothing. A database of its own."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import shapefile
from sqlalchemy import text

from store.db import make_engine, with_database
from yunguan.services import drop_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(base_settings):
    url = with_database(base_settings.database_url, f"yunguan_test_{os.getpid()}_loaders")
    drop_database(url)
    env = dict(os.environ, YUNGUAN_DATABASE_URL=url)
    out = subprocess.run([sys.executable, "-m", "yunguan.cli", "db", "upgrade"], env=env, capture_output=True,
                         text=True, timeout=120)
    if out.returncode != 0:  # the database may need creating first
        from yunguan.services import ensure_postgres

        ensure_postgres(url, lambda _: None)
        out = subprocess.run([sys.executable, "-m", "yunguan.cli", "db", "upgrade"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    engine = make_engine(url)
    yield env, engine
    engine.dispose()
    drop_database(url)


def cli(env, *args, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "yunguan.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, input=stdin)


def _square(x: float, y: float, size: float) -> list[list[float]]:
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]


def test_shapefile_in_gbk_with_parent_checks(db, tmp_path):
    env, engine = db
    district = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "D1", "name": "测试区"},
                "geometry": {"type": "Polygon", "coordinates": [_square(125.0, 43.0, 0.1)]}}]}
    (tmp_path / "d.geojson").write_text(json.dumps(district, ensure_ascii=False), encoding="utf-8")
    assert cli(env, "areas", "load", str(tmp_path / "d.geojson"), "--level", "district").returncode == 0

    w = shapefile.Writer(str(tmp_path / "streets"), shapeType=shapefile.POLYGON, encoding="gbk")
    w.field("CODE", "C", 16)
    w.field("MC", "C", 40)
    w.field("PARENT", "C", 16)
    w.poly([_square(125.0, 43.0, 0.06)])
    w.record("D1001", "第一街道", "D1")
    w.poly([_square(125.05, 43.0, 0.05)])  # overlaps the first by 0.01°, leaves a gap above both
    w.record("D1002", "第二街道", "D1")
    w.poly([_square(125.2, 43.2, 0.01)])  # outside its parent
    w.record("D1003", "飞地街道", "D1")
    w.close()
    (tmp_path / "streets.cpg").write_text("GBK")
    out = cli(env, "areas", "load", str(tmp_path / "streets.shp"), "--level", "street", "--code-field", "CODE",
              "--name-field", "MC", "--parent-field", "PARENT")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["loaded"] == 3
    assert [o["code"] for o in report["outside_parent"]] == ["D1003"]
    assert [(o["a"], o["b"]) for o in report["overlaps"]] == [("D1001", "D1002")]
    assert [g["parent"] for g in report["gaps"]] == ["D1"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM areas WHERE code = 'D1001'")).scalar_one() == "第一街道"


def test_gcj02_areas_are_stored_in_wgs84_and_a_bad_file_changes_nothing(db, tmp_path):
    import prcoords

    env, engine = db
    wgs = (125.30, 43.85)
    g = prcoords.wgs_gcj((wgs[1], wgs[0]))
    ring = _square(g.lon, g.lat, 0.01)
    good = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "C1", "name": "甲社区"},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}]}
    (tmp_path / "c.geojson").write_text(json.dumps(good, ensure_ascii=False), encoding="utf-8")
    assert cli(env, "areas", "load", str(tmp_path / "c.geojson"), "--level", "community", "--crs", "gcj02").returncode == 0
    with engine.connect() as conn:  # the corner drawn at the GCJ-02 of `wgs` is stored at `wgs` itself
        metres = conn.execute(text(
            "SELECT min(ST_Distance((dp).geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography)) "
            "FROM (SELECT ST_DumpPoints(geom) AS dp FROM areas WHERE code = 'C1') AS points"),
            {"x": wgs[0], "y": wgs[1]}).scalar_one()
    assert metres < 0.5

    bad = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "C2"},
           "geometry": {"type": "Polygon", "coordinates": [ring]}}]}
    (tmp_path / "bad.geojson").write_text(json.dumps(bad), encoding="utf-8")
    out = cli(env, "areas", "load", str(tmp_path / "bad.geojson"), "--level", "community")
    assert out.returncode == 2 and "name" in out.stderr
    with engine.connect() as conn:
        assert conn.execute(text("SELECT code FROM areas WHERE level = 'community'")).scalars().all() == ["C1"]


def test_duties_zones_and_routing_with_the_rule_that_matched(db, tmp_path):
    env, engine = db
    assert cli(env, "demo", "--data-only").returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: x\n    unit: street_office\n    zone: moon\n", encoding="utf-8")
    out = cli(env, "duties", "load", str(bad))
    assert out.returncode == 2 and "zone must be one of" in out.stderr
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("name,unit,category,area,zone,priority\n归口,NO-SUCH-UNIT,0205,,,5\n", encoding="utf-8")
    out = cli(env, "duties", "load", str(unknown))
    assert out.returncode == 2 and "NO-SUCH-UNIT" in out.stderr
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM duties")).scalar_one() > 0, "the demo matrix is untouched"

    park = json.loads(cli(env, "route", "--lon", "125.303", "--lat", "43.855", "--category", "010401").stdout)
    assert park["zone"]["kind"] == "park" and park["rule"].startswith("公园内")
    assert park["assignee"]["code"].endswith("-GREENING")
    street = json.loads(cli(env, "route", "--lon", "125.4388", "--lat", "43.7126", "--category", "020502").stdout)
    assert street["rule"] == "街面秩序属地管理（街道办事处）"
    assert street["assignee"]["code"] == f"{street['area']['street']['code']}-SO"
    plain = json.loads(cli(env, "route", "--lon", "125.4388", "--lat", "43.7126", "--category", "020102").stdout)
    assert plain["rule"] == "category-default:sanitation" and plain["assignee"]["code"] == "220102-SANITATION"

    matrix = tmp_path / "m.csv"
    matrix.write_text("name,unit,category,area,zone,priority\n全部归南关区中心,220102-CMD,,220102,,99\n", encoding="utf-8")
    assert cli(env, "duties", "load", str(matrix)).returncode == 0
    now = json.loads(cli(env, "route", "--lon", "125.4388", "--lat", "43.7126", "--category", "020102").stdout)
    assert now["rule"] == "全部归南关区中心" and now["assignee"]["code"] == "220102-CMD"

    bulk = cli(env, "route", "--input", "-", stdin="lon,lat,crs,category\n125.4388,43.7126,wgs84,020102\n1,2,wgs84,\n")
    lines = [json.loads(line) for line in bulk.stdout.splitlines()]
    assert lines[0]["assignee"]["code"] == "220102-CMD" and "outside China" in lines[1]["error"]["message"]


def test_a_new_version_of_a_level_takes_effect_on_its_day_and_the_old_one_stays(db, tmp_path):
    from datetime import timedelta

    from application.routing import RoutingCache
    from gis.areas import city_today
    from store.areas import load_areas

    env, engine = db
    today = city_today("Asia/Shanghai")
    tomorrow = today + timedelta(days=1)

    def grid_file(name: str, x: float, cell_name: str):
        fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "VG1", "name": cell_name},
              "geometry": {"type": "Polygon", "coordinates": [_square(x, 30.0, 0.01)]}}]}
        (tmp_path / name).write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
        return str(tmp_path / name)

    district = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "VD", "name": "版本区"},
                "geometry": {"type": "Polygon", "coordinates": [_square(119.99, 29.99, 0.1)]}}]}
    (tmp_path / "vd.geojson").write_text(json.dumps(district, ensure_ascii=False), encoding="utf-8")
    assert cli(env, "areas", "load", str(tmp_path / "vd.geojson"), "--level", "district").returncode == 0
    old, new = grid_file("old.geojson", 120.00, "旧网格"), grid_file("new.geojson", 120.02, "新网格")
    assert cli(env, "areas", "load", old, "--level", "grid").returncode == 0
    out = cli(env, "areas", "load", new, "--level", "grid", "--valid-from", tomorrow.isoformat())
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["valid_from"] == tomorrow.isoformat()
    versions = "SELECT name, valid_from, valid_to FROM areas WHERE code = 'VG1' ORDER BY valid_from"
    with engine.connect() as conn:
        assert conn.execute(text(versions)).all() == [("旧网格", today, tomorrow), ("新网格", tomorrow, None)]

    def names_on(day):
        return [a.name for a in load_areas(engine, day) if a.code == "VG1"]

    assert names_on(today) == ["旧网格"] and names_on(tomorrow) == ["新网格"]
    # Loading the same day again replaces that day's version instead of stacking another.
    assert cli(env, "areas", "load", new, "--level", "grid", "--valid-from", tomorrow.isoformat()).returncode == 0
    with engine.connect() as conn:
        assert len(conn.execute(text(versions)).all()) == 2

    # A running router switches at the turn of the day, without a notification.
    day = [today]
    cache = RoutingCache(engine, 0.0, today=lambda: day[0])
    try:
        def grid_at(x):
            cell = cache().router.place(x, 30.005).areas.get("grid")
            return cell.code if cell else None

        assert (grid_at(120.005), grid_at(120.025)) == ("VG1", None)
        reloads = cache.reloads
        assert grid_at(120.005) == "VG1" and cache.reloads == reloads  # same day, nothing changed: no reload
        day[0] = tomorrow
        assert (grid_at(120.005), grid_at(120.025)) == (None, "VG1")
    finally:
        cache.close()

    bad = cli(env, "areas", "load", new, "--level", "grid", "--valid-from", "2026-13-01")
    assert bad.returncode == 2 and "--valid-from" in bad.stderr
