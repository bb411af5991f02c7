"""The command-centre console (frontend/src/pages/console) in Debian's Chromium against the real server, worker,
broker and database: live tickets (and those missed while offline), photos, hostile text, the city's time in a UTC browser, the English switch, typed
input across a live update, a 3840×2160 wall screen."""
from __future__ import annotations

import json
import re
import uuid

import pytest
import requests
from playwright.sync_api import expect

from tests.helpers import wait_for

pytestmark = pytest.mark.integration

NANGUAN = {"lon": 125.4388, "lat": 43.7126, "crs": "wgs84"}
PASSWORD = "secret-pass-1"

# Strings that execute script if any page ever renders report text as HTML.
HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    '"><svg onload=window.__pwned=1>',
    "<script>window.__pwned=1</script>",
    "javascript:window.__pwned=1",
    "'';!--\"<XSS>=&{()}",
    '<iframe srcdoc="<script>parent.__pwned=1</script>">',
    "{{7*7}}${7*7}<%= 7*7 %>",
]


def _report(base: str, **fields) -> str:
    report_id = f"c-{uuid.uuid4().hex[:12]}"
    body = {"report_id": report_id, "category": "020102", "location": NANGUAN, **fields}
    r = requests.post(f"{base}/api/v1/reports", json=body, timeout=10)
    assert r.status_code == 202, r.text
    return report_id


def _ticket_no(base: str, report_id: str, channel: str = "public") -> str:
    return wait_for(lambda: (requests.get(f"{base}/api/v1/reports/{channel}/{report_id}", timeout=5).json()
                             .get("ticket_no")), what="the ticket number")


def _jpeg() -> bytes:
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def _token(base: str, username: str) -> str:
    r = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def _row(page, no: str):
    return page.locator(f'tr[data-ticket="{no}"]')


def _open(page, no: str):
    _row(page, no).wait_for(timeout=20000)
    _row(page, no).dispatch_event("click")  # the list re-renders as events arrive: dispatched, not aimed
    expect(page.locator('[data-test="d-title"]')).to_have_text(no, timeout=10000)


def test_operator_sees_a_new_ticket_appear_without_reloading(page_for, server, worker, make_user):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    page = page_for("duty")
    expect(page.locator('[data-test="conn"]')).to_have_text("实时", timeout=15000)
    navigations = []
    page.on("framenavigated", lambda f: navigations.append(f.url))
    report_id = f"c-{uuid.uuid4().hex[:12]}"  # with a photo: the drawer shows it as a thumbnail from /media
    report = {"report_id": report_id, "category": "020102", "description": "路边垃圾堆放", "location": NANGUAN}
    r = requests.post(f"{base}/api/v1/reports", timeout=10, data={"report": json.dumps(report)},
                      files=[("photos", ("IMG_0001.jpg", _jpeg(), "image/jpeg"))])
    assert r.status_code == 202, r.text
    ticket_no = _ticket_no(base, report_id)
    _row(page, ticket_no).wait_for(timeout=20000)
    assert navigations == [], "the page reloaded"
    _open(page, ticket_no)
    thumb = page.locator('[data-test="drawer"] img.thumb').first
    expect(thumb).to_have_attribute("src", re.compile(r"/media/[0-9a-f]{64}$"), timeout=10000)
    wait_for(lambda: thumb.evaluate("img => img.complete && img.naturalWidth") == 64, what="the thumbnail to load")
    # The list item carries the channel the ticket came from (the 来源 filter).
    listed = requests.get(f"{base}/api/v1/tickets", headers={"Authorization": f"Bearer {_token(base, 'duty')}"},
                          timeout=10).json()["items"]
    assert next(t for t in listed if t["ticket_no"] == ticket_no)["channel"] == "public"
    page.locator('[data-test="f-channel"]').click()
    page.get_by_role("option", name="传感器", exact=True).click()
    expect(_row(page, ticket_no)).to_have_count(0)
    page.locator('[data-test="f-reset"]').click()
    expect(_row(page, ticket_no)).to_have_count(1)
    # Offline, an event is missed; after the reconnect the page reads what changed meanwhile from the API.
    page.context.set_offline(True)
    expect(page.locator('[data-test="conn"]')).to_have_text("已断开，正在重连…", timeout=10000)
    elsewhere = {"lon": 125.3235, "lat": 43.8171, "crs": "wgs84"}  # far from the first: not merged into it
    missed = _ticket_no(base, _report(base, description="断线期间的报告", location=elsewhere))
    expect(_row(page, missed)).to_have_count(0)
    page.context.set_offline(False)
    _row(page, missed).wait_for(timeout=30000)
    expect(page.locator('[data-test="conn"]')).to_have_text("实时", timeout=15000)
    assert navigations == [], "the page reloaded"
    assert page.problems == []


def test_hostile_report_text_never_runs_in_the_console(page_for, server, worker, make_user, tmp_path):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    page = page_for("duty")
    numbers = [_ticket_no(base, _report(base, description=s, address=s)) for s in HOSTILE]
    for no in numbers:
        _row(page, no).wait_for(timeout=20000)
    page.reload()
    for no in numbers:
        _open(page, no)
        expect(page.locator('[data-test="d-description"]')).not_to_have_text("—")
    # The text is shown as text, and the popup on the map too.
    assert page.locator('[data-test="d-description"]').inner_text() in HOSTILE
    page.locator('[data-test="d-show-on-map"]').click()
    expect(page.locator(".tk-popup")).to_be_visible(timeout=10000)
    page.wait_for_timeout(500)  # let any injected handler fire: the assertion is that none did
    assert page.evaluate("window.__pwned") is None
    assert page.problems == []
    page.screenshot(path=str(tmp_path / "hostile.png"))


def test_a_deadline_shows_in_the_city_time_with_the_browser_in_utc(browser, server, worker, make_user):
    """The browser's zone is UTC, the city's Asia/Shanghai: the deadline reads as the server's instant in
    Shanghai (e.g. 09:30, not 01:30)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    base, app = server
    make_user("duty", "operator", supervisor=True)
    token = _token(base, "duty")
    no = _ticket_no(base, _report(base, description="井盖缺失"))  # a known 小类 at a routable spot: dispatched
    deadline = wait_for(lambda: requests.get(f"{base}/api/v1/tickets/{no}", timeout=10,
                                             headers={"Authorization": f"Bearer {token}"}).json()["deadline"],
                        what="the dispatched ticket's deadline")
    tz = app.extensions["yunguan"].settings.timezone
    local = datetime.fromisoformat(deadline).astimezone(ZoneInfo(tz))
    utc = datetime.fromisoformat(deadline).astimezone(ZoneInfo("UTC"))
    assert local.strftime("%H:%M") != utc.strftime("%H:%M")

    context = browser.new_context(timezone_id="UTC", locale="zh-CN", viewport={"width": 1600, "height": 900})
    try:
        page = context.new_page()
        problems = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(f"{base}/login?next=/console")
        page.fill("input[name=username]", "duty")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/console")
        assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") in ("UTC", "Etc/UTC")
        _open(page, no)
        shown = page.locator('[data-test="d-deadline"]')
        expect(shown).to_contain_text(f"{local.month}月{local.day}日 {local:%H:%M}", timeout=10000)
        assert utc.strftime("%H:%M") not in shown.inner_text()
        # The header clock is the city's too.
        clock = page.locator('[data-test="clock"]').inner_text()
        city_now = datetime.now(ZoneInfo(tz))
        assert abs((int(clock[:2]) - city_now.hour) % 24) in (0, 1, 23), (clock, city_now)
        assert problems == []
    finally:
        context.close()


def test_the_english_switch_changes_the_labels_without_a_reload(page_for, server, worker, make_user):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    no = _ticket_no(base, _report(base, description="广告牌破损"))
    page = page_for("duty")
    _open(page, no)
    expect(page.locator("h1")).to_have_text("指挥中心")
    status_zh = page.locator('[data-test="d-status"]').inner_text()
    navigations = []
    page.on("framenavigated", lambda f: navigations.append(f.url))
    page.locator('[data-test="lang-switch"]').click()
    expect(page.locator("h1")).to_have_text("Command centre")
    expect(page.locator('[data-test="conn"]')).to_have_text("Live", timeout=15000)
    status_en = page.locator('[data-test="d-status"]').inner_text()
    assert status_en != status_zh and re.fullmatch(r"[A-Za-z ]+", status_en), status_en
    expect(page.locator('[data-test="d-history"]')).to_contain_text("Dispatched")
    assert navigations == [], "the page reloaded"
    assert "yunguan_lang=en" in page.evaluate("document.cookie")
    page.locator('[data-test="lang-switch"]').click()
    expect(page.locator("h1")).to_have_text("指挥中心")
    assert page.problems == []


SIZES_JS = """() => ({
    root: parseFloat(getComputedStyle(document.documentElement).fontSize),
    row: parseFloat(getComputedStyle(document.querySelector('tr[data-ticket] td')).fontSize),
    title: parseFloat(getComputedStyle(document.querySelector('h1')).fontSize),
    button: parseFloat(getComputedStyle(document.querySelector('[data-test="f-reset"]')).fontSize),
    overflow: document.documentElement.scrollWidth > window.innerWidth,
})"""


def test_a_3840_wide_wall_screen_renders_larger_text(page_for, server, worker, make_user):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    no = _ticket_no(base, _report(base, description="道路破损"))
    sizes = {}
    page = page_for("duty", viewport=(1920, 1080))
    _row(page, no).wait_for(timeout=20000)
    for width, height in ((1920, 1080), (3840, 2160)):
        page.set_viewport_size({"width": width, "height": height})
        wait_for(lambda w=width: page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
                 > 15.9 * w / 1920, what="the type scale to follow the viewport")
        # Element Plus animates a button's font-size: read once two readings 200 ms apart agree.
        last: list[dict] = [page.evaluate(SIZES_JS)]

        def _settled(last=last):
            now = page.evaluate(SIZES_JS)
            same, last[0] = now == last[0], now
            return same

        wait_for(_settled, 10, interval=0.2, what="the sizes to settle")
        sizes[width] = last[0]
        assert not sizes[width]["overflow"], sizes
    assert page.problems == []
    small, big = sizes[1920], sizes[3840]
    for key in ("root", "row", "title", "button"):
        assert big[key] >= 1.8 * small[key], (key, small, big)


def test_a_half_typed_note_survives_a_live_update_of_the_same_ticket(page_for, server, worker, make_user):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    make_user("duty2", "operator", supervisor=True)
    no = _ticket_no(base, _report(base, description="树木倒伏"))
    page = page_for("duty")
    _open(page, no)
    page.locator('[data-test="drawer"] [data-action="comment"]').click()
    note = page.locator('[data-test="action-dialog"] textarea[data-test="action-note"]')
    note.fill("已联系园林处，正在")
    # Another operator changes the same ticket: the event reaches this page, the drawer shows the new version.
    headers = {"Authorization": f"Bearer {_token(base, 'duty2')}"}
    version = requests.get(f"{base}/api/v1/tickets/{no}", headers=headers, timeout=10).json()["version"]
    r = requests.post(f"{base}/api/v1/tickets/{no}/actions", headers=headers, timeout=10,
                      json={"action": "comment", "version": version, "note": "另一位值班员的备注"})
    assert r.status_code == 200, r.text
    expect(page.locator('[data-test="d-history"]')).to_contain_text("另一位值班员的备注", timeout=20000)
    expect(note).to_have_value("已联系园林处，正在")
    # The note is finished and sent on the version now shown: no 409.
    note.fill("已联系园林处，正在处理")
    page.locator('[data-test="action-dialog"] [data-test="action-send"]').click()
    expect(page.locator('[data-test="d-history"]')).to_contain_text("已联系园林处，正在处理", timeout=15000)
    assert page.problems == []


def test_a_stale_version_reloads_the_ticket_and_says_why(page_for, server, worker, make_user):
    """受理 posts at once (the ticket has a category); when another operator changed the ticket in between and this
    page missed it, the 409 is explained in words and the newest version is shown."""
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    make_user("duty2", "operator", supervisor=True)
    # An address the gazetteer cannot place: the ticket waits in the pending queue with its category.
    no = _ticket_no(base, _report(base, description="井盖缺失", location=None, address="某某路无名小巷"))
    page = page_for("duty")
    _open(page, no)
    expect(page.locator('[data-test="d-status"]')).to_have_text("待处理")
    version = requests.get(f"{base}/api/v1/tickets/{no}", timeout=10,
                           headers={"Authorization": f"Bearer {_token(base, 'duty')}"}).json()["version"]
    hold = {"on": True}  # while on, the page cannot reload the ticket: it keeps the version it has

    def gate(route):
        if hold["on"] and route.request.method == "GET":
            route.abort()
        else:
            route.continue_()

    page.route(f"**/api/v1/tickets/{no}", gate)
    r = requests.post(f"{base}/api/v1/tickets/{no}/actions", timeout=10,
                      headers={"Authorization": f"Bearer {_token(base, 'duty2')}"},
                      json={"action": "comment", "version": version, "note": "已电话联系报告人"})
    assert r.status_code == 200, r.text
    expect(page.locator('[data-test="drawer"] .d-error')).to_be_visible(timeout=20000)  # its reload was refused
    hold["on"] = False
    page.locator('[data-test="drawer"] [data-action="preregister"]').click()
    expect(page.locator('[data-test="d-result"]')).to_contain_text("案件已被他人更新", timeout=10000)
    expect(page.locator('[data-test="d-history"]')).to_contain_text("已电话联系报告人", timeout=10000)
    expect(page.locator('[data-test="d-status"]')).to_have_text("待处理")
    # Now on the newest version, the same button goes through.
    page.locator('[data-test="drawer"] [data-action="preregister"]').click()
    expect(page.locator('[data-test="d-result"]')).to_contain_text("已完成", timeout=10000)
    assert page.problems == []
