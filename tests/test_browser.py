"""Browser tests: Debian's Chromium driven by Playwright against the real server, worker, broker and database."""
from __future__ import annotations

import uuid

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.integration

NANGUAN = {"lon": 125.4388, "lat": 43.7126, "crs": "wgs84"}

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
    report_id = f"b-{uuid.uuid4().hex[:12]}"
    body = {"report_id": report_id, "category": "020102", "location": NANGUAN, **fields}
    r = requests.post(f"{base}/api/v1/reports", json=body, timeout=10)
    assert r.status_code == 202, r.text
    return report_id


def _visible(page, text: str):
    return page.get_by_text(text, exact=True).filter(visible=True).first


def _ticket_no(base: str, report_id: str, channel: str = "public") -> str:
    from tests.helpers import wait_for

    return wait_for(lambda: (requests.get(f"{base}/api/v1/reports/{channel}/{report_id}", timeout=5).json()
                             .get("ticket_no")), what="the ticket number")


def test_operator_sees_a_new_ticket_appear_without_reloading(page_for, server, worker, make_user):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    page = page_for("duty")
    expect(page.get_by_text("Live", exact=False).first).to_be_visible()
    navigations = []
    page.on("framenavigated", lambda f: navigations.append(f.url))
    ticket_no = _ticket_no(base, _report(base, description="路边垃圾堆放"))
    _visible(page, ticket_no).wait_for(timeout=20000)
    assert navigations == [], "the page reloaded"
    assert page.problems == []


def test_hostile_report_text_never_runs_in_the_console(page_for, server, worker, make_user, tmp_path):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    page = page_for("duty")
    numbers = [_ticket_no(base, _report(base, description=s, address=s)) for s in HOSTILE]
    for no in numbers:
        _visible(page, no).wait_for(timeout=20000)
    page.reload()
    for no in numbers:
        _visible(page, no).wait_for(timeout=20000)
        _visible(page, no).click()  # opens whatever detail view the console has
    page.wait_for_timeout(500)  # let any injected handler fire: the assertion is that none did
    assert page.evaluate("window.__pwned") is None
    assert page.problems == []
    page.screenshot(path=str(tmp_path / "hostile.png"))


def test_resident_reports_with_geolocation_and_tracks_it(browser, server, worker, tmp_path):
    base, _ = server
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                  geolocation={"longitude": NANGUAN["lon"], "latitude": NANGUAN["lat"]},
                                  permissions=["geolocation"])
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        page.goto(f"{base}/report")
        expect(page.locator("#category option[value='020102']")).to_have_count(1)
        page.select_option("#category", "020102")
        page.fill("#description", "小区门口垃圾堆放三天无人清理")
        page.click("#locate")
        expect(page.locator("#located")).to_contain_text("43.71")
        page.fill("#phone", "13912345678")
        page.click("#submit")
        receipt = page.locator("#receipt")
        receipt.wait_for(timeout=15000)
        report_id = receipt.text_content()
        assert report_id.startswith("R")
        page.screenshot(path=str(tmp_path / "report.png"))

        page.click("#track-link")
        ticket_no = _ticket_no(base, report_id)
        if not page.locator("#r-ticket").text_content():  # looked up before the worker had finished
            page.click("#track-form button[type=submit]")
        expect(page.locator("#r-ticket")).to_have_text(ticket_no, timeout=15000)
        body = page.inner_text("body")
        assert "已派遣" in body and "13912345678" not in body and "3912" not in body
        page.screenshot(path=str(tmp_path / "track.png"))
        assert problems == []
    finally:
        context.close()


def test_grid_worker_reports_with_faked_geolocation_and_verifies(browser, server, worker, make_user, grid_cell):
    base, app = server
    make_user("gw01", "grid", grid=grid_cell)
    make_user("nanguan", "department", unit="220102-SANITATION")
    routing = app.extensions["yunguan_routing"]
    routing.reload()  # the grid cell may be new: do not wait for the periodic check
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                  geolocation={"longitude": NANGUAN["lon"], "latitude": NANGUAN["lat"]},
                                  permissions=["geolocation"])
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        page.goto(f"{base}/login?next=/grid")
        page.fill("input[name=username]", "gw01")
        page.fill("input[name=password]", "secret-pass-1")
        page.click("button[type=submit]")
        page.wait_for_url("**/grid")
        page.fill("#cat-search", "暴露垃圾")
        expect(page.locator("#category option[value='020102']")).to_be_attached()
        page.select_option("#category", "020102")
        page.fill("#description", "绿地内暴露垃圾")
        page.click("#locate")
        expect(page.locator("#located")).to_contain_text("43.71")
        page.click("#submit")
        expect(page.locator("#sent")).to_contain_text("G", timeout=10000)
        report_id = page.locator("#sent").text_content().split(":")[-1].strip()
        ticket_no = _ticket_no(base, report_id, channel="grid")

        # The department handles it over the API; the grid worker verifies it on site from the phone.
        token = requests.post(f"{base}/api/v1/auth/token", json={"username": "nanguan", "password": "secret-pass-1"},
                              timeout=10).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        for action, note in (("acknowledge", None), ("handle", "已清运")):
            version = requests.get(f"{base}/api/v1/tickets/{ticket_no}", headers=headers, timeout=10).json()["version"]
            r = requests.post(f"{base}/api/v1/tickets/{ticket_no}/actions", headers=headers, timeout=10,
                              json={"action": action, "version": version, **({"note": note} if note else {})})
            assert r.status_code == 200, r.text
        page.click("button[data-tab=tasks]")
        task = page.locator(f"li.task[data-ticket='{ticket_no}']")
        task.locator("form[data-action=verify] button").click(timeout=15000)
        expect(page.locator(f"li.task[data-ticket='{ticket_no}']")).to_have_count(0, timeout=10000)
        assert requests.get(f"{base}/api/v1/tickets/{ticket_no}", headers=headers, timeout=10).json()["status"] \
            == "verified"
        assert problems == []
    finally:
        context.close()


def test_the_status_label_shown_comes_from_the_served_vocabulary(browser, server, worker):
    """/track shows the status label of the vocabulary document the server embedded in the page: the document
    is rewritten on its way to the browser, and the page shows the rewritten label, which no copy in a
    script could (decision 0016, "Vocabulary")."""
    import json
    import re

    from dispatch import vocabulary

    base, _ = server
    ticket_no = _ticket_no(base, _report(base, description="井盖缺失"))
    status = requests.get(f"{base}/api/v1/tickets/{ticket_no}", timeout=10).json()["status"]
    entry = next(s for s in vocabulary.document()["statuses"] if s["code"] == status)
    shown = entry.get("public", entry)
    embedded = re.compile(r'(<script type="application/json" id="vocabulary">)(.*?)(</script>)', re.S)

    def mark(route):
        response = route.fetch()
        found = embedded.search(response.text())
        assert found, "the page embeds no vocabulary"
        doc = json.loads(found.group(2))
        for s in doc["statuses"]:
            for label in (s, s.get("public") or {}):
                if "zh" in label:
                    label["zh"] = f"«{label['zh']}»"
        text = json.dumps(doc, ensure_ascii=False).replace("<", "\\u003c")
        body = response.text()[:found.start(2)] + text + response.text()[found.end(2):]
        route.fulfill(response=response, body=body)

    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        page.route(lambda url: "/track" in url and "/static/" not in url, mark)
        page.goto(f"{base}/track?q={ticket_no}")
        expect(page.locator("#r-ticket")).to_have_text(ticket_no, timeout=15000)
        expect(page.locator("#r-status")).to_have_text(f"«{shown['zh']}» {shown['en']}")
        assert problems == []
    finally:
        context.close()
