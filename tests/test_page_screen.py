"""The wall screen (指挥大屏) in Chromium: fills 1920×1080 and 3840×2160 without scrolling, text grows with the
screen, its tiles show the live figures of GET /api/v1/screen, and it follows new tickets without a reload."""
from __future__ import annotations

import uuid

import pytest
import requests
from playwright.sync_api import expect

from tests.helpers import wait_for

pytestmark = pytest.mark.integration

NANGUAN = {"lon": 125.4388, "lat": 43.7126, "crs": "wgs84"}


def _report(base: str) -> str:
    report_id = f"s-{uuid.uuid4().hex[:12]}"
    body = {"report_id": report_id, "category": "020102", "location": NANGUAN, "description": "大屏测试"}
    assert requests.post(f"{base}/api/v1/reports", json=body, timeout=10).status_code == 202
    return report_id


def _token(base: str, username: str) -> str:
    r = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": "secret-pass-1"},
                      timeout=10)
    return r.json()["token"]


def test_the_wall_screen_fills_each_size_and_follows_new_tickets(page_for, server, worker, make_user, tmp_path):
    base, _ = server
    make_user("wall", "operator")
    first = _report(base)
    wait_for(lambda: requests.get(f"{base}/api/v1/reports/public/{first}", timeout=5).json().get("ticket_no"),
             what="the first ticket")
    headers = {"Authorization": f"Bearer {_token(base, 'wall')}"}
    figures = requests.get(f"{base}/api/v1/screen", headers=headers, timeout=10).json()
    assert figures["open"] >= 1 and figures["opened_today"] >= 1

    sizes = {}
    for width, height in ((1920, 1080), (3840, 2160)):
        page = page_for("wall", path="/screen", viewport=(width, height))
        open_tile = page.locator("[data-test=tile-open] b")
        expect(open_tile).to_have_text(str(figures["open"]), timeout=15000)
        expect(page.locator("[data-test=live]")).to_have_class("live live", timeout=15000)
        expect(page.locator(".p-t30 canvas").first).to_be_visible(timeout=15000)
        # The district map: outlines labelled with their open tickets (南关区 holds the test point).
        expect(page.locator(".screen-district-label", has_text="南关区")).to_contain_text("南关区 ", timeout=15000)
        fits = page.evaluate("() => [document.documentElement.scrollHeight, innerHeight,"
                             " document.documentElement.scrollWidth, innerWidth]")
        assert fits[0] <= fits[1] and fits[2] <= fits[3], f"the screen scrolls at {width}×{height}: {fits}"
        sizes[width] = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)")
        assert page.problems == [], page.problems
        if width == 1920:
            # A new ticket reaches the tiles through the live feed, without a reload.
            second = _report(base)
            wait_for(lambda r=second: requests.get(f"{base}/api/v1/reports/public/{r}", timeout=5).json()
                     .get("ticket_no"), what="the second ticket")
            now_open = requests.get(f"{base}/api/v1/screen", headers=headers, timeout=10).json()["open"]
            expect(open_tile).to_have_text(str(now_open), timeout=15000)
            assert "超时" in page.locator(".tiles").inner_text()
        else:
            shot = tmp_path / "screen-4k.png"  # not docs/screenshots: those come from the demo (make screenshots)
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 100_000  # a 4K picture of a drawn screen, not a blank page
    assert sizes[3840] >= 1.8 * sizes[1920], sizes
