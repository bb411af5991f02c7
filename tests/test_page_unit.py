"""The department workbench (/unit, frontend/src/pages/unit): its queue by deadline, live, with the ticket's
place, countdown, photos and action forms whose typed text survives live updates. Browser tests drive Debian's
Chromium against the real server, worker, broker and database; the queue's API is tested over HTTP."""
from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.test_lookup_api import _at, _envelope, ingest

pytestmark = pytest.mark.integration

UNIT = "220102-SANITATION"


def _token(base: str, username: str) -> dict:
    r = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": "secret-pass-1"},
                      timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_the_ticket_list_takes_several_statuses_and_names_an_unknown_one(server, deps, make_user):
    base, _ = server
    make_user("nanguan", "department", unit=UNIT)
    headers = _token(base, "nanguan")
    nos = ingest(deps, [_envelope(f"q-{i}", location=_at(east_m=150 * i)) for i in range(3)])
    no = nos[0]
    version = requests.get(f"{base}/api/v1/tickets/{no}", headers=headers, timeout=10).json()["version"]
    r = requests.post(f"{base}/api/v1/tickets/{no}/actions", headers=headers, timeout=10,
                      json={"action": "acknowledge", "version": version})
    assert r.status_code == 200, r.text

    def listed(*statuses):
        r = requests.get(f"{base}/api/v1/tickets", headers=headers, timeout=10,
                         params=[("status", s) for s in statuses] + [("sort", "deadline")])
        assert r.status_code == 200, r.text
        return {t["ticket_no"]: t["status"] for t in r.json()["items"]}

    assert listed("acknowledged") == {no: "acknowledged"}
    both = listed("dispatched", "acknowledged")
    assert set(both) == set(nos) and both[no] == "acknowledged"
    assert listed("closed") == {}
    bad = requests.get(f"{base}/api/v1/tickets", headers=headers, timeout=10,
                       params=[("status", "dispatched"), ("status", "lost")])
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"], bad.text


# --- the page -----------------------------------------------------------------------------------------------

def _png(width: int = 3000, height: int = 2000) -> bytes:
    """A photo larger than the page sends (2560 px) and not a JPEG: the browser must shrink and re-encode it."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 140, 90)).save(out, "PNG")
    return out.getvalue()


def _card(page, ticket_no: str):
    return page.locator(f"li.card[data-ticket='{ticket_no}']")


def _act(base: str, headers: dict, ticket_no: str, action: str, **fields) -> dict:
    version = requests.get(f"{base}/api/v1/tickets/{ticket_no}", headers=headers, timeout=10).json()["version"]
    r = requests.post(f"{base}/api/v1/tickets/{ticket_no}/actions", headers=headers, timeout=10,
                      json={"action": action, "version": version, **fields})
    assert r.status_code == 200, r.text
    return r.json()


def test_department_acknowledges_and_handles_on_its_workbench(page_for, server, worker, make_user, tmp_path):
    from tests.test_browser import _report, _ticket_no

    base, _ = server
    make_user("nanguan", "department", unit=UNIT)
    page = page_for("nanguan", path="/unit")
    expect(page.locator("[data-test=conn]")).to_have_text("实时", timeout=15000)
    ticket_no = _ticket_no(base, _report(base, description="人行道垃圾堆放", address="人民大街100号"))
    card = _card(page, ticket_no)
    card.wait_for(timeout=20000)  # arrives live in the queue
    expect(card.locator("[data-test=countdown]")).to_have_text(re.compile(r"^\s*(剩余|超时)\S*\d+(小时|分|天)"))
    card.click()

    detail = page.locator(f"article.ticket-detail[data-ticket='{ticket_no}']")
    expect(detail.locator("[data-test=countdown]")).to_have_text(re.compile(r"^(剩余|超时)"))
    ticket = requests.get(f"{base}/api/v1/tickets/{ticket_no}", headers=_token(base, "nanguan"), timeout=10).json()
    names = [ticket["area"][lvl]["name"] for lvl in ("district", "street", "community", "grid") if ticket["area"].get(lvl)]
    assert names, ticket["area"]
    expect(detail.locator("[data-test=area-path]")).to_have_text(" › ".join(names))
    expect(detail.locator(".ticket-map.leaflet-container")).to_be_visible()
    expect(detail.locator(".ticket-map .leaflet-marker-icon")).to_be_visible()

    detail.locator("form[data-action=acknowledge] button[type=submit]").click()
    expect(detail.locator("[data-test=status]")).to_have_text("已签收", timeout=10000)
    handle = detail.locator("form[data-action=handle]")
    handle.locator("textarea").fill("已清理完毕，地面见本色")
    handle.locator("input[type=file]").set_input_files(
        files=[{"name": "现场.png", "mimeType": "image/png", "buffer": _png()}])
    expect(handle.locator(".picked-photo")).to_contain_text("现场.png")
    handle.locator("button[type=submit]").click()
    expect(detail.locator("[data-test=status]")).to_have_text("已处置", timeout=15000)
    expect(detail.locator(".timeline")).to_contain_text("已清理完毕")

    # The photo was shrunk and re-encoded in the browser, stored, and shows as a picture that loads.
    img = detail.locator("[data-test=handled-photos] img").first
    expect(img).to_be_visible(timeout=10000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle(), timeout=10000)
    assert img.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [2560, 1707]
    handled = next(h for h in requests.get(f"{base}/api/v1/tickets/{ticket_no}", headers=_token(base, "nanguan"),
                                           timeout=10).json()["history"] if h["action"] == "handle")
    assert [a["media_type"] for a in handled["data"]["attachments"]] == ["image/jpeg"]
    page.screenshot(path=str(tmp_path / "unit.png"))
    assert page.problems == []


def test_half_typed_text_survives_a_live_update_and_switching_tickets(page_for, server, deps, worker, make_user):
    base, _ = server
    make_user("nanguan", "department", unit=UNIT)
    make_user("duty", "operator", supervisor=True)
    first, second = ingest(deps, [_envelope("d-1", location=_at(), address="永吉街1号"),
                                  _envelope("d-2", location=_at(east_m=900), address="永吉街9号")])
    dept = _token(base, "nanguan")
    _act(base, dept, first, "acknowledge")
    page = page_for("nanguan", path="/unit")
    _card(page, first).click()
    detail = page.locator(f"article.ticket-detail[data-ticket='{first}']")
    typed = "已清理一半，剩余垃圾下午运走"
    detail.locator("form[data-action=handle] textarea").fill(typed)

    # The command centre comments on the ticket: the open detail reloads live, the typing stays.
    _act(base, _token(base, "duty"), first, "comment", note="请今天内处置完毕")
    expect(detail.locator(".timeline")).to_contain_text("请今天内处置完毕", timeout=20000)
    expect(detail.locator("form[data-action=handle] textarea")).to_have_value(typed)

    # Another ticket and back: still there, and the queue marks the ticket with unsent input.
    _card(page, second).click()
    expect(page.locator(f"article.ticket-detail[data-ticket='{second}']")).to_be_visible()
    expect(page.locator(f"article.ticket-detail[data-ticket='{second}'] form[data-action=acknowledge]")).to_be_visible()
    expect(_card(page, first).locator(".drafted")).to_be_visible()
    _card(page, first).click()
    expect(page.locator(f"article.ticket-detail[data-ticket='{first}'] form[data-action=handle] textarea")) \
        .to_have_value(typed)

    # Sent: the draft goes with it.
    page.locator(f"article.ticket-detail[data-ticket='{first}'] form[data-action=handle] button[type=submit]").click()
    expect(detail.locator("[data-test=status]")).to_have_text("已处置", timeout=15000)
    expect(_card(page, first).locator(".drafted")).to_have_count(0)

    # The English switch: labels and the countdown follow at once, without a reload.
    page.locator("[data-test=lang-switch]").click()
    expect(detail.locator("[data-test=status]")).to_have_text("Handled")
    expect(_card(page, second).locator("[data-test=countdown]")).to_have_text(re.compile(r"(left|overdue)$"))
    assert page.problems == []


def test_a_queue_longer_than_a_page_loads_more(page_for, server, deps, make_user):
    base, _ = server
    make_user("nanguan", "department", unit=UNIT)
    nos = ingest(deps, [_envelope(f"m-{i}", location=_at(east_m=100 * (i % 25), north_m=100 * (i // 25)))
                        for i in range(205)])
    assert len(nos) == 205
    page = page_for("nanguan", path="/unit")
    cards = page.locator("li.card")
    expect(cards).to_have_count(200, timeout=20000)
    page.locator("[data-test=more]").click()
    expect(cards).to_have_count(205, timeout=20000)
    expect(page.locator("[data-test=more]")).to_have_count(0)
    shown = page.locator("li.card").evaluate_all("cards => cards.map(c => c.dataset.ticket)")
    assert sorted(shown) == sorted(nos)
    assert page.problems == []
