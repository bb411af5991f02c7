"""合并 (merge_into) on the console in Debian's Chromium against the real server, worker, broker and database:
the drawer of a duplicate offers 合并, the dialog lists the open tickets nearby (the same 小类 first), shows both
tickets, and the merge moves the duplicate's reports to the chosen ticket and ends the duplicate."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.test_page_console_tools import NANGUAN, _dialog, _get, _open, _report, _token

pytestmark = pytest.mark.integration


def test_a_duplicate_is_merged_into_a_nearby_ticket_from_the_drawer(page_for, server, worker, make_user, tmp_path):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    token = _token(base, "duty")
    here = dict(NANGUAN, lat=NANGUAN["lat"] - 0.018)  # ~2 km south: a spot no other test of the console uses
    a = _report(base, category="020102", description="小区门口垃圾成堆", location=here)
    b = _report(base, category="020102", description="垃圾堆放多日未清",
                location=dict(here, lat=here["lat"] + 0.0012))  # ~130 m north: a ticket of its own
    assert a != b

    page = page_for("duty")
    _open(page, a)
    dialog = _dialog(page, "merge_into")
    option = dialog.locator(f'[data-test="merge-candidates"] [data-no="{b}"]')
    expect(option).to_be_visible(timeout=10000)
    expect(dialog.locator(f'[data-test="merge-candidates"] [data-no="{a}"]')).to_have_count(0)
    option.click()
    expect(dialog.locator('[data-test="merge-from"]')).to_contain_text("小区门口垃圾成堆")
    expect(dialog.locator('[data-test="merge-to"]')).to_contain_text("垃圾堆放多日未清")
    expect(dialog.locator('[data-test="merge-category-warning"]')).to_have_count(0)  # the same 小类
    dialog.locator('textarea[data-test="action-note"]').fill("同一处垃圾")
    page.screenshot(path=str(tmp_path / "merge-dialog.png"))
    dialog.locator('[data-test="action-send"]').click()
    expect(dialog).to_be_hidden(timeout=10000)

    merged, target = _get(base, token, a), _get(base, token, b)
    assert merged["status"] == "rejected" and merged["history"][-1]["action"] == "merge_into"
    assert merged["history"][-1]["note"] == f"合并至 {b}：同一处垃圾"
    assert target["report_count"] == 2 and target["history"][-1]["data"]["from_ticket"] == a
    assert page.problems == []
