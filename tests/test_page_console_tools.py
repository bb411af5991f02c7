"""The console's dispatch tools (frontend/src/pages/console/tools) in Debian's Chromium against the real server,
worker, broker and database: a 12345 call registered with an address picked from the gazetteer's suggestions
becomes a ticket (with the duplicate hint of an open ticket nearby), a reassignment across districts is held
until the operator confirms the warning, and an address-only ticket placed on the map gets its area and is then
registered and dispatched in one step (立案并派遣) to the unit routing suggests."""
from __future__ import annotations

import uuid

import pytest
import requests
from playwright.sync_api import expect

from tests.helpers import wait_for

pytestmark = pytest.mark.integration

PASSWORD = "secret-pass-1"
NANGUAN = {"lon": 125.4388, "lat": 43.7126, "crs": "wgs84"}
NANGUAN_UNIT = "220102-SANITATION"
CHAOYANG_UNIT = "220104-SANITATION"


def _token(base: str, username: str) -> str:
    r = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def _ticket_of(base: str, channel: str, report_id: str) -> str:
    return wait_for(lambda: requests.get(f"{base}/api/v1/reports/{channel}/{report_id}", timeout=5).json()
                    .get("ticket_no"), what=f"the ticket of {channel}/{report_id}")


def _report(base: str, **fields) -> str:
    report_id = f"t-{uuid.uuid4().hex[:12]}"
    r = requests.post(f"{base}/api/v1/reports", json={"report_id": report_id, **fields}, timeout=10)
    assert r.status_code == 202, r.text
    return _ticket_of(base, "public", report_id)


def _get(base: str, token: str, no: str) -> dict:
    r = requests.get(f"{base}/api/v1/tickets/{no}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def _act(base: str, token: str, no: str, action: str, **fields) -> dict:
    version = _get(base, token, no)["version"]
    r = requests.post(f"{base}/api/v1/tickets/{no}/actions", headers={"Authorization": f"Bearer {token}"}, timeout=10,
                      json={"action": action, "version": version, **fields})
    assert r.status_code == 200, r.text
    return r.json()


def _open(page, no: str):
    row = page.locator(f'tr[data-ticket="{no}"]')
    row.wait_for(timeout=20000)
    row.dispatch_event("click")  # the list re-renders as events arrive: dispatched, not aimed
    expect(page.locator('[data-test="d-title"]')).to_have_text(no, timeout=10000)


def _dialog(page, action: str):
    page.locator(f'[data-test="drawer"] [data-action="{action}"]').click()
    dialog = page.locator(f'.tools-dialog[data-action="{action}"]')
    expect(dialog).to_be_visible(timeout=10000)
    return dialog


def _pick_place(page, field, text: str, name: str):
    """Type into a gazetteer field and pick the suggestion called `name`."""
    field.fill(text)
    option = page.locator('[data-test="place-option"]', has_text=name).first
    expect(option).to_be_visible(timeout=10000)
    option.click()


def test_a_call_with_an_address_from_the_suggestions_becomes_a_ticket(page_for, server, worker, make_user, tmp_path):
    base, _ = server
    make_user("call", "hotline")
    # An open ticket at the same park: the form shows it as a duplicate hint.
    park = requests.get(f"{base}/api/v1/places", params={"q": "南湖公园"}, timeout=10,
                        headers={"Authorization": f"Bearer {_token(base, 'call')}"}).json()[0]
    known = _report(base, category="020102", description="南湖公园东门垃圾桶满溢",
                    location={"lon": park["lon"] + 0.0005, "lat": park["lat"]})

    page = page_for("call", path="/console")
    page.locator('[data-test="call-open"]').click()
    form = page.locator('[data-test="call-form"]')
    expect(form).to_be_visible(timeout=10000)
    form.locator('[data-test="call-name"]').fill("王女士")
    form.locator('[data-test="call-phone"]').fill("13912345678")
    _pick_place(page, form.locator('input[data-test="call-address"]'), "南湖公", "南湖公园")
    expect(form.locator('[data-test="call-point"]')).to_contain_text("朝阳区", timeout=10000)
    form.locator('[data-test="call-category"]').click()
    page.keyboard.type("020102")
    page.locator('[data-test="category-option"]').first.click()
    form.locator('[data-test="call-description"]').fill("公园西门路灯不亮，晚上很黑")
    hint = form.locator('[data-test="nearby-item"]', has_text=known)
    expect(hint).to_be_visible(timeout=10000)
    expect(hint).to_contain_text("米")
    status = requests.get(f"{base}/api/v1/tickets/{known}", timeout=10,
                          headers={"Authorization": f"Bearer {_token(base, 'call')}"}).json()["status"]
    assert status not in hint.inner_text(), "the status is shown by its label, not its code"
    page.screenshot(path=str(tmp_path / "call-form.png"))
    form.locator('[data-test="call-submit"]').click()

    shown = form.locator('[data-test="call-ticket"]')
    expect(shown).to_contain_text("CC", timeout=30000)
    report_id = form.locator('[data-test="call-result"]').inner_text().split("受理编号")[1].split()[0]
    assert report_id.startswith("H-"), report_id
    no = _ticket_of(base, "hotline", report_id)
    assert no in shown.inner_text() or no == known, "the call is its own ticket or merged into the known one"
    ticket = _get(base, _token(base, "call"), no)
    report = next(r for r in ticket["reports"] if r["report_id"] == report_id)
    assert report["channel"] == "hotline" and report["reporter"]["name"] == "王女士"
    assert ticket["area"]["district"]["name"] == "朝阳区"
    # The next call starts from an empty form.
    form.locator('[data-test="call-next"]').click()
    expect(form.locator('[data-test="call-name"]')).to_have_value("")
    assert page.problems == []


def test_a_reassignment_across_districts_is_held_until_confirmed(page_for, server, worker, make_user, tmp_path):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    token = _token(base, "duty")
    no = _report(base, category="020102", description="路边垃圾堆放", location=NANGUAN)
    if _get(base, token, no)["status"] == "pending":
        _act(base, token, no, "register", category="020102")
        _act(base, token, no, "dispatch", to_unit=NANGUAN_UNIT)
    assert _get(base, token, no)["assignee"]["code"] == NANGUAN_UNIT  # routed there at intake

    page = page_for("duty")
    _open(page, no)
    dialog = _dialog(page, "reassign")
    dialog.locator('[data-test="unit-picker"]').click()
    page.keyboard.type("朝阳区环境")
    page.locator(f'[data-test="unit-option"][data-code="{CHAOYANG_UNIT}"]').click()
    warning = dialog.locator('[data-test="cross-warning"]')
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("朝阳区")
    expect(warning).to_contain_text("南关区")
    dialog.locator('textarea[data-test="action-note"]').fill("属地核实：问题点位于朝阳区一侧")
    dialog.locator('[data-test="action-send"]').click()
    expect(dialog.locator('[data-test="action-message"]')).to_contain_text("跨区")
    page.screenshot(path=str(tmp_path / "reassign-cross.png"))
    assert _get(base, token, no)["assignee"]["code"] == NANGUAN_UNIT, "nothing was sent before the confirmation"

    dialog.locator('[data-test="cross-confirm"]').click()
    dialog.locator('[data-test="action-send"]').click()
    expect(dialog).to_be_hidden(timeout=10000)
    after = _get(base, token, no)
    assert after["assignee"]["code"] == CHAOYANG_UNIT
    assert after["history"][-1]["action"] == "reassign" and "朝阳区" in after["history"][-1]["note"]
    assert page.problems == []


def test_an_address_only_ticket_placed_on_the_map_gets_its_area(page_for, server, worker, make_user, tmp_path):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    token = _token(base, "duty")
    no = _report(base, category="020102", description="小区门口垃圾堆放",
                 address=f"无名小区{uuid.uuid4().hex[:6]}号门口")
    before = _get(base, token, no)
    assert before["status"] == "pending" and before["location"] is None

    page = page_for("duty")
    _open(page, no)
    dialog = _dialog(page, "locate")
    expect(dialog.locator('[data-test="point-map"]')).to_be_visible()
    _pick_place(page, dialog.locator('input[data-test="locate-search"]'), "南湖公", "南湖公园")
    expect(dialog.locator('[data-test="locate-point"]')).to_contain_text("朝阳区")
    dialog.locator('[data-test="action-send"]').click()
    result = dialog.locator('[data-test="locate-result"]')
    expect(result).to_be_visible(timeout=10000)
    expect(result.locator('[data-test="locate-area"]')).to_contain_text("朝阳区")
    page.screenshot(path=str(tmp_path / "locate.png"))
    after = _get(base, token, no)
    assert after["location"] is not None and after["area"]["district"]["name"] == "朝阳区"
    assert after["status"] == "pending" and after["history"][-1]["action"] == "locate"
    suggested = after["assignee"]
    assert suggested, "routing suggests a unit for the placed ticket"
    expect(result.locator('[data-test="locate-unit"]')).to_have_text(suggested["name"])
    dialog.locator('[data-test="action-cancel"]').click()
    expect(dialog).to_be_hidden()

    # 立案并派遣: the category stays, the suggested unit is chosen and first in the ranked list; two posts.
    dialog = _dialog(page, "register_dispatch")
    expect(dialog.locator('[data-test="unit-picker"]')).to_contain_text(suggested["name"])
    dialog.locator('[data-test="unit-picker"]').click()
    first = page.locator('[data-test="unit-option"]').first
    expect(first).to_have_attribute("data-code", suggested["code"])
    first.click()
    dialog.locator('[data-test="action-send"]').click()
    expect(dialog).to_be_hidden(timeout=10000)
    done = _get(base, token, no)
    assert done["status"] == "dispatched" and done["assignee"]["code"] == suggested["code"]
    assert [h["action"] for h in done["history"][-2:]] == ["register", "dispatch"]
    assert page.problems == []
