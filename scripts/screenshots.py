"""Screenshots of every page for docs/screenshots/, taken from a running `yunguan demo` with live traffic.

    .venv/bin/python scripts/screenshots.py            # or: make screenshots

Starts `yunguan demo` on a free port (broker, worker and simulated traffic included), waits until tickets
flow, walks one ticket through a department and a grid worker so every page has something to show, takes
the pictures in Debian's Chromium and stops everything it started. The pictures are what a reviewer
should look at: would a duty officer want to work on this screen all day?
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from playwright.sync_api import expect, sync_playwright
from shapely.geometry import shape

from yunguan.demo import DEMO_PASSWORD as PASSWORD

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate, what: str, timeout: float = 90.0, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except requests.RequestException:
            value = None
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"screenshots: gave up waiting for {what} after {timeout:.0f} s")


class Api:
    def __init__(self, base: str, username: str) -> None:
        r = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": PASSWORD}, timeout=10)
        r.raise_for_status()
        self.base, self.me = base, r.json()
        self.headers = {"Authorization": f"Bearer {self.me['token']}"}

    def get(self, path: str, **params):
        r = requests.get(f"{self.base}{path}", headers=self.headers, params=params, timeout=10)
        r.raise_for_status()
        return r.json()

    def act(self, no: str, action: str, **fields) -> dict:
        version = self.get(f"/api/v1/tickets/{no}")["version"]
        r = requests.post(f"{self.base}/api/v1/tickets/{no}/actions", headers=self.headers, timeout=10,
                          json={"action": action, "version": version, **fields})
        r.raise_for_status()
        return r.json()


def stage(base: str) -> dict:
    """A grid worker's report handled by the sanitation branch (a verification task on the phone), one more
    ticket acknowledged on the workbench, and a resident's report to track."""
    grid, dept = Api(base, "gw01"), Api(base, "nanguan-env")
    cells = grid.get("/api/v1/areas", level="grid")["features"]
    cell = next(f for f in cells if f["properties"]["code"] == grid.me["grid"])
    point = shape(cell["geometry"]).representative_point()
    report_id = f"G-shot-{uuid.uuid4().hex[:8]}"
    r = requests.post(f"{base}/api/v1/reports", headers=grid.headers, timeout=10, json={
        "report_id": report_id, "channel": "grid", "category": "020102", "description": "绿地内暴露垃圾，约两立方",
        "location": {"lon": point.x, "lat": point.y, "crs": "wgs84"}})
    r.raise_for_status()
    ticket = wait(lambda: requests.get(f"{base}/api/v1/reports/grid/{report_id}", timeout=5).json().get("ticket_no"),
                  "the grid report's ticket")
    # A re-run may find the report merged into the ticket of an earlier run: move it on from where it is.
    status = dept.get(f"/api/v1/tickets/{ticket}")["status"]
    if status == "dispatched":
        dept.act(ticket, "acknowledge")
        status = "acknowledged"
    if status == "acknowledged":
        dept.act(ticket, "handle", note="已清运，地面见本色")
    elif status != "handled":
        raise SystemExit(f"screenshots: the grid report joined ticket {ticket}, already {status}; run again later")
    queue = dept.get("/api/v1/tickets", status="dispatched", limit=5)["items"]
    if queue:
        dept.act(queue[0]["ticket_no"], "acknowledge")
    public_id = f"R-shot-{uuid.uuid4().hex[:8]}"
    r = requests.post(f"{base}/api/v1/reports", timeout=10, json={
        "report_id": public_id, "category": "020102", "description": "小区门口垃圾桶满溢",
        "location": {"lon": 125.3245, "lat": 43.8868, "crs": "wgs84"}})
    r.raise_for_status()
    public_ticket = wait(lambda: requests.get(f"{base}/api/v1/reports/public/{public_id}", timeout=5).json()
                         .get("ticket_no"), "the resident's ticket")
    return {"grid_ticket": ticket, "public_ticket": public_ticket}


def shoot(base: str, out: Path, staged: dict) -> list[Path]:
    saved: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def page_as(username: str | None, path: str, width: int, height: int, **extra):
            context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                          timezone_id="Asia/Shanghai", device_scale_factor=1, **extra)
            page = context.new_page()
            if username:
                page.goto(f"{base}/login?next={path}")
                page.fill("input[name=username]", username)
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"**{path}")
            else:
                page.goto(f"{base}{path}")
            return page

        def save(page, name: str) -> None:
            path = out / name
            page.screenshot(path=str(path))
            saved.append(path)

        def settle(page, selector: str, ms: int = 2500) -> None:
            """Wait for the page's own content, then let maps, charts and live lists settle: a picture, not a test."""
            expect(page.locator(selector).first).to_be_visible(timeout=45000)
            page.wait_for_timeout(ms)

        page = page_as("duty", "/console", 1600, 900)
        settle(page, "tr[data-ticket]", 3000)
        save(page, "console.png")
        # The list re-renders as events arrive, so the click is dispatched rather than aimed.
        page.locator("tr[data-ticket]").nth(2).dispatch_event("click")
        page.wait_for_timeout(1500)
        save(page, "console-detail.png")
        page.context.close()

        for width, height, name in ((1920, 1080, "screen.png"), (3840, 2160, "screen-4k.png")):
            page = page_as("duty", "/screen", width, height)
            settle(page, ".p-t30 canvas", 4000)
            save(page, name)
            page.context.close()

        # 综合评价: the month that holds most of the demo's 30 days of history, its cases, its printed report.
        month = (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=15)).strftime("%Y-%m")
        page = page_as("duty", "/evaluation", 1600, 900)
        page.goto(f"{base}/evaluation?month={month}")
        settle(page, "[data-test=row] [data-count=dispatched]")
        save(page, "evaluation.png")
        page.locator("[data-test=row] [data-count=dispatched]").first.click()
        settle(page, "[data-test=case-row]", 1500)
        save(page, "evaluation-cases.png")
        page.context.close()
        page = page_as("duty", "/evaluation", 900, 1270)
        page.goto(f"{base}/evaluation/report?month={month}")
        settle(page, "[data-test=units] tr[data-key]", 2500)
        save(page, "evaluation-report.png")
        page.context.close()

        # 城市生命线监测, when the demo runs simulated lifeline devices (else: tests/shot_monitor.py takes it).
        if Api(base, "duty").get("/api/v1/devices/map", limit=1).get("rows"):
            page = page_as("duty", "/monitor", 1920, 1080)
            settle(page, "[data-test=alarms] li, [data-test=alarms] .empty")
            alarms = page.locator("[data-test=alarms] li")
            if alarms.count():
                alarms.first.dispatch_event("click")  # the device's chart, the map zoomed to it
                settle(page, "[data-test=chart] canvas", 1500)
                for _ in range(3):  # back out to the city's clusters
                    page.locator(".leaflet-control-zoom-out").click()
                    page.wait_for_timeout(400)
            page.wait_for_timeout(1500)
            save(page, "monitor.png")
            page.context.close()

        page = page_as("nanguan-env", "/unit", 1440, 900)
        settle(page, "#app [data-ticket]")
        page.locator("#app [data-ticket]").first.dispatch_event("click")
        page.wait_for_timeout(1500)
        save(page, "unit.png")
        page.context.close()

        phone = {"geolocation": {"longitude": 125.3245, "latitude": 43.8868}, "permissions": ["geolocation"],
                 "is_mobile": True, "has_touch": True}
        page = page_as("gw01", "/grid", 390, 844, **phone)
        settle(page, "#app form, #app textarea")
        save(page, "grid-report.png")
        page.context.close()

        page = page_as(None, "/report", 390, 844, **phone)
        settle(page, "#app textarea")
        save(page, "report.png")
        page.context.close()

        page = page_as(None, f"/track?q={staged['public_ticket']}", 390, 844)
        settle(page, "#r-ticket")
        save(page, "track.png")
        page.context.close()
        browser.close()
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--rate", type=float, default=30.0, help="simulated reports per second")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, YUNGUAN_SECRET_KEY=uuid.uuid4().hex)
    exe = [sys.executable, "-m", "yunguan.cli"]
    demo = subprocess.Popen([*exe, "demo", "--port", str(port), "--rate", str(args.rate)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL)
    try:
        wait(lambda: requests.get(f"{base}/readyz", timeout=2).ok, "the demo to be ready (it simulates 30 days of history first)", timeout=1500)
        duty = Api(base, "duty")
        wait(lambda: len(duty.get("/api/v1/tickets", limit=200)["items"]) >= 150, "tickets to flow", timeout=180)
        saved = shoot(base, out, stage(base))
    finally:
        demo.send_signal(signal.SIGTERM)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
        subprocess.run([*exe, "down"], env=env, cwd=ROOT, check=False)
    for path in saved:
        print(f"screenshots: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
