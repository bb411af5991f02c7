"""The monitoring view's reads (docs/lifeline.md, "Monitoring view"): the whole network for the map in one
compact answer, counts per status, level and kind, and one device with its thresholds — staff only, each
caller in its scope, with the real database and HTTP server."""
from __future__ import annotations

import gzip
import time
from datetime import timedelta

import requests
from sqlalchemy import text

from tests.test_lifeline import GAS_UNIT, NANGUAN, T0, registry  # noqa: F401 (the registry fixture)


def _heads(base, make_user):
    make_user("duty", "operator")
    make_user("gas", "department", unit=GAS_UNIT)
    make_user("water", "department", unit="220102-WATER")
    heads = {}
    for name in ("duty", "gas", "water"):
        r = requests.post(f"{base}/api/v1/auth/token", json={"username": name, "password": "secret-pass-1"},
                          timeout=10)
        heads[name] = {"Authorization": f"Bearer {r.json()['token']}"} if r.ok else {}
    return heads


def test_map_summary_and_detail_in_scope(server, registry, deps, engine, make_user):  # noqa: F811
    from application.lifeline import Lifeline, Reading, apply_readings
    from store.lifeline import load_rules

    with engine.begin() as conn:  # g1 over level 2 (300 ppm), w1 below its pressure limit: two urgent tickets
        ctx = Lifeline(load_rules(conn), deps.loop()(conn), deps.settings.timezone, deps.settings.ticket_prefix)
        apply_readings(conn, [Reading("g1", T0 + timedelta(seconds=i), {"ppm": 300.0}) for i in range(5)]
                       + [Reading("w1", T0 + timedelta(seconds=i), {"bar": 0.1}) for i in range(5)],
                       ctx, T0 + timedelta(minutes=1))
    base, _ = server
    heads = _heads(base, make_user)

    def get(path, who="duty", **params):
        return requests.get(f"{base}/api/v1{path}", params=params, headers=heads.get(who, {}), timeout=10)

    assert get("/devices/map", who=None).status_code == 401
    assert get("/devices/summary", who=None).status_code == 401
    body = get("/devices/map").json()
    assert body["fields"] == ["device_id", "kind", "lon", "lat", "status", "level", "ticket_no"]
    rows = {r[0]: dict(zip(body["fields"], r, strict=True)) for r in body["rows"]}
    assert sorted(rows) == ["g1", "g2", "w1"] and body["truncated"] is False
    assert rows["g1"]["status"] == "alarm" and rows["g1"]["level"] == 2 and rows["g1"]["ticket_no"]
    assert rows["g2"]["status"] == "normal" and rows["g2"]["ticket_no"] is None
    assert abs(rows["g1"]["lon"] - NANGUAN[0]) < 1e-5 and abs(rows["g1"]["lat"] - NANGUAN[1]) < 1e-5
    assert [r[0] for r in get("/devices/map", kind="water").json()["rows"]] == ["w1"]
    assert [r[0] for r in get("/devices/map", who="gas").json()["rows"]] == ["g1", "g2"]
    one = get("/devices/map", limit=1).json()
    assert [r[0] for r in one["rows"]] == ["g1"] and one["truncated"] is True
    for bad in ({"limit": 0}, {"limit": "many"}, {"kind": "k" * 33}):
        r = get("/devices/map", **bad)
        assert r.status_code == 400 and set(r.json()["error"]["fields"]) <= {"limit", "kind"}

    summary = get("/devices/summary").json()
    assert summary["total"] == 3
    assert summary["status"] == {"normal": 1, "alarm": 2, "offline": 0}
    assert summary["alarm_levels"] == {"1": 1, "2": 1, "3": 0}
    assert summary["kinds"]["gas"] == {"total": 2, "normal": 1, "alarm": 1, "offline": 0}
    assert get("/devices/summary", who="water").json()["status"] == {"normal": 0, "alarm": 1, "offline": 0}

    g1 = get("/devices/g1").json()
    assert g1["status"] == "alarm" and g1["level"] == 2 and g1["kind"] == "gas"
    assert g1["tickets"]["threshold"]["ticket_no"] == rows["g1"]["ticket_no"]
    assert g1["tickets"]["threshold"]["level"] == 2
    assert [(t["level"], t["direction"], t["value"]) for t in g1["thresholds"]["ppm"]] == [
        (1, "above", 50.0), (2, "above", 200.0)]
    assert g1["offline_after_s"] == 600 and g1["last_at"].startswith("2026-11-28T18:16:04")
    w1 = get("/devices/w1").json()
    assert w1["thresholds"]["bar"][0]["direction"] == "below"
    assert get("/devices/g1", who="water").status_code == 404
    assert get("/devices/nope").json()["error"]["fields"] == {"device_id": "unknown or not yours"}
    # hostile input: a 4xx naming what was wrong, never a 5xx
    for path, params in (("/devices/%00", {}), ("/devices/" + "x" * 5000, {}), ("/devices/%F0%9F%92%A5", {}),
                         ("/devices/map", {"kind": "\u0000"}), ("/devices/map", {"limit": "1e9"})):
        r = get(path, **params)
        assert 400 <= r.status_code < 500 and r.json()["error"]["code"], (path, params, r.status_code)


def test_ten_thousand_devices_in_one_small_answer(server, registry, engine, make_user):  # noqa: F811
    """The map takes the city's whole network at once: 10,000 devices, gzipped, stay small and quick."""
    with engine.begin() as conn:  # registry rows written directly: the loaders' routing is tested elsewhere
        conn.execute(text(
            "INSERT INTO devices (device_id, kind, location, unit_code, registered_at) "
            "SELECT 'bulk-' || lpad(i::text, 5, '0'), 'gas', "
            "ST_SetSRID(ST_MakePoint(125.2 + (i % 100) * 0.003, 43.75 + (i / 100) * 0.002), 4326), :u, :t "
            "FROM generate_series(1, 10000) i"), {"u": GAS_UNIT, "t": T0})
    base, _ = server
    heads = _heads(base, make_user)
    started = time.perf_counter()
    raw = requests.get(f"{base}/api/v1/devices/map", headers={**heads["duty"], "Accept-Encoding": "gzip"},
                       timeout=30, stream=True).raw.read()
    elapsed = time.perf_counter() - started
    import json

    body = json.loads(gzip.decompress(raw))
    assert len(body["rows"]) == 10003 and body["truncated"] is False
    assert len(raw) < 250_000, len(raw)  # 34 kB measured (coordinates on a regular grid compress well)
    assert elapsed < 10, elapsed
    print(f"10,003 devices: {len(raw)} bytes gzipped, {elapsed:.2f} s")
