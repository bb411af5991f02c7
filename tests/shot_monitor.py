"""docs/screenshots/monitor.png: the monitoring view at 1920×1080 with a few hundred simulated devices, some
in alarm and some offline. Not part of the suite (not a test_ module); run it on purpose with the suite's
private database and broker:

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/shot_monitor.py

`yunguan simulate --sensors 400 --since 7200` publishes two hours of readings, `yunguan lifeline`'s consumer
turns them into states and urgent tickets, then Chromium opens /monitor as an operator and selects the
device in alarm with the highest level."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import text

from tests.helpers import wait_for, worker_env

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots" / "monitor.png"


def test_monitor_screenshot(page_for, server, settings, deps, engine, make_user):
    from yunguan.wiring import build_lifeline

    with engine.begin() as conn:
        conn.execute(text("TRUNCATE devices, device_kinds, sensor_readings CASCADE"))
    done = subprocess.run(
        [sys.executable, "-m", "yunguan.cli", "simulate", "--sensors", "400", "--seed", "7", "--since", "7200",
         "--rate-per-device", "0.02", "--duration", "1"], env=worker_env(settings), text=True, capture_output=True,
        timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    deps.settings = replace(deps.settings, lifeline_group=f"{settings.topic_prefix}lifeline",
                            lifeline_offline_every_s=3600, worker_batch_size=2000)
    consumer = build_lifeline(deps)
    consumer._last_offline = time.monotonic()  # offline only once every reading is in
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: consumer.stats.messages >= summary["readings"], 240, interval=0.5, what="every reading")
        consumer.offline_if_due(force=True)
        make_user("duty", "operator")
        page = page_for("duty", path="/monitor", viewport=(1920, 1080))
        expect(page.locator("[data-test=count-total] b")).to_have_text("400", timeout=30000)
        first = page.locator("[data-test=alarms] li").first
        expect(first).to_be_visible(timeout=15000)
        first.click()
        expect(page.locator("[data-test=chart] canvas")).to_be_visible(timeout=15000)
        page.locator("[data-test=range] [data-range='24h'] span").click()
        for _ in range(3):  # the list zoomed to the device: back to the city's clusters
            page.locator(".leaflet-control-zoom-out").click()
            page.wait_for_timeout(300)
        page.wait_for_timeout(2500)  # the chart's and the map's drawing settle
        page.screenshot(path=str(OUT))
        assert page.problems == [], page.problems
    finally:
        stop.set()
        thread.join(timeout=20)
