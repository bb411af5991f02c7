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
