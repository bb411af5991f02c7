"""The evaluation page (综合评价, issue 16) and the console's failed notifications (issue 17) in Chromium: the
table of a hand-built September (tests/test_evaluation_v1.py's scenario) equals the API's, a figure opens
exactly its cases and a case its history, the CSV downloads with the page's token, the monthly report prints
to A4 with the API's numbers, other roles are sent home, and a dead delivery shows in the console's header."""
from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
import requests
from playwright.sync_api import expect

from tests.test_api_fuzz import NANGUAN_UNIT
from tests.test_evaluation_v1 import CHAOYANG_UNIT, SEPTEMBER, Scenario, build

pytestmark = pytest.mark.integration


@pytest.fixture
def september(deps):
    """The scenario's tickets (September 2026, two units), opened and driven through the application layer."""
    from application.routing import RoutingCache
    from dispatch.worktime import WorkingTime
    from store.loop import load_context

    routing = RoutingCache.from_settings(deps.engine, deps.settings)
    with deps.engine.connect() as conn:
        loop = load_context(conn, WorkingTime.from_settings(deps.settings), "tickets.events")
    return build(Scenario(deps.engine, routing(), loop))


def _head(base: str, username: str) -> dict:
    r = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": "secret-pass-1"}, timeout=10)
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_the_table_its_cases_their_history_the_csv_and_the_printed_report(page_for, server, september, make_user,
                                                                            tmp_path):
    base, _ = server
    make_user("ev-ops", "operator")
    api = requests.get(f"{base}/api/v1/evaluation", params={"by": "unit", **SEPTEMBER},
                       headers=_head(base, "ev-ops"), timeout=10).json()
    nanguan = next(r for r in api["rows"] if r["key"]["code"] == NANGUAN_UNIT)
    assert nanguan["counts"]["dispatched"] == 9 and api["boards"]["red"] and api["boards"]["black"]

    page = page_for("ev-ops", path="/evaluation")
    page.goto(f"{base}/evaluation?month=2026-09")
    row = page.locator(f"[data-test=row][data-key='{NANGUAN_UNIT}']")
    expect(row.locator("[data-count=dispatched]")).to_have_text("9", timeout=15000)
    # every count and rate of the row is the API's, rates as percentages and null as —
    for name, value in nanguan["counts"].items():
        expect(row.locator(f"[data-count={name}]")).to_have_text(str(value))
    for name, rate in nanguan["rates"].items():
        shown = "—" if rate is None else f"{rate * 100:.1f}%"
        expect(row.locator(f"[data-rate={name}]")).to_have_text(shown)
    # 红黑榜: the API's boards, marked
    red, black = api["boards"]["red"][0], api["boards"]["black"][0]
    expect(page.locator(f"[data-test=row][data-key='{red}'] [data-test=board-red]")).to_be_visible()
    expect(page.locator(f"[data-test=row][data-key='{black}'] [data-test=board-black]")).to_be_visible()
    # sortable: by dispatched, most first, then flipped
    page.click("[data-test=sort-dispatched]")
    expect(page.locator("[data-test=row]").first).to_have_attribute("data-key", NANGUAN_UNIT)
    page.click("[data-test=sort-dispatched]")
    expect(page.locator("[data-test=row]").first).not_to_have_attribute("data-key", NANGUAN_UNIT)

    # a figure opens exactly its cases: overdue of 南关 is T2, T7, T9, T10
    row.locator("[data-count=overdue]").click()
    cases = page.locator("[data-test=case-row]")
    expect(cases).to_have_count(nanguan["counts"]["overdue"], timeout=10000)
    listed = sorted(cases.locator("button[data-ticket]").evaluate_all("els => els.map(e => e.dataset.ticket)"))
    assert listed == sorted(september[k] for k in ("T2", "T7", "T9", "T10"))
    expect(page.locator("[data-test=cases-title]")).to_contain_text("4")
    # a case opens its history: T7's two returns and the arbitration, as the ticket API has them
    t7 = september["T7"]
    page.click(f"[data-test=cases] button[data-ticket='{t7}']")
    steps = page.locator("[data-test=history-steps] li")
    detail = requests.get(f"{base}/api/v1/tickets/{t7}", headers=_head(base, "ev-ops"), timeout=10).json()
    expect(steps).to_have_count(len(detail["history"]), timeout=10000)
    expect(page.locator("[data-test=history-steps]")).to_contain_text("仲裁：现场在南关区一侧")
    page.click("[data-test=history-close]")
    page.click("[data-test=cases-close]")
    # a rate opens the cases of its numerator: 按期处置率 → the tickets handled on time
    row.locator("[data-rate=on_time_rate] button").click()
    expect(cases).to_have_count(nanguan["counts"]["handled_on_time"], timeout=10000)
    page.click("[data-test=cases-close]")

    # the CSV of the table, fetched with the page's bearer token
    with page.expect_download() as got:
        page.click("[data-test=csv]")
    lines = list(csv.reader(io.StringIO(got.value.path().read_text(encoding="utf-8"))))
    assert len(lines) == 1 + len(api["rows"])
    assert [ln[0] for ln in lines[1:]] == [r["key"]["code"] or "" for r in api["rows"]]
    with page.expect_download() as got:
        page.click("[data-test=xlsx]")
    from openpyxl import load_workbook

    assert got.value.suggested_filename == "evaluation-2026-09-01-2026-10-01.xlsx"
    sheet = load_workbook(io.BytesIO(got.value.path().read_bytes()), read_only=True).worksheets[0]
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [r["key"]["code"] for r in api["rows"]]

    # another breakdown and the period's shortcut
    page.select_option("[data-test=by]", "district")
    expect(page.locator("[data-test=row]").first).to_be_visible(timeout=10000)
    assert "by=district" in page.url and "month=2026-09" in page.url
    page.click("[data-test=this-month]")  # November 2026 by the real clock: nothing dispatched
    expect(page.locator("[data-test=empty]")).to_be_visible(timeout=10000)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{base}/evaluation?month=2026-09&by=unit")
    expect(row.locator("[data-count=dispatched]")).to_have_text("9", timeout=15000)
    # the period's hotspots on the district map (南关区's communities) and its daily trend
    expect(page.locator("[data-test=heatmap] .screen-district-label", has_text="南关区")).to_be_attached(timeout=15000)
    expect(page.locator(".ev-panel canvas").first).to_be_visible()
    page.click("[data-test=lang-switch]")  # English in place
    expect(page.locator("h1")).to_have_text("Evaluation")
    expect(page.locator("[data-test=sort-dispatched]")).to_have_text("Dispatched")
    expect(row.locator("[data-count=dispatched]")).to_have_text("9")
    assert page.problems == [], page.problems

    # the printable monthly report: the API's numbers, A4 pages
    page.goto(f"{base}/evaluation/report?month=2026-09")
    title = "2026年9月城市运行管理综合评价月报"
    expect(page.locator("[data-test=title]")).to_have_text(title)
    totals = {name: sum(r["counts"][name] for r in api["rows"]) for name in ("dispatched", "closed", "overdue")}
    for name, value in totals.items():
        expect(page.locator(f"[data-figure={name}]")).to_have_text(str(value))
    on_time = sum(r["counts"]["handled_on_time"] for r in api["rows"]) / totals["dispatched"]
    expect(page.locator("[data-figure=on_time_rate]")).to_have_text(f"{on_time * 100:.1f}%")
    expect(page.locator(f"[data-test=units] tr[data-key='{NANGUAN_UNIT}'] [data-count=dispatched]")).to_have_text("9")
    expect(page.locator(f"[data-test=units] tr[data-key='{CHAOYANG_UNIT}'] [data-count=dispatched]")).to_have_text("1")
    expect(page.locator("[data-test=units] .tag.red")).to_have_count(1)
    page.emulate_media(media="print")
    assert not page.locator("nav.screen-only").is_visible()  # no controls in print
    pdf = tmp_path / "report.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    from pypdf import PdfReader

    reader = PdfReader(str(pdf))
    assert len(reader.pages) >= 3  # summary, ranking, districts and the rest: page breaks between them
    width, height = float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)
    assert abs(width - 595) < 2 and abs(height - 842) < 2, (width, height)  # A4 in points
    text = re.sub(r"\s+", "", "".join(p.extract_text() for p in reader.pages))
    assert title in text and "红榜" in text and "黑榜" in text
    assert page.problems == [], page.problems

    # a month without cases still renders; a bad month is a 400 naming the field, never a 5xx
    empty = requests.get(f"{base}/evaluation/report?month=2025-01", headers=_head(base, "ev-ops"), timeout=10)
    assert empty.status_code == 200 and "本月没有派遣的案件" in empty.text and "2025年1月" in empty.text
    r = requests.get(f"{base}/evaluation/report?month=9999-12", headers=_head(base, "ev-ops"), timeout=10)
    assert r.status_code == 400 and "month" in r.json()["error"]["fields"]


def test_a_city_that_ranks_only_units_with_enough_cases_says_so(page_for, server, september, make_user, deps):
    """evaluation_min_dispatched 5: 朝阳区 (1 case) is listed without a rank, and the page and the report say
    why; 南关区 (9) is ranked alone."""
    base, _ = server
    deps.settings = deps.settings.replace(evaluation_min_dispatched=5)
    make_user("ev-ops2", "operator")
    api = requests.get(f"{base}/api/v1/evaluation", params={"by": "unit", **SEPTEMBER},
                       headers=_head(base, "ev-ops2"), timeout=10).json()
    ranks = {r["key"]["code"]: r["rank"] for r in api["rows"]}
    assert api["min_dispatched"] == 5 and ranks == {NANGUAN_UNIT: 1, CHAOYANG_UNIT: None}
    page = page_for("ev-ops2", path="/evaluation")
    page.goto(f"{base}/evaluation?month=2026-09")
    expect(page.locator("[data-test=min-dispatched]")).to_contain_text("派遣少于 5 件的不排名", timeout=15000)
    expect(page.locator(f"[data-test=row][data-key='{CHAOYANG_UNIT}'] td.rank")).to_have_text("—")
    page.goto(f"{base}/evaluation/report?month=2026-09")
    expect(page.locator(".note").first).to_contain_text("派遣少于 5 件的单位不排名")
    assert page.problems == [], page.problems


def test_other_roles_are_sent_home(page_for, server, make_user):
    base, _ = server
    make_user("ev-dept", "department", unit=NANGUAN_UNIT)
    page = page_for("ev-dept", path="/unit")
    for path in ("/evaluation", "/evaluation/report?month=2026-09"):
        page.goto(f"{base}{path}")
        page.wait_for_url("**/unit")
    assert requests.get(f"{base}/evaluation", allow_redirects=False, timeout=10).headers["Location"].startswith("/login")


def test_a_dead_delivery_shows_in_the_console(page_for, server, deps, make_user):
    from store import deliveries

    base, _ = server
    make_user("ev-duty", "operator")
    now = datetime.now(UTC)
    planned = {"channel": "email", "target_key": "email:z@example.cn", "target": "z***@example.cn",
               "address": "zhang@example.cn", "hook_id": None, "subject": "案件已登记", "body": "您反映的问题已登记"}
    with deps.engine.begin() as conn:
        assert deliveries.enqueue(conn, "ev-key-1", "YG-TEST-1", "ticket.registered", [planned], now) == 1
        delivery_id = conn.exec_driver_sql("SELECT id FROM deliveries WHERE event_key = 'ev-key-1'").scalar_one()
        deliveries.record(conn, delivery_id, ok=False, status_code=None, error="SMTP 550 mailbox unavailable",
                          duration_ms=12, at=now, next_at=None)
    page = page_for("ev-duty", path="/console")
    expect(page.locator("[data-test=delivery-count]")).to_have_text("1", timeout=15000)
    page.click("[data-test=delivery-badge]")
    row = page.locator("[data-test=delivery-row]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("z***@example.cn")
    expect(row).to_contain_text("SMTP 550 mailbox unavailable")
    expect(row).to_contain_text("YG-TEST-1")
    assert "zhang@example.cn" not in page.content()
    # the console leads to the evaluation page (and to the lifeline monitoring view)
    page.click("[data-test=command-links-open]")
    expect(page.locator("[data-test=link-monitor]")).to_have_attribute("href", "/monitor")
    page.click("[data-test=link-evaluation]")
    page.wait_for_url("**/evaluation")
    assert page.problems == [], page.problems
