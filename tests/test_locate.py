"""定位 and a person's 督办 over HTTP, on the real server, worker, database and broker: an address-only ticket is
placed on the map and routed like a new report (and its grid cell's room hears of it); escalation by a person
needs a reason and names a rung of the ladder."""
from __future__ import annotations

import uuid

import pytest
import requests

from gis.crs import to_wgs84
from tests.helpers import wait_for
from tests.test_loop_api import NANGUAN, NANGUAN_UNIT, Client, _new_ticket
from tests.test_thin_path import _socket, _token

pytestmark = pytest.mark.integration


@pytest.fixture
def people(server, make_user, grid_cell):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    make_user("clerk", "operator")
    make_user("call", "hotline")
    make_user("nanguan", "department", unit=NANGUAN_UNIT)
    make_user("gw", "grid", grid=grid_cell)
    return {name: Client(base, name) for name in ("duty", "clerk", "call", "nanguan", "gw")}


def _address_only(base: str) -> str:
    """A resident's report with an address the gazetteer cannot place: a pending ticket without a point."""
    report_id = f"addr-{uuid.uuid4().hex[:10]}"
    r = requests.post(f"{base}/api/v1/reports", timeout=10, json={
        "report_id": report_id, "category": "020102", "description": "小区门口垃圾堆放",
        "address": f"无名小区{uuid.uuid4().hex[:6]}号门口"})
    assert r.status_code == 202, r.text
    return wait_for(lambda: requests.get(f"{base}/api/v1/reports/public/{report_id}", timeout=5).json()
                    .get("ticket_no"), what="the ticket")


def test_an_address_only_ticket_is_placed_routed_and_its_cell_hears_of_it(server, worker, people, grid_cell):
    base, _ = server
    no = _address_only(base)
    before = people["duty"].ticket(no).json()
    assert before["status"] == "pending" and before["location"] is None and before["assignee"] is None
    assert "locate" in before["actions"] and "locate" in people["call"].ticket(no).json()["actions"]
    gw, heard = _socket(base, _token(base, "gw"))
    try:
        placed = people["call"].ok(no, "locate", location={"lon": NANGUAN["lon"], "lat": NANGUAN["lat"]},
                                   note="来电人补充：人民大街东侧")
        # the same decision as intake: area, unit (a suggestion: the ticket stays pending), rule, method
        route = requests.get(f"{base}/api/v1/route", params={**NANGUAN, "category": "020102"},
                             headers=people["duty"].headers, timeout=10).json()
        assert placed["status"] == "pending" and placed["version"] == before["version"] + 1
        assert placed["area"] == route["area"] and placed["area"]["grid"]["code"] == grid_cell
        assert placed["assignee"]["code"] == route["assignee"]["code"] == NANGUAN_UNIT
        assert placed["routing"]["method"] == route["method"] and placed["routing"]["rule"] == route["rule"]
        assert placed["location"] == pytest.approx({"lon": NANGUAN["lon"], "lat": NANGUAN["lat"]})
        last = placed["history"][-1]
        assert (last["action"], last["actor"], last["party"], last["to"]) == ("locate", "call", "hotline", "pending")
        assert last["data"]["to"] == pytest.approx({"lon": NANGUAN["lon"], "lat": NANGUAN["lat"]})
        assert "from" not in last["data"] and last["note"] == "来电人补充：人民大街东侧"
        # the grid cell's room (a grid worker of the new cell) receives the `locate` event
        seen: list[dict] = []

        def located() -> dict | None:
            while not heard.empty():
                seen.append(heard.get_nowait())
            return next((e for e in seen if e["ticket_no"] == no and e["event"] == "locate"), None)

        event = wait_for(located, 20, what="the locate event in the grid cell's room")
        assert event["area"]["grid"]["code"] == grid_cell and event["status"] == "pending"
        assert event["location"] == pytest.approx({"lon": NANGUAN["lon"], "lat": NANGUAN["lat"]})
    finally:
        gw.disconnect()

    # placed again in GCJ-02 (a phone map's coordinates): stored in WGS-84, the history says from where
    gcj = (NANGUAN["lon"] + 0.0060, NANGUAN["lat"] - 0.0012)  # ≈ the Nanguan point as a GCJ-02 map shows it
    moved = people["clerk"].ok(no, "locate", location={"lon": gcj[0], "lat": gcj[1], "crs": "gcj02"})
    wgs = to_wgs84(*gcj, "gcj02")
    assert moved["location"] == pytest.approx({"lon": wgs[0], "lat": wgs[1]})
    assert abs(wgs[0] - gcj[0]) > 0.004, "converted, not stored as sent"
    assert moved["history"][-1]["data"]["from"] == placed["location"]
    # the console then dispatches to the suggested unit
    sent = people["duty"].ok(no, "register")
    sent = people["duty"].ok(no, "dispatch", to_unit=sent["assignee"]["code"])
    assert sent["status"] == "dispatched" and sent["assignee"]["code"] == NANGUAN_UNIT


def test_locate_refuses_what_it_cannot_place_naming_location(server, worker, people):
    base, _ = server
    no = _address_only(base)
    version = people["duty"].ticket(no).json()["version"]
    for location, why in [
        ({"lon": 116.397, "lat": 39.909}, "Beijing: in China, outside the city"),
        ({"lon": 2.35, "lat": 48.85}, "outside China"),
        ({"lon": "125.4", "lat": 43.7}, "not a number"),
        ({"lon": 125.4, "lat": 43.7, "crs": "mercator"}, "unknown crs"),
        ({"lon": 125.4}, "no latitude"),
        ([125.4, 43.7], "not an object"),
        (None, "missing"),
    ]:
        body = {} if location is None else {"location": location}
        r = people["duty"].act(no, "locate", version, **body)
        assert r.status_code == 422, (why, r.status_code, r.text)
        assert "location" in r.json()["error"]["fields"], (why, r.text)
    assert people["duty"].ticket(no).json()["version"] == version, "nothing changed"
    # scope, version and role come first, as for every action
    r = people["duty"].act(no, "locate", version + 5, location={"lon": 2.35, "lat": 48.85})
    assert r.status_code == 409, r.text
    r = people["nanguan"].act(no, "locate", version, location={"lon": NANGUAN["lon"], "lat": NANGUAN["lat"]})
    assert r.status_code in (403, 404), r.text

    held = _new_ticket(base)  # dispatched to 南关区环卫: the unit may not move it; the command centre may
    r = people["nanguan"].act(held, "locate", 1, location={"lon": NANGUAN["lon"], "lat": NANGUAN["lat"]})
    assert r.status_code == 403, r.text
    kept = people["duty"].ok(held, "locate", location={"lon": NANGUAN["lon"] + 0.001, "lat": NANGUAN["lat"]})
    assert kept["status"] == "dispatched" and kept["assignee"]["code"] == NANGUAN_UNIT
    people["nanguan"].ok(held, "acknowledge")
    people["nanguan"].ok(held, "handle", note="已清运")
    people["clerk"].ok(held, "verify")
    closed = people["duty"].ok(held, "close")
    r = people["duty"].act(held, "locate", closed["version"], location={"lon": NANGUAN["lon"], "lat": NANGUAN["lat"]})
    assert r.status_code == 422 and "locate" not in r.json()["error"]["allowed"], r.text


def test_a_person_escalating_names_a_rung_and_says_why(server, worker, people):
    base, _ = server
    no = _new_ticket(base)
    version = people["duty"].ticket(no).json()["version"]
    r = people["duty"].act(no, "escalate", version, level=2)
    assert r.status_code == 422 and set(r.json()["error"]["fields"]) == {"note"}, r.text
    for level in (0, 4, "2", True):
        r = people["duty"].act(no, "escalate", version, level=level, note="群众多次投诉")
        assert r.status_code == 422 and "level" in r.json()["error"]["fields"], (level, r.text)
    up = people["duty"].ok(no, "escalate", level=2, note="群众多次投诉")
    assert up["escalation_level"] == 2
    assert (up["history"][-1]["action"], up["history"][-1]["note"], up["history"][-1]["data"]["level"]) == (
        "escalate", "群众多次投诉", 2)
    r = people["duty"].act(no, "escalate", up["version"], level=1, note="降级")  # the ladder only climbs
    assert r.status_code == 422 and "level" in r.json()["error"]["fields"], r.text
    assert people["duty"].ok(no, "escalate", note="市级督办")["escalation_level"] == 3  # one rung up by default
