"""综合评价 v1 (contract §8, issue 16) on hand-built histories in the real database: tickets opened by the
intake's own code and driven through the application layer's actions at explicit instants (on-time and late
acknowledgement and handling, an approved extension, rework, a return that was not upheld, one that was,
an arbitration, tickets across the period's boundaries); every count checked ticket by ticket through its
case list, every breakdown adding up to the same total, the XLSX and CSV equal to the API, bad queries 400,
the deadlines a ticket shows and its history carries, and `yunguan kpi rebuild` giving the same facts."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from application.act import act
from application.envelope import validate_envelope
from dispatch import kpi
from dispatch.actors import SYSTEM, Actor
from dispatch.lifecycle import Command
from tests.test_api_fuzz import NANGUAN_UNIT

CST = ZoneInfo("Asia/Shanghai")
CHAOYANG_UNIT = "220104-SANITATION"
DUTY = Actor("duty", "operator", supervisor=True)
CLERK = Actor("clerk", "operator")
NANGUAN = Actor("nanguan", "department", unit=NANGUAN_UNIT)
CHAOYANG = Actor("chaoyang", "department", unit=CHAOYANG_UNIT)
SEPTEMBER = {"from": "2026-09-01", "to": "2026-10-01"}


def at(day: int, hh: int, mm: int = 0, month: int = 9) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=CST)


# --- pure formulas -------------------------------------------------------------------------------------------

def test_rates_score_ranks_and_boards():
    counts = {"dispatched": 4, "acknowledged_on_time": 3, "handled": 0, "handled_on_time": 0, "overdue": 1,
              "reworked": 0, "returned": 1, "extended": 0, "closed": 2}
    rates = kpi.rates(counts)
    assert rates["close_rate"] == 0.5 and rates["ack_rate"] == 0.75 and rates["overdue_rate"] == 0.25
    assert rates["rework_rate"] is None  # nothing handled: no denominator, null rather than 0
    weights = {"close": 1.0, "rework": 1.0, "overdue": 1.0}
    assert kpi.score(rates, weights) == pytest.approx(100 * (0.5 + 0.75) / 2)  # rework drops out
    assert kpi.ranks([(90.0, 5), (80.0, 5), (90.0, 5), (99.0, 1), (None, 5)], min_dispatched=2) == [1, 3, 1, None, None]
    ranked = [("A", 1, 5), ("B", 2, 5), ("C", 3, 5), ("D", 4, 5), ("E", None, 5)]
    assert kpi.boards(ranked, 2) == {"red": ["A", "B"], "black": ["D", "C"]}
    assert kpi.boards(ranked[:3], 2) == {"red": ["A"], "black": ["C"]}  # a row is on one board at most
    # Shared ranks: the row with more tickets first on either board, then the key.
    tied = [("small", 1, 2), ("big", 1, 300), ("mid", 1, 40), ("w-small", 4, 1), ("w-big", 4, 90), ("x", 6, 9)]
    assert kpi.boards(tied, 2) == {"red": ["big", "mid"], "black": ["x", "w-big"]}
    assert kpi.boards(tied[:3], 1) == {"red": ["big"], "black": ["mid"]}  # all tied: never on both boards
    with pytest.raises(ValueError, match="unknown weight"):
        kpi.parse_weights("speed=1")


def test_the_configuration_knows_the_domains_weight_names():
    from config import settings

    assert settings._WEIGHTS == tuple(kpi.WEIGHT_RATES)
    assert kpi.parse_weights(settings.load_settings().evaluation_weights) == dict(kpi.DEFAULT_WEIGHTS)


# --- the scenario in the database ------------------------------------------------------------------------------

class Scenario:
    """Tickets of 暴露垃圾 (020102: acknowledge within 1 working hour, handle within 4) in 南关区, each opened
    by the intake at its own instant, 200 m from the others so that none merges."""

    def __init__(self, engine, routing, loop):
        self.engine, self.routing, self.loop, self.opened = engine, routing, loop, 0

    def open(self, when: datetime, channel: str = "grid") -> str:
        from application.ingest import Received, ingest

        east, north = self.opened % 4, self.opened // 4
        self.opened += 1
        envelope = validate_envelope({
            "schema": "report/1", "report_id": f"ev-{self.opened}", "channel": channel,
            "reported_at": when.isoformat(), "category": "020102", "description": "路边垃圾堆放",
            "location": {"lon": 125.4388 + east * 0.0025, "lat": 43.7126 + north * 0.0018}})
        with self.engine.begin() as conn:
            [no] = ingest(conn, [Received(envelope, f"reports.{channel}", 0, self.opened)], self.routing, now=when,
                          timezone="Asia/Shanghai", ticket_prefix="EV", events_topic="tickets.events", loop=self.loop)
        return no

    def do(self, no: str, actor: Actor, action: str, when: datetime, **fields) -> None:
        with self.engine.connect() as conn:
            version = conn.execute(text("SELECT version FROM tickets WHERE ticket_no = :n"), {"n": no}).scalar_one()
        assert act(self.engine, no, Command(action, version, **fields), actor, when, self.loop) is not None


def build(s: Scenario) -> dict[str, str]:
    t = {}
    mon, tue = 7, 8  # 7 and 8 September 2026: working days; the handle deadline of a 09:00 dispatch is 14:00
    t["T1"] = s.open(at(mon, 9))  # all on time, closed
    s.do(t["T1"], NANGUAN, "acknowledge", at(mon, 9, 30))
    s.do(t["T1"], NANGUAN, "handle", at(mon, 11), note="已清理")
    s.do(t["T1"], CLERK, "verify", at(mon, 11, 30))
    s.do(t["T1"], DUTY, "close", at(mon, 11, 40))
    t["T2"] = s.open(at(mon, 9), "hotline")  # acknowledged late (10:30 > 10:00), handled late (15:00 > 14:00)
    s.do(t["T2"], NANGUAN, "acknowledge", at(mon, 10, 30))
    s.do(t["T2"], NANGUAN, "handle", at(mon, 15), note="已清理")
    t["T3"] = s.open(at(mon, 9))  # an approved extension: 16:30 is on time, 70 + 20 working minutes used
    s.do(t["T3"], NANGUAN, "acknowledge", at(mon, 9, 10))
    s.do(t["T3"], NANGUAN, "request_extension", at(mon, 10), minutes=300, note="需协调清运车辆")
    s.do(t["T3"], DUTY, "approve_extension", at(mon, 10, 10), minutes=300)  # 300 working minutes: until 16:10
    s.do(t["T3"], SYSTEM, "resume", at(mon, 16, 10))  # what the deadline pass does at the planned end
    s.do(t["T3"], NANGUAN, "handle", at(mon, 16, 30), note="已清理")
    t["T4"] = s.open(at(mon, 9))  # reworked: failed verification, handled again in time, closed
    s.do(t["T4"], NANGUAN, "acknowledge", at(mon, 9, 20))
    s.do(t["T4"], NANGUAN, "handle", at(mon, 10), note="已清理")
    s.do(t["T4"], CLERK, "fail_verify", at(mon, 10, 30), note="仍有垃圾")
    s.do(t["T4"], NANGUAN, "handle", at(mon, 11), note="已清理干净")
    s.do(t["T4"], CLERK, "verify", at(mon, 11, 30))
    s.do(t["T4"], DUTY, "close", at(mon, 11, 40))
    t["T5"] = s.open(at(mon, 9))  # returned, not upheld: back to 南关 (its clock keeps 09:00), handled 13:30
    s.do(t["T5"], NANGUAN, "return", at(mon, 9, 15), note="不属于我单位")
    s.do(t["T5"], DUTY, "dispatch", at(mon, 9, 45), to_unit=NANGUAN_UNIT)
    s.do(t["T5"], NANGUAN, "acknowledge", at(mon, 9, 50))
    s.do(t["T5"], NANGUAN, "handle", at(mon, 13, 30), note="已清理")
    t["T6"] = s.open(at(mon, 9))  # returned, upheld: 朝阳 leads and keeps a clean record
    s.do(t["T6"], NANGUAN, "return", at(mon, 9, 15), note="属朝阳区")
    s.do(t["T6"], DUTY, "dispatch", at(mon, 9, 45), to_unit=CHAOYANG_UNIT)
    s.do(t["T6"], CHAOYANG, "acknowledge", at(mon, 10))
    s.do(t["T6"], CHAOYANG, "handle", at(mon, 11), note="已清理")
    t["T7"] = s.open(at(mon, 9))  # returned twice; the 值班长's arbitration gives it to 南关: late by 15:00
    s.do(t["T7"], NANGUAN, "return", at(mon, 9, 15), note="属朝阳区")
    s.do(t["T7"], DUTY, "dispatch", at(mon, 9, 30), to_unit=CHAOYANG_UNIT)
    s.do(t["T7"], CHAOYANG, "return", at(mon, 9, 40), note="属南关区")
    s.do(t["T7"], DUTY, "dispatch", at(mon, 10), to_unit=NANGUAN_UNIT, note="仲裁：现场在南关区一侧")
    s.do(t["T7"], NANGUAN, "acknowledge", at(mon, 10, 5))
    s.do(t["T7"], NANGUAN, "handle", at(mon, 15), note="已清理")
    t["T8a"] = s.open(at(31, 17, month=8))  # dispatched in August, done in September: August's
    s.do(t["T8a"], NANGUAN, "acknowledge", at(1, 9))
    s.do(t["T8a"], NANGUAN, "handle", at(1, 10), note="已清理")
    t["T8b"] = s.open(at(30, 16), "hotline")  # dispatched in September, closed in October: September's
    s.do(t["T8b"], NANGUAN, "acknowledge", at(30, 16, 10))
    s.do(t["T8b"], NANGUAN, "handle", at(30, 17), note="已清理")
    s.do(t["T8b"], CLERK, "verify", at(9, 9, month=10))
    s.do(t["T8b"], DUTY, "close", at(9, 9, 10, month=10))
    t["T9"] = s.open(at(tue, 9))  # acknowledged, never handled: overdue since 14:00
    s.do(t["T9"], NANGUAN, "acknowledge", at(tue, 9, 10))
    t["T10"] = s.open(at(tue, 9))  # never acknowledged: late and overdue
    return t


EXPECTED_NANGUAN = {
    "dispatched": {"T1", "T2", "T3", "T4", "T5", "T7", "T8b", "T9", "T10"},
    "acknowledged_on_time": {"T1", "T3", "T4", "T5", "T7", "T8b", "T9"},
    "handled": {"T1", "T2", "T3", "T4", "T5", "T7", "T8b"},
    "handled_on_time": {"T1", "T3", "T4", "T5", "T8b"},
    "overdue": {"T2", "T7", "T9", "T10"},
    "reworked": {"T4"},
    "returned": {"T5", "T7"},
    "extended": {"T3"},
    "closed": {"T1", "T4", "T8b"},
}
EXPECTED_CHAOYANG = {name: ({"T6"} if name in ("dispatched", "acknowledged_on_time", "handled", "handled_on_time")
                            else set()) for name in kpi.COUNTS}


@pytest.fixture(scope="module")
def world(base_settings, engine):
    """The scenario, built once for the module's tests (which only read it, or restore what they change),
    through the runtime's own database role, and an app with an account per role."""
    from application.routing import RoutingCache
    from dispatch.worktime import WorkingTime
    from store.loop import load_context
    from store.users import add_user
    from tests.conftest import DATA_TABLES
    from web.app import create_app
    from web.auth import Tokens
    from yunguan.wiring import build as wiring

    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
    deps = wiring(base_settings)
    try:
        routing = RoutingCache.from_settings(deps.engine, deps.settings)
        with deps.engine.connect() as conn:
            loop = load_context(conn, WorkingTime.from_settings(deps.settings), "tickets.events")
        tickets = build(Scenario(deps.engine, routing(), loop))
        app, _ = create_app(deps, routing, relay_events=False)
        tokens = Tokens(deps.settings.secret_key)
        heads = {}
        with engine.begin() as conn:
            for name, role, kw in (("ev-duty", "operator", {"supervisor": True}), ("ev-admin", "admin", {}),
                                   ("ev-dept", "department", {"unit": NANGUAN_UNIT}), ("ev-hotline", "hotline", {})):
                heads[name] = {"Authorization": f"Bearer {tokens.issue(add_user(conn, name, 'secret-pass-1', role, **kw))}"}
        yield deps, tickets, app.test_client(), heads
    finally:
        deps.close()


@pytest.fixture
def scenario(world):
    deps, tickets, _, _ = world
    return deps.engine, tickets


@pytest.fixture
def http(world):
    _, _, client, heads = world
    return client, heads


def _cases(client, head, by, key, count, **period) -> list[str]:
    """Every ticket number behind one figure, page by page (3 a page, so that paging is exercised)."""
    out, cursor = [], None
    while True:
        r = client.get("/api/v1/evaluation/cases", headers=head, query_string={
            "by": by, "key": key, "count": count, "limit": 3, **(period or SEPTEMBER),
            **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.get_data(as_text=True)
        page = r.get_json()
        out += [t["ticket_no"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            assert page["total"] == len(out)
            return out


def test_each_count_ticket_by_ticket_and_every_breakdown_adds_up(scenario, http):
    _, t = scenario
    client, heads = http
    name_of = {no: name for name, no in t.items()}
    r = client.get("/api/v1/evaluation", headers=heads["ev-duty"], query_string={"by": "unit", **SEPTEMBER})
    assert r.status_code == 200, r.get_data(as_text=True)
    table = r.get_json()
    assert (table["by"], table["from"], table["to"]) == ("unit", "2026-09-01", "2026-10-01")
    assert set(table["formulas"]) >= set(kpi.RATES) and "score" in table["formulas"]
    rows = {row["key"]["code"]: row for row in table["rows"]}
    assert set(rows) == {NANGUAN_UNIT, CHAOYANG_UNIT}
    assert rows[NANGUAN_UNIT]["key"]["name"] == "南关区环境卫生管理中心"
    for unit, expected in ((NANGUAN_UNIT, EXPECTED_NANGUAN), (CHAOYANG_UNIT, EXPECTED_CHAOYANG)):
        row = rows[unit]
        assert set(row["counts"]) == set(kpi.COUNTS) and set(row["rates"]) == set(kpi.RATES)
        for count, names in expected.items():
            behind = _cases(client, heads["ev-duty"], "unit", unit, count)
            assert {name_of[no] for no in behind} == names, (unit, count)
            assert row["counts"][count] == len(behind) == len(names), (unit, count)
    nanguan = rows[NANGUAN_UNIT]
    assert nanguan["rates"]["on_time_rate"] == pytest.approx(5 / 9)
    assert nanguan["rates"]["rework_rate"] == pytest.approx(1 / 7)
    assert rows[CHAOYANG_UNIT]["rates"]["rework_rate"] == 0.0 and rows[CHAOYANG_UNIT]["rates"]["close_rate"] == 0.0
    assert rows[CHAOYANG_UNIT]["rank"] == 1 and nanguan["rank"] == 2 and nanguan["score"] < rows[CHAOYANG_UNIT]["score"]
    assert table["boards"] == {"red": [CHAOYANG_UNIT], "black": [NANGUAN_UNIT]}
    assert table["min_dispatched"] == 1  # the default: every row with a score is ranked

    # Every breakdown's rows add up to the same counts; each row's figure is the length of its list.
    totals = {c: len(EXPECTED_NANGUAN[c]) + len(EXPECTED_CHAOYANG[c]) for c in kpi.COUNTS}
    for by in kpi.BREAKDOWNS:
        table = client.get("/api/v1/evaluation", headers=heads["ev-admin"],
                           query_string={"by": by, **SEPTEMBER}).get_json()
        assert {c: sum(row["counts"][c] for row in table["rows"]) for c in kpi.COUNTS} == totals, by
        if by != "unit":
            for row in table["rows"]:
                key = row["key"]["code"] or "none"
                for count in ("dispatched", "overdue", "handled_on_time"):
                    assert len(_cases(client, heads["ev-admin"], by, key, count)) == row["counts"][count], (by, key)
    grid = client.get("/api/v1/evaluation", headers=heads["ev-admin"], query_string={"by": "category", **SEPTEMBER})
    assert [(r["key"], r["counts"]["dispatched"]) for r in grid.get_json()["rows"]] == [
        ({"code": "020102", "name": "暴露垃圾"}, 10)]

    # The other side of the boundaries: August has only the ticket dispatched on 31 August.
    august = {"from": "2026-08-01", "to": "2026-09-01"}
    table = client.get("/api/v1/evaluation", headers=heads["ev-duty"], query_string={"by": "unit", **august}).get_json()
    [row] = table["rows"]
    assert row["counts"]["dispatched"] == 1 and row["counts"]["handled_on_time"] == 1
    assert [name_of[no] for no in _cases(client, heads["ev-duty"], "unit", NANGUAN_UNIT, "dispatched", **august)] == ["T8a"]


def test_deadlines_in_force_and_in_the_history(scenario, http):
    engine, t = scenario
    client, heads = http
    extended = client.get(f"/api/v1/tickets/{t['T3']}", headers=heads["ev-duty"]).get_json()
    dispatch = next(h for h in extended["history"] if h["action"] == "dispatch")
    assert dispatch["data"]["deadline"] == at(7, 14).isoformat()  # 4 working hours from 09:00 (lunch 12-13)
    assert dispatch["data"]["deadlines"] == {"acknowledge": at(7, 10).isoformat(), "handle": at(7, 14).isoformat()}
    approve = next(h for h in extended["history"] if h["action"] == "approve_extension")
    # 70 working minutes used before the pause, which runs 300 working minutes (to 16:10); the other 170:
    # 80 on Monday, 90 on Tuesday from 08:30.
    assert datetime.fromisoformat(approve["data"]["deadline"]) == at(8, 10)
    assert approve["data"]["deadlines"]["acknowledge"] is None  # acknowledged: that clock is done
    resume = next(h for h in extended["history"] if h["action"] == "resume")
    assert "deadline" not in (resume["data"] or {})  # resumed at the planned end: the deadline stays
    assert "deadline" not in (next(h for h in extended["history"] if h["action"] == "acknowledge")["data"] or {})
    assert extended["deadlines"] == {"acknowledge": None, "handle": None}  # handled: no clock runs

    waiting = client.get(f"/api/v1/tickets/{t['T10']}", headers=heads["ev-duty"]).get_json()
    assert {k: datetime.fromisoformat(v) for k, v in waiting["deadlines"].items()} == {
        "acknowledge": at(8, 10), "handle": at(8, 14)}
    rework = client.get(f"/api/v1/tickets/{t['T4']}", headers=heads["ev-duty"]).get_json()
    failed = next(h for h in rework["history"] if h["action"] == "fail_verify")
    assert datetime.fromisoformat(failed["data"]["deadline"]) == at(7, 15, 30)  # the rework's own clock


def test_exports_equal_the_api(scenario, http):
    from openpyxl import load_workbook

    client, heads = http
    r = client.get("/api/v1/evaluation.xlsx", headers=heads["ev-duty"], query_string={"by": "district", **SEPTEMBER})
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(r.data))
    assert book.sheetnames[0].endswith("district") and book.sheetnames[-1].endswith("formulas")
    assert len(book.sheetnames) == len(kpi.BREAKDOWNS) + 1
    formulas_sheet = [row[0] for row in book[book.sheetnames[-1]].iter_rows(values_only=True)]
    assert "on_time_rate" in formulas_sheet and "score" in formulas_sheet
    for by, sheet in zip(["district", *(b for b in kpi.BREAKDOWNS if b != "district")], book.sheetnames, strict=False):
        api = client.get("/api/v1/evaluation", headers=heads["ev-duty"], query_string={"by": by, **SEPTEMBER}).get_json()
        header, *lines = list(book[sheet].iter_rows(values_only=True))
        assert list(header) == ["code", "name", *kpi.COUNTS, *kpi.RATES, "score", "rank"]
        assert len(lines) == len(api["rows"])
        for line, row in zip(lines, api["rows"], strict=True):
            as_api = [row["key"]["code"], row["key"]["name"], *(row["counts"][c] for c in kpi.COUNTS),
                      *(row["rates"][r] for r in kpi.RATES), row["score"], row["rank"]]
            assert list(line) == pytest.approx(as_api), (by, line)

    r = client.get("/api/v1/evaluation.csv", headers=heads["ev-admin"], query_string={"by": "unit", **SEPTEMBER})
    assert r.status_code == 200 and r.mimetype == "text/csv"
    lines = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    api = client.get("/api/v1/evaluation", headers=heads["ev-admin"], query_string={"by": "unit", **SEPTEMBER}).get_json()
    assert [(x["code"], int(x["dispatched"]), int(x["overdue"])) for x in lines] == [
        (row["key"]["code"], row["counts"]["dispatched"], row["counts"]["overdue"]) for row in api["rows"]]
    r = client.get("/api/v1/evaluation/cases.csv", headers=heads["ev-admin"],
                   query_string={"by": "unit", "key": NANGUAN_UNIT, "count": "overdue", **SEPTEMBER})
    assert len(list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))) == len(EXPECTED_NANGUAN["overdue"])


def test_hotspots_and_trends(scenario, http):
    engine, t = scenario
    client, heads = http
    r = client.get("/api/v1/hotspots", headers=heads["ev-duty"], query_string={"level": "district", **SEPTEMBER})
    assert r.status_code == 200, r.get_data(as_text=True)
    features = r.get_json()["features"]
    assert len(features) == 11 and all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)
    counts = {f["properties"]["code"]: f["properties"]["count"] for f in features}
    assert sum(counts.values()) == 10 and counts["220102"] == 10  # opened in September, all in 南关区
    same = client.get("/api/v1/hotspots", headers=heads["ev-duty"],
                      query_string={"level": "district", "category": "02", **SEPTEMBER}).get_json()
    assert {f["properties"]["code"]: f["properties"]["count"] for f in same["features"]} == counts
    none = client.get("/api/v1/hotspots", headers=heads["ev-duty"],
                      query_string={"level": "district", "category": "01", **SEPTEMBER}).get_json()
    assert sum(f["properties"]["count"] for f in none["features"]) == 0

    r = client.get("/api/v1/trends", headers=heads["ev-duty"], query_string={"from": "2026-09-07", "to": "2026-09-09"})
    assert r.status_code == 200, r.get_data(as_text=True)
    mon, tue = r.get_json()["days"]
    assert (mon["date"], mon["intake"]["grid"], mon["intake"]["hotline"], mon["intake_total"]) == ("2026-09-07", 6, 1, 7)
    assert (mon["dispatched"], mon["closed"], mon["overdue"]) == (7, 2, 2)  # T1, T4 closed; T2 and T7 late
    assert (tue["intake_total"], tue["dispatched"], tue["closed"], tue["overdue"]) == (2, 2, 0, 2)  # T9, T10
    october = client.get("/api/v1/trends", headers=heads["ev-duty"],
                         query_string={"from": "2026-10-09", "to": "2026-10-10"}).get_json()["days"]
    assert october[0]["closed"] == 1  # T8b, dispatched in September


def test_roles_and_bad_queries_name_the_field(scenario, http):
    client, heads = http
    for path in ("/api/v1/evaluation", "/api/v1/evaluation.xlsx", "/api/v1/hotspots", "/api/v1/trends"):
        assert client.get(path, headers=heads["ev-dept"]).status_code == 403, path
        assert client.get(path, headers=heads["ev-hotline"]).status_code == 403, path
        assert client.get(path).status_code == 401, path
    assert client.get("/api/v1/evaluation", headers=heads["ev-duty"]).status_code == 200  # defaults: this month
    for path, query, field in (
        ("/api/v1/evaluation", {"by": "street_lamp"}, "by"),
        ("/api/v1/evaluation", {"from": "2026-13-01"}, "from"),
        ("/api/v1/evaluation", {"from": "yesterday"}, "from"),
        ("/api/v1/evaluation", {"to": "2026-9-1"}, "to"),
        ("/api/v1/evaluation", {"from": "2026-10-01", "to": "2026-09-01"}, "to"),
        ("/api/v1/evaluation.csv", {"by": "x"}, "by"),
        ("/api/v1/evaluation/cases", {"by": "unit", "count": "closed"}, "key"),
        ("/api/v1/evaluation/cases", {"by": "unit", "key": "NO-SUCH-UNIT", "count": "closed"}, "key"),
        ("/api/v1/evaluation/cases", {"by": "unit", "key": NANGUAN_UNIT, "count": "late"}, "count"),
        ("/api/v1/evaluation/cases", {"by": "unit", "key": NANGUAN_UNIT, "count": "closed", "limit": "0"}, "limit"),
        ("/api/v1/evaluation/cases", {"by": "unit", "key": NANGUAN_UNIT, "count": "closed", "cursor": "x"}, "cursor"),
        ("/api/v1/hotspots", {"level": "city"}, "level"),
        ("/api/v1/hotspots", {"category": "999999"}, "category"),
        ("/api/v1/trends", {"from": "2025-01-01", "to": "2026-06-01"}, "to"),
    ):
        r = client.get(path, headers=heads["ev-duty"], query_string=query)
        assert r.status_code == 400 and field in r.get_json()["error"]["fields"], (path, query, r.get_data(as_text=True))


def test_kpi_rebuild_gives_the_facts_every_change_wrote(scenario, world, monkeypatch, capsys):
    engine, t = scenario
    columns = ("ticket_id, created_at, channel, category, district_code, street_code, community_code, grid_code, "
               "status, first_dispatched_at, lead_unit, acknowledged_on_time, handled, handled_on_time, handled_late, "
               "handled_due, reworked, returned, extended, closed_at, ack_due, handle_due")
    with engine.connect() as conn:
        written = conn.execute(text(f"SELECT {columns} FROM ticket_kpi ORDER BY ticket_id")).all()
    assert len(written) == len(t)
    with engine.begin() as conn:  # facts lost and damaged
        conn.execute(text("DELETE FROM ticket_kpi WHERE ticket_id % 2 = 0"))
        conn.execute(text("UPDATE ticket_kpi SET handled = false, handled_on_time = false, handled_late = false, "
                          "handle_due = NULL"))
    from yunguan.cli import main

    monkeypatch.setenv("YUNGUAN_DATABASE_URL", world[0].settings.database_url)
    capsys.readouterr()
    assert main(["kpi", "rebuild", "--batch", "4"]) == 0
    assert f'"tickets": {len(t)}' in capsys.readouterr().out
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT {columns} FROM ticket_kpi ORDER BY ticket_id")).all() == written


def test_facts_of_a_rejected_return_and_of_a_ticket_without_limits():
    from dispatch.deadlines import limits_for
    from dispatch.lifecycle import TicketState
    from dispatch.model import Status
    from dispatch.taxonomy import read_file
    from dispatch.worktime import WorkingTime
    from tests.test_dispatch_lifecycle import DUTY as CENTRE
    from tests.test_dispatch_lifecycle import U1, Loop

    limits = limits_for(read_file("yunguan/demo_data/categories.csv").get("020102"))
    loop = Loop(TicketState("X1", Status.PENDING, 1, category="020102", grid="G1"), at(7, 8, 58))
    loop.do(CENTRE, "register")
    loop.do(CENTRE, "dispatch", to_unit="U1")
    assert kpi.facts(loop.ticket, limits, WorkingTime()).handle_due == at(7, 14)  # dispatched 09:00, lunch 12-13
    loop.do(U1, "return", note="不属于我单位")
    undecided = kpi.facts(loop.ticket, limits, WorkingTime())
    assert undecided.returned and undecided.lead_unit == "U1" and undecided.handle_due is None
    loop.do(CENTRE, "reject", note="不予立案")
    upheld = kpi.facts(loop.ticket, limits, WorkingTime())
    assert not upheld.returned and upheld.status is Status.REJECTED
    assert kpi.facts(loop.ticket, None, WorkingTime()).first_dispatched_at == at(7, 9)
