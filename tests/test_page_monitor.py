"""The monitoring view (/monitor) and the console's urgent alert in Chromium, with lifeline readings going
through the real broker and `yunguan lifeline`'s consumer: devices on the map with their states and counts,
the alarm list with the ticket's link, a device's chart with its thresholds drawn in, operators only; and a
new alarm reaching both pages live — the console's red urgent banner that stays until acknowledged, the
ticket highlighted in its list, several stacking, a raise of the level alerting again, and the monitor's
counts."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
import yaml
from playwright.sync_api import expect

from tests.helpers import running, wait_for
from tests.test_lifeline import GAS_UNIT, NANGUAN, RULES_YAML, _publish, _reading

pytestmark = pytest.mark.integration


@pytest.fixture
def lifeline_now(deps, settings, clean_db, tmp_path):
    """Thresholds, three devices registered now (gas g1, g2, water w1) and the consumer on this test's
    sensors.readings with the real clock, relaying its ticket events."""
    from dataclasses import replace

    from sqlalchemy import text

    from application.lifeline import load_devices, load_thresholds, read_devices
    from application.routing import RoutingCache
    from yunguan.wiring import build_lifeline

    with clean_db.begin() as conn:
        conn.execute(text("TRUNCATE devices, device_kinds, sensor_readings CASCADE"))
    load_thresholds(clean_db, yaml.safe_load(RULES_YAML))
    lon, lat = NANGUAN
    (tmp_path / "devices.csv").write_text(
        "device_id,kind,lon,lat,crs,unit,name\n"
        f"g1,gas,{lon},{lat},wgs84,{GAS_UNIT},人民大街调压站\n"
        f"g2,gas,{lon + 0.004},{lat},wgs84,{GAS_UNIT},\n"
        f"w1,water,{lon},{lat + 0.004},wgs84,220102-WATER,\n", encoding="utf-8")
    cache = RoutingCache.from_settings(clean_db, settings)
    try:
        load_devices(clean_db, read_devices(tmp_path / "devices.csv"), cache(), datetime.now(UTC) - timedelta(hours=2))
    finally:
        cache.close()
    deps.settings = replace(deps.settings, lifeline_group=f"{deps.settings.topic_prefix}lifeline",
                            worker_batch_size=200)
    consumer = build_lifeline(deps)
    with running(consumer, "test-lifeline"):
        yield consumer


def _ticket_of(engine, device_id: str) -> str | None:
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT t.ticket_no FROM device_tickets dt JOIN tickets t ON t.id = dt.ticket_id "
            "WHERE dt.device_id = :d AND dt.alarm = 'threshold'"), {"d": device_id}).scalar()


def test_monitor_and_the_consoles_urgent_alert(page_for, server, deps, settings, engine, make_user, lifeline_now):
    base, _ = server
    make_user("duty", "operator")
    make_user("gasdept", "department", unit=GAS_UNIT)
    now = datetime.now(UTC)
    # g1: an hour of readings every minute, quiet then rising past 200 ppm (level 2); g2 and w1 quiet.
    series = [("g1", _reading("g1", now - timedelta(minutes=60 - i), ppm=10.0 + (300.0 if i >= 55 else i * 0.2)))
              for i in range(60)]
    series += [(d, _reading(d, now - timedelta(minutes=1), **({"ppm": 5.0} if d == "g2" else {"bar": 1.0})))
               for d in ("g2", "w1")]
    _publish(settings, deps.topics, series)
    g1_ticket = wait_for(lambda: _ticket_of(engine, "g1"), 30, what="g1's urgent ticket")

    monitor = page_for("duty", path="/monitor", viewport=(1366, 768))
    expect(monitor.locator("[data-test=count-l2] b")).to_have_text("1", timeout=15000)
    expect(monitor.locator("[data-test=count-normal] b")).to_have_text("2")
    expect(monitor.locator("[data-test=count-total] b")).to_have_text("3")
    row = monitor.locator("[data-test=alarms] li[data-device=g1]")
    expect(row).to_contain_text("二级报警")
    expect(row.locator("[data-test=ticket-link]")).to_have_attribute("href", f"/console#ticket={g1_ticket}")
    # drawn: a cluster in level 2's colour, or (unclustered at this zoom) the canvas of the circle markers
    expect(monitor.locator(".dev-cluster.s-l2, .device-map .leaflet-overlay-pane canvas").first).to_be_visible()
    row.click()
    chart = monitor.locator("[data-test=chart]")
    expect(chart.locator("canvas")).to_be_visible(timeout=15000)
    expect(chart).to_have_attribute("data-marklines", "50,200")  # read back from ECharts
    expect(monitor.locator("[data-test=limits]")).to_contain_text("一级 ≥50")
    expect(monitor.locator("[data-test=device-state]")).to_have_text("二级报警")
    monitor.locator("[data-test=range] [data-range='1h'] span").click()
    expect(chart).to_have_attribute("data-marklines", "50,200")
    assert monitor.locator("[data-test=binned]").count() == 0  # an hour of minutes is not downsampled
    # the status filter: offline only hides the alarm list's rows
    monitor.locator("[data-test=count-offline]").click()
    expect(monitor.locator("[data-test=alarms] li")).to_have_count(0)
    monitor.locator("[data-test=count-total]").click()
    expect(monitor.locator("[data-test=alarms] li")).to_have_count(1)

    # A department user is sent to its own page.
    other = page_for("gasdept", path="/unit")
    other.goto(f"{base}/monitor")
    other.wait_for_url("**/unit")
    assert requests.get(f"{base}/monitor", allow_redirects=False, timeout=10).status_code == 302

    console = page_for("duty", path="/console", viewport=(1920, 1080))
    expect(console.locator("[data-test=conn]")).to_have_text("实时", timeout=15000)
    expect(console.locator(f"[data-test=tickets] tr[data-ticket='{g1_ticket}']")).to_be_visible(timeout=15000)
    assert console.locator("[data-test=urgent]").count() == 0  # loaded, not live: no alert for the old one
    # w1's pressure falls below 0.2 bar: a new urgent ticket through the consumer, live to both pages.
    _publish(settings, deps.topics, [("w1", _reading("w1", datetime.now(UTC) + timedelta(seconds=i), bar=0.1))
                                     for i in range(3)])
    w1_ticket = wait_for(lambda: _ticket_of(engine, "w1"), 30, what="w1's urgent ticket")
    banner = console.locator(f"[data-test=urgent-row][data-ticket='{w1_ticket}']")
    expect(banner).to_be_visible(timeout=15000)
    expect(banner).to_contain_text("紧急工单")
    assert "urgent-alert" in (console.locator(f"[data-test=tickets] tr[data-ticket='{w1_ticket}']")
                              .get_attribute("class", timeout=10000) or "")
    expect(monitor.locator("[data-test=count-l1] b")).to_have_text("1", timeout=20000)  # live on the monitor
    banner.locator("[data-test=urgent-open]").click()
    expect(console.locator("[data-test=d-title]")).to_have_text(w1_ticket)
    expect(banner).to_be_visible()  # opening is not acknowledging
    # A second urgent case stacks on top; raised from level 1 to 2 it alerts again as a raise.
    later = datetime.now(UTC) + timedelta(seconds=10)
    _publish(settings, deps.topics, [("g2", _reading("g2", later + timedelta(seconds=i), ppm=100.0)) for i in range(3)])
    g2_ticket = wait_for(lambda: _ticket_of(engine, "g2"), 30, what="g2's urgent ticket")
    rows = console.locator("[data-test=urgent-row]")
    expect(rows).to_have_count(2, timeout=15000)
    expect(rows.first).to_have_attribute("data-ticket", g2_ticket)
    expect(rows.first).to_contain_text("紧急工单")
    _publish(settings, deps.topics, [("g2", _reading("g2", later + timedelta(seconds=5 + i), ppm=300.0))
                                     for i in range(2)])
    expect(rows.first).to_contain_text("报警升级至2级", timeout=15000)
    expect(rows).to_have_count(2)
    expect(monitor.locator("[data-test=count-l2] b")).to_have_text("2", timeout=20000)
    banner.locator("[data-test=urgent-ack]").click()
    expect(rows).to_have_count(1)
    rows.first.locator("[data-test=urgent-ack]").click()
    expect(console.locator("[data-test=urgent]")).to_have_count(0)
    assert "urgent-alert" not in (console.locator(f"[data-test=tickets] tr[data-ticket='{w1_ticket}']")
                                  .get_attribute("class") or "")
    # The monitor's ticket link opens that ticket in the console.
    console.goto(f"{base}/console#ticket={g1_ticket}")
    expect(console.locator("[data-test=d-title]")).to_have_text(g1_ticket, timeout=15000)
    for page in (monitor, console, other):
        assert page.problems == [], page.problems
