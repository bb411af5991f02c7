"""合并 (merge_into) over HTTP, on the real server, worker, database and broker: an operator merges a duplicate
ticket into another open one. The duplicate's reports move, it ends 不予立案 with "合并至 B", the target keeps its
status with a line naming the duplicate, and the console hears of both; refusals name `into`; two operators
merging A→B and B→A at the same moment: one wins, the other is refused cleanly (no 5xx, no deadlock)."""
from __future__ import annotations

import threading
import uuid

import pytest
import requests

from tests.helpers import wait_for
from tests.test_loop_api import NANGUAN, Client
from tests.test_thin_path import _socket, _token

pytestmark = pytest.mark.integration


@pytest.fixture
def people(server, make_user):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    make_user("clerk", "operator")
    make_user("call", "hotline")
    make_user("nanguan", "department", unit="220102-SANITATION")
    return {name: Client(base, name) for name in ("duty", "clerk", "call", "nanguan")}


def _report(base: str, north_m: float) -> tuple[str, str]:
    """A resident's report about 020102 at a spot `north_m` north of the Nanguan point; (report id, ticket)."""
    report_id = f"mi-{uuid.uuid4().hex[:10]}"
    r = requests.post(f"{base}/api/v1/reports", timeout=10, json={
        "report_id": report_id, "category": "020102", "description": "路边垃圾堆放",
        "location": dict(NANGUAN, lat=NANGUAN["lat"] + north_m / 111_000)})
    assert r.status_code == 202, r.text
    return report_id, wait_for(lambda: requests.get(f"{base}/api/v1/reports/public/{report_id}", timeout=5).json()
                               .get("ticket_no"), what="the ticket")


def test_a_duplicate_is_merged_into_another_ticket(server, worker, people):
    base, _ = server
    first, a = _report(base, 1200)
    second, same = _report(base, 1200)  # the worker merges it: A has two reports
    third, b = _report(base, 1500)  # 300 m away: a ticket of its own
    assert same == a and b != a
    duty = people["duty"]
    before_a, before_b = duty.ticket(a).json(), duty.ticket(b).json()
    assert before_a["report_count"] == 2 and "merge_into" in before_a["actions"]
    assert "merge_into" not in people["call"].ticket(a).json()["actions"]
    live, heard = _socket(base, _token(base, "clerk"))
    try:
        r = people["clerk"].act(a, "merge_into", before_a["version"], into=b, note="同一处垃圾")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["merged_into"] == b and body["status"] == "rejected" and body["report_count"] == 0
        last = body["history"][-1]
        assert (last["action"], last["actor"], last["from"], last["to"]) == (
            "merge_into", "clerk", before_a["status"], "rejected")
        assert last["note"] == f"合并至 {b}：同一处垃圾" and last["data"]["into"] == b and last["data"]["reports"] == 2
        assert body["actions"] == ["comment"]
        after_b = duty.ticket(b).json()
        assert after_b["status"] == before_b["status"] and after_b["version"] == before_b["version"] + 1
        assert after_b["report_count"] == 3
        assert sorted(x["report_id"] for x in after_b["reports"]) == sorted([first, second, third])
        line = after_b["history"][-1]
        assert (line["action"], line["actor"], line["data"]) == ("merge", "clerk", {"from_ticket": a, "reports": 2})
        assert line["note"] == f"由 {a} 合并：同一处垃圾"
        seen: list[dict] = []

        def both() -> bool:
            while not heard.empty():
                seen.append(heard.get_nowait())
            return {(e["ticket_no"], e["event"]) for e in seen} >= {(a, "merge_into"), (b, "merge")}

        wait_for(both, 20, what="the events of both tickets on the console")
        assert next(e for e in seen if e["ticket_no"] == a)["status"] == "rejected"
        # the residents' tracking page of the duplicate's reports now follows B
        track = requests.get(f"{base}/api/v1/reports/public/{first}", timeout=5).json()
        assert track["ticket_no"] == b
    finally:
        live.disconnect()
    # a final ticket cannot be merged again, nor be a target
    again = people["duty"].act(a, "merge_into", body["version"], into=b)
    assert again.status_code == 422, again.text
    _, c = _report(base, 1800)
    into_final = people["duty"].act(c, "merge_into", duty.ticket(c).json()["version"], into=a)
    assert into_final.status_code == 422 and "into" in into_final.json()["error"]["fields"], into_final.text


def test_refusals_name_into(server, worker, people):
    base, _ = server
    _, a = _report(base, 2400)
    version = people["duty"].ticket(a).json()["version"]
    for into, status in ((None, 422), ("", 422), (a, 422), ("CC-NO-SUCH-1", 422), (123, 422), ("x" * 65, 422)):
        fields = {} if into is None else {"into": into}
        r = people["duty"].act(a, "merge_into", version, **fields)
        assert r.status_code == status and "into" in r.json()["error"]["fields"], (into, r.text)
    r = people["nanguan"].act(a, "merge_into", version, into="CC-NO-SUCH-1")  # not its ticket: out of scope
    assert r.status_code == 403, r.text
    r = people["call"].act(a, "merge_into", version, into="CC-NO-SUCH-1")  # the hotline may not merge
    assert r.status_code == 403, r.text
    r = people["duty"].act("CC-NO-SUCH-2", "merge_into", 1, into=a)
    assert r.status_code == 404, r.text
    after = people["duty"].ticket(a).json()
    assert after["version"] == version and after["status"] != "rejected" and after["report_count"] == 1


def test_merging_both_ways_at_once_one_wins(server, worker, people):
    base, _ = server
    _, a = _report(base, 3000)
    _, b = _report(base, 3300)
    va, vb = people["duty"].ticket(a).json()["version"], people["clerk"].ticket(b).json()["version"]
    go = threading.Barrier(2)
    answers: dict[str, requests.Response] = {}

    def send(who: str, no: str, version: int, into: str) -> None:
        go.wait()
        answers[no] = people[who].act(no, "merge_into", version, into=into)

    threads = [threading.Thread(target=send, args=("duty", a, va, b)),
               threading.Thread(target=send, args=("clerk", b, vb, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a merge hung"
    codes = sorted(r.status_code for r in answers.values())
    assert codes[0] == 200 and codes[1] in (409, 422), [r.text for r in answers.values()]
    winner = next(no for no, r in answers.items() if r.status_code == 200)
    loser = b if winner == a else a
    assert "error" in answers[loser].json()
    ta, tb = people["duty"].ticket(winner).json(), people["duty"].ticket(loser).json()
    assert ta["status"] == "rejected" and ta["report_count"] == 0
    assert tb["status"] != "rejected" and tb["report_count"] == 2
    assert [h["action"] for h in tb["history"]].count("merge") == 1
