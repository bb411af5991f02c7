"""The closed loop through the HTTP API with real operators, departments and the deadline pass."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import text

from tests.helpers import wait_for

pytestmark = pytest.mark.integration

NANGUAN = {"lon": 125.4388, "lat": 43.7126, "crs": "wgs84"}
# 暴露垃圾 (020102) goes to the district's 环卫 branch (categories.csv unit_kind)
NANGUAN_UNIT, CHAOYANG_UNIT = "220102-SANITATION", "220104-SANITATION"


def _token(base: str, username: str) -> str:
    r = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": "secret-pass-1"},
                      timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["token"]


class Client:
    def __init__(self, base: str, username: str) -> None:
        self.base, self.headers = base, {"Authorization": f"Bearer {_token(base, username)}"}

    def ticket(self, no: str) -> requests.Response:
        return requests.get(f"{self.base}/api/v1/tickets/{no}", headers=self.headers, timeout=10)

    def act(self, no: str, action: str, version: int, **fields) -> requests.Response:
        return requests.post(f"{self.base}/api/v1/tickets/{no}/actions", headers=self.headers, timeout=10,
                             json={"action": action, "version": version, **fields})

    def ok(self, no: str, action: str, **fields) -> dict:
        version = self.ticket(no).json()["version"]
        r = self.act(no, action, version, **fields)
        assert r.status_code == 200, (action, r.status_code, r.text)
        return r.json()


@pytest.fixture
def people(server, make_user):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    make_user("clerk", "operator")
    make_user("nanguan", "department", unit=NANGUAN_UNIT)
    make_user("chaoyang", "department", unit=CHAOYANG_UNIT)
    return {name: Client(base, name) for name in ("duty", "clerk", "nanguan", "chaoyang")}


# In 南关区, about 10 m from its border with 朝阳区 (inside the default 30 m border watch)
NEAR_BORDER = {"lon": 125.349417, "lat": 43.712890, "crs": "wgs84"}


def _new_ticket(base: str, category: str = "020102", east_m: float = 0.0, location: dict | None = None) -> str:
    report_id = f"loop-{uuid.uuid4().hex[:10]}"
    location = location or dict(NANGUAN, lon=NANGUAN["lon"] + east_m / 80_000)  # ~80 km per degree here
    r = requests.post(f"{base}/api/v1/reports", timeout=10, json={
        "report_id": report_id, "category": category, "description": "路边垃圾堆放", "location": location})
    assert r.status_code == 202, r.text
    return wait_for(lambda: requests.get(f"{base}/api/v1/reports/public/{report_id}", timeout=5).json()
                    .get("ticket_no"), what="the ticket")


def test_the_whole_loop_with_409_403_and_422(server, worker, people):
    base, _ = server
    no = _new_ticket(base)
    t = people["nanguan"].ticket(no).json()
    assert t["status"] == "dispatched" and t["version"] == 1 and t["deadline"] is not None
    assert "acknowledge" in t["actions"] and "close" not in t["actions"]

    r = people["chaoyang"].act(no, "acknowledge", 1)  # another district's department
    assert r.status_code in (403, 404), r.text
    r = people["nanguan"].act(no, "close", 1)  # closing is the command centre's
    assert r.status_code in (403, 422) and "acknowledge" in r.json()["error"]["allowed"], r.text
    r = people["nanguan"].act(no, "acknowledge", "one")
    assert r.status_code == 422 and "version" in r.json()["error"]["fields"]

    assert people["nanguan"].act(no, "acknowledge", 1).status_code == 200
    stale = people["nanguan"].act(no, "acknowledge", 1)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_version"

    r = people["nanguan"].act(no, "verify", 2)
    assert r.status_code in (403, 422), r.text
    people["nanguan"].ok(no, "handle", note="已清运，地面见本色")
    people["clerk"].ok(no, "verify", note="现场核查通过")
    r = people["clerk"].act(no, "close", people["duty"].ticket(no).json()["version"])
    assert r.status_code == 403, "only the 值班长 closes"
    closed = people["duty"].ok(no, "close")
    assert closed["status"] == "closed"
    actions = [h["action"] for h in closed["history"]]
    assert actions == ["register", "dispatch", "acknowledge", "handle", "verify", "close"]
    assert closed["history"][3]["note"] == "已清运，地面见本色" and closed["history"][3]["actor"] == "nanguan"


def test_a_ticket_near_a_district_border_is_flagged_and_confirmed_with_one_click(server, worker, people):
    base, _ = server
    inside = _new_ticket(base)
    assert people["duty"].ticket(inside).json()["border_check"] is False
    no = _new_ticket(base, location=NEAR_BORDER)
    t = people["duty"].ticket(no).json()
    assert t["border_check"] is True and t["routing"]["near_border"] is True
    assert 0 < t["routing"]["border_m"] < 30 and t["assignee"]["code"] == NANGUAN_UNIT
    assert "confirm_area" in t["actions"]
    assert "confirm_area" not in people["nanguan"].ticket(no).json()["actions"]  # the centre's decision
    flagged = requests.get(f"{base}/api/v1/tickets", params={"border_check": "true", "limit": 500},
                           headers=people["duty"].headers, timeout=10).json()["items"]
    assert no in {x["ticket_no"] for x in flagged} and inside not in {x["ticket_no"] for x in flagged}
    bad = requests.get(f"{base}/api/v1/tickets", params={"border_check": "maybe"}, headers=people["duty"].headers,
                       timeout=10)
    assert bad.status_code == 400 and "border_check" in bad.json()["error"]["fields"]

    confirmed = people["clerk"].ok(no, "confirm_area")  # one click: no fields
    assert confirmed["border_check"] is False and confirmed["status"] == "dispatched"
    assert confirmed["history"][-1]["action"] == "confirm_area" and confirmed["history"][-1]["actor"] == "clerk"
    again = people["clerk"].act(no, "confirm_area", confirmed["version"])
    assert again.status_code == 422 and "confirm_area" not in again.json()["error"]["allowed"]

    # Reassigning to the neighbour settles the question as well.
    other = _new_ticket(base, location=NEAR_BORDER)
    moved = people["duty"].ok(other, "reassign", to_unit=CHAOYANG_UNIT, note="属地为朝阳区")
    assert moved["border_check"] is False and moved["assignee"]["code"] == CHAOYANG_UNIT


def test_return_redispatch_and_final_arbitration(server, worker, people):
    base, _ = server
    no = _new_ticket(base)
    r = people["nanguan"].act(no, "return", 1)
    assert r.status_code == 422 and "note" in r.json()["error"].get("fields", {}), r.text
    people["nanguan"].ok(no, "return", note="属地不符，应为朝阳区")
    assert people["duty"].ticket(no).json()["status"] == "returned"
    after = people["nanguan"].ticket(no).json()
    assert "actions" not in after and "description" not in after, "a returned ticket leaves the department's scope"
    r = people["nanguan"].act(no, "acknowledge", people["duty"].ticket(no).json()["version"])
    assert r.status_code == 403, r.text

    people["clerk"].ok(no, "dispatch", to_unit=CHAOYANG_UNIT)
    people["chaoyang"].ok(no, "return", note="点位在南关区一侧")
    # The second return: only the 值班长 may decide, and the decision is final.
    r = people["clerk"].act(no, "dispatch", people["duty"].ticket(no).json()["version"], to_unit=NANGUAN_UNIT)
    assert r.status_code in (403, 422), r.text
    people["duty"].ok(no, "dispatch", to_unit=NANGUAN_UNIT, note="仲裁：按坐标属南关区，由南关区办理")
    r = people["nanguan"].act(no, "return", people["nanguan"].ticket(no).json()["version"], note="再次退回")
    assert r.status_code == 422, r.text
    history = people["duty"].ticket(no).json()["history"]
    assert [h["action"] for h in history].count("return") == 2
    assert any(h["action"] == "dispatch" and "仲裁" in (h["note"] or "") for h in history)


def test_joint_handling_and_an_extension(server, worker, people):
    base, _ = server
    no = _new_ticket(base)
    people["duty"].ok(no, "add_assist", to_unit=CHAOYANG_UNIT, note="协同清运")
    assist_view = people["chaoyang"].ticket(no)
    assert assist_view.status_code == 200 and CHAOYANG_UNIT in assist_view.json()["assists"]
    listed = requests.get(f"{base}/api/v1/tickets", headers=people["chaoyang"].headers, timeout=10).json()
    assert no in [t["ticket_no"] for t in listed["items"]]
    people["chaoyang"].ok(no, "acknowledge")
    assert people["duty"].ticket(no).json()["status"] == "dispatched", "an assisting part does not move the ticket"
    people["nanguan"].ok(no, "acknowledge")
    people["nanguan"].ok(no, "request_extension", minutes=240, note="需协调环卫车辆")
    suspended = people["duty"].ok(no, "approve_extension", note="同意延期4小时")
    assert suspended["status"] == "suspended"
    resumed = people["nanguan"].ok(no, "resume", note="车辆到位")
    assert resumed["status"] == "acknowledged"
    handled = people["nanguan"].ok(no, "handle", note="联合清运完毕")
    assert handled["status"] == "handled"


def test_escalation_with_now_and_the_audit_chain(server, worker, people, settings, engine):
    base, _ = server
    no = _new_ticket(base)
    env = dict(os.environ, YUNGUAN_DATABASE_URL=settings.database_url, YUNGUAN_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
               YUNGUAN_TOPIC_PREFIX=settings.topic_prefix)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "yunguan.cli", *args], env=env, capture_output=True, text=True,
                              timeout=60)

    worker.escalate_every_s = 3600  # the worker's own pass would race the CLI's for the aged ticket below
    calm = cli("escalate", "--now", people["duty"].ticket(no).json()["history"][0]["at"])
    assert calm.returncode == 0 and no not in calm.stdout, calm.stdout
    future = cli("escalate", "--now", "2099-06-30T10:00:00+08:00")  # would write future-dated history
    assert future.returncode == 2 and no not in future.stdout, future.stdout + future.stderr
    with engine.begin() as conn:  # as if dispatched 30 days ago: overdue as of the real clock
        conn.execute(text(
            "UPDATE tickets SET loop = jsonb_set(jsonb_set(loop, '{assignments,0,dispatched_at}', to_jsonb(CAST(:at "
            "AS text))), '{assignments,0,clock_started}', to_jsonb(CAST(:at AS text))) WHERE ticket_no = :n"),
            {"at": (datetime.now(UTC) - timedelta(days=30)).isoformat(), "n": no})
    late = cli("escalate")
    assert late.returncode == 0, late.stderr
    changes = [json.loads(line) for line in late.stdout.splitlines() if no in line]
    assert {c["action"] for c in changes} >= {"escalate"}, changes
    t = people["duty"].ticket(no).json()
    assert t["escalation_level"] >= 1 and t["deadline_state"] == "red"
    assert "escalate" in [h["action"] for h in t["history"]]
    again = cli("escalate")
    assert no not in again.stdout, "the pass is idempotent"

    ok = cli("audit", "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    with engine.begin() as conn:  # someone edits a history row behind the application's back
        conn.execute(text("UPDATE ticket_history SET note = 'nothing happened' WHERE id = (SELECT max(h.id) FROM "
                          "ticket_history h JOIN tickets t ON t.id = h.ticket_id WHERE t.ticket_no = :n)"), {"n": no})
    bad = cli("audit", "verify")
    assert bad.returncode == 1 and no in bad.stdout, bad.stdout + bad.stderr


def test_evaluation_ranks_units_by_their_record(server, worker, people):
    base, _ = server
    tickets = [_new_ticket(base, east_m=200 * i) for i in range(2)]  # apart: two cases, not one merged
    for no in tickets:
        people["nanguan"].ok(no, "acknowledge")
        people["nanguan"].ok(no, "handle", note="已处置")
    people["clerk"].ok(tickets[0], "verify")
    people["clerk"].ok(tickets[1], "fail_verify", note="仍有垃圾")
    r = requests.get(f"{base}/api/v1/evaluation", headers=people["duty"].headers, timeout=10)  # this month, by unit
    assert r.status_code == 200, r.text
    row = next(u for u in r.json()["rows"] if u["key"]["code"] == NANGUAN_UNIT)
    assert row["counts"]["dispatched"] == 2 and row["counts"]["handled"] == 2 and row["counts"]["reworked"] == 1
    assert row["rates"]["rework_rate"] == 0.5 and row["rates"]["on_time_rate"] == 1.0
    assert row["key"]["name"] == "南关区环境卫生管理中心" and row["rank"] == 1
    assert requests.get(f"{base}/api/v1/evaluation", headers=people["nanguan"].headers, timeout=10).status_code == 403
    bad = requests.get(f"{base}/api/v1/evaluation?from=yesterday", headers=people["duty"].headers, timeout=10)
    assert bad.status_code == 400 and "from" in bad.json()["error"]["fields"]
