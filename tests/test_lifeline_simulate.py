"""`yunguan simulate --sensors N` (yunguan/sensor_sim.py) through the real broker, the lifeline consumer and the
database: a seeded run of 40 devices over the last 40 minutes makes readings, urgent alarm tickets for its
incidents and its flapping devices (one each, the flapping one never annotated again), an offline ticket for its
silenced device, and nothing for the devices that only vary normally."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.helpers import running, wait_for, worker_env


def test_seeded_devices_and_series_repeat():
    from gis.areas import read_geojson
    from yunguan.demo import demo_file
    from yunguan.sensor_sim import Fleet, place_devices

    areas = read_geojson(demo_file("changchun-districts.gcj02.geojson"), "district", "gcj02", code_field="adcode")
    start = datetime(2026, 11, 30, 8, tzinfo=UTC)

    def series(seed):
        devices = place_devices(areas, 60, seed)
        fleet = Fleet(devices, seed, start, span_s=1800)
        values = [(at, d.device_id, fleet.values(d, at)) for at, d in
                  fleet.readings(start, start + timedelta(minutes=30), 10)]
        return devices, fleet.incidents, sorted(fleet.silent), sorted(fleet.flapping), values

    first, again, other = series(5), series(5), series(6)
    assert first == again
    assert first[0] != other[0] and first[4] != other[4]
    assert {d.kind for d in first[0]} == {"gas", "water", "drainage", "bridge", "heating"}


def test_a_short_seeded_run_makes_readings_alarms_and_an_offline_ticket(settings, deps, engine, tmp_path):
    from dataclasses import replace

    from yunguan.wiring import build_lifeline

    with engine.begin() as conn:
        conn.execute(text("TRUNCATE devices, device_kinds, sensor_readings CASCADE"))
    done = subprocess.run(
        [sys.executable, "-m", "yunguan.cli", "simulate", "--sensors", "40", "--seed", "7", "--since", "2400",
         "--duration", "1"], env=worker_env(settings), text=True, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["seed"] == 7 and summary["failed"] == 0 and summary["readings"] > 9000
    assert summary["incidents"] and summary["silent"] and summary["flapping"]

    # The offline pass runs when the test says: before every reading is in, a device whose readings are still
    # on their way would look silent.
    deps.settings = replace(deps.settings, lifeline_group=f"{settings.topic_prefix}lifeline",
                            lifeline_offline_every_s=3600, worker_batch_size=500)
    consumer = build_lifeline(deps)
    consumer._last_offline = time.monotonic()
    with running(consumer, "test-lifeline-sim"):
        wait_for(lambda: consumer.stats.messages >= summary["readings"], 45, interval=0.2,
                 what=f"{summary['readings']} readings consumed")
        consumer.offline_if_due(force=True)

    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(DISTINCT (device_id, at)) FROM sensor_readings")).scalar_one()
        tickets = conn.execute(text(
            "SELECT dt.device_id, dt.alarm, t.priority, t.ticket_no, "
            "(SELECT count(*) FROM ticket_history h WHERE h.ticket_id = t.id AND h.action = 'comment') AS notes "
            "FROM device_tickets dt JOIN tickets t ON t.id = dt.ticket_id")).all()
        per_device_and_kind = conn.execute(text(
            "SELECT envelope ->> 'device_id', envelope ->> 'alarm', count(DISTINCT ticket_id) FROM reports "
            "WHERE channel = 'sensor' GROUP BY 1, 2")).all()
    assert stored == summary["readings"]
    alarms = {t.device_id: t for t in tickets if t.alarm == "threshold"}
    offline = {t.device_id for t in tickets if t.alarm == "offline"}
    assert alarms and all(t.priority == "urgent" for t in tickets)
    assert all(n == 1 for _, _, n in per_device_and_kind), per_device_and_kind
    assert set(summary["incidents"]) <= set(alarms)
    assert set(summary["flapping"]) <= set(alarms)
    for device_id in summary["flapping"]:  # flapping inside the band: the raise, and nothing after it
        assert alarms[device_id].notes == 0, device_id
    assert offline == set(summary["silent"])
    # Noise, daily cycles and drift alone raise nothing.
    assert set(alarms) == set(summary["incidents"]) | set(summary["flapping"])
