"""The read APIs behind the pages' forms (issue 15), over HTTP against the real server and database: gazetteer
suggestions, nearby open tickets, units ranked for a ticket and the units' districts, the ticket list's pages
in both sorts beyond 500 tickets, and handling photos as media URLs."""
from __future__ import annotations

import io
import statistics
import time
from datetime import UTC, datetime

import prcoords
import pytest
import requests
from PIL import Image
from sqlalchemy import text

from application.envelope import validate_envelope

pytestmark = pytest.mark.integration

NANGUAN = {"lon": 125.4388, "lat": 43.7126, "crs": "wgs84"}
LON_M, LAT_M = 1 / 80_500, 1 / 111_100  # degrees per metre here


def _at(east_m: float = 0.0, north_m: float = 0.0) -> dict:
    return {**NANGUAN, "lon": NANGUAN["lon"] + east_m * LON_M, "lat": NANGUAN["lat"] + north_m * LAT_M}


def _envelope(report_id: str, category: str | None = "020102", location: dict | None = None, **extra) -> dict:
    return {"schema": "report/1", "report_id": report_id, "channel": "hotline",
            "reported_at": datetime.now(UTC).isoformat(), "category": category,
            "description": "测试", **({"location": location} if location else {}), **extra}


def ingest(deps, envelopes: list[dict]) -> list[str]:
    """Tickets as the worker writes them (application.ingest, one transaction), without the broker's delay."""
    from application.ingest import Received, ingest
    from application.routing import RoutingCache

    routing = RoutingCache.from_settings(deps.engine, deps.settings)()
    received = [Received(validate_envelope(e), f"reports.{e['channel']}", 0, n) for n, e in enumerate(envelopes)]
    with deps.engine.begin() as conn:
        return ingest(conn, received, routing, now=datetime.now(UTC), timezone=deps.settings.timezone,
                      ticket_prefix=deps.settings.ticket_prefix, events_topic=deps.topics.ticket_events,
                      loop=deps.loop()(conn))


@pytest.fixture
def staff(server, make_user, grid_cell):
    base, _ = server
    make_user("duty", "operator", supervisor=True)
    make_user("hotline1", "hotline")
    make_user("env", "department", unit="220102-SANITATION")
    make_user("gw", "grid", grid=grid_cell)
    tokens = {}
    for name in ("duty", "hotline1", "env", "gw"):
        r = requests.post(f"{base}/api/v1/auth/token", json={"username": name, "password": "secret-pass-1"},
                          timeout=10)
        assert r.status_code == 200, r.text
        tokens[name] = {"Authorization": f"Bearer {r.json()['token']}"}

    def get(path: str, who: str | None = "duty", **params) -> requests.Response:
        return requests.get(f"{base}/api/v1{path}", params=params, headers=tokens.get(who, {}), timeout=10)

    return get


def _field_error(r: requests.Response, field: str) -> None:
    assert r.status_code == 400, (r.status_code, r.text)
    assert field in r.json()["error"]["fields"], r.text


# --- gazetteer --------------------------------------------------------------------------------------------

def test_places_suggest_by_prefix_stretch_and_near_miss_with_their_areas(staff):
    r = staff("/places", q="南湖")
    assert r.status_code == 200, r.text
    names = [p["name"] for p in r.json()]
    assert names[:2] == ["南湖公园", "南湖大路"] or set(names[:2]) == {"南湖公园", "南湖大路"}, names
    park = next(p for p in r.json() if p["name"] == "南湖公园")
    assert park["kind"] == "landmark" and 125 < park["lon"] < 126 and 43 < park["lat"] < 44
    assert park["area"]["district"] == {"code": "220104", "name": "朝阳区"}, park["area"]
    assert set(park["area"]) == {"district", "street", "community", "grid"}
    assert park["area"]["street"]["code"].startswith("220104")

    exact = staff("/places", q="南湖公园").json()
    assert exact[0]["name"] == "南湖公园"
    stretch = staff("/places", q="3街第2", limit=50).json()  # inside the name, not at its start
    assert len(stretch) >= 5 and all("3街第2" in p["name"] for p in stretch), stretch
    assert staff("/places", q="胜利公圆").json()[0]["name"] == "胜利公园", "a wrong character is a near miss"
    road = staff("/places", q="人民大街").json()[0]
    assert road["kind"] == "road" and road["area"]["district"] is None, "a road through four districts has none"
    assert len(staff("/places", q="区", limit=3).json()) <= 3
    assert staff("/places", q="%").json() == [] and staff("/places", q="_").json() == []
    assert staff("/places", q="南湖", who="gw").status_code == 200  # every staff role


def test_places_refuse_bad_input_naming_the_field(staff):
    _field_error(staff("/places"), "q")
    _field_error(staff("/places", q="   "), "q")
    _field_error(staff("/places", q="长" * 65), "q")
    _field_error(staff("/places", q="南", limit=0), "limit")
    _field_error(staff("/places", q="南", limit=51), "limit")
    assert staff("/places", q="长" * 64).status_code == 200
    assert staff("/places", who=None, q="南湖").status_code == 401


def test_places_are_found_through_the_trigram_index_for_every_kind_of_text(engine):
    """Even told that reading the table is expensive, a predicate no index answers would be read through
    (Seq Scan): every shape of typed text must be an index condition."""
    from gis.areas import city_today
    from store import lookup

    for q in ("南", "南湖", "南湖公园", "3街第2", "胜利公圆", "a_b%"):
        sql, params = lookup.places_query(q, 10, city_today("Asia/Shanghai"))
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(conn.execute(text("EXPLAIN " + sql.text), params).scalars())
        assert "Seq Scan on places" not in plan and "ix_places_name_trgm" in plan, (q, plan)


def test_places_answer_a_typist_fast(staff):
    """Keystroke by keystroke, as a call-taker types an address: measured over HTTP (server and database on
    this machine); the bound is generous, the point is no scan that grows with the gazetteer per keystroke."""
    typed = "南关区1街第2社区"
    staff("/places", q=typed[:1])  # the first request of a connection pays for its setup
    timings = []
    for _ in range(3):
        for n in range(1, len(typed) + 1):
            started = time.perf_counter()
            assert staff("/places", q=typed[:n]).status_code == 200
            timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < 0.1, timings
    assert staff("/places", q=typed).json()[0]["name"].startswith(typed)


# --- nearby open tickets ----------------------------------------------------------------------------------

@pytest.fixture
def around(deps, engine):
    """Tickets around the Nanguan point: two 暴露垃圾 (0 m, 150 m north), a 私搭乱建 100 m east, one 600 m
    away, one closed 50 m away."""
    nos = ingest(deps, [
        _envelope("n-here", location=_at()),
        _envelope("n-east", "020101", _at(east_m=100)),
        _envelope("n-north", location=_at(north_m=150)),
        _envelope("n-far", location=_at(east_m=600)),
        _envelope("n-closed", location=_at(north_m=-50)),
    ])
    named = dict(zip(("here", "east", "north", "far", "closed"), nos, strict=True))
    with engine.begin() as conn:
        conn.execute(text("UPDATE tickets SET status = 'closed' WHERE ticket_no = :n"), {"n": named["closed"]})
    return named


def test_nearby_open_tickets_nearest_first_and_the_same_category_first(staff, around):
    r = staff("/tickets/nearby", **NANGUAN)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [t["ticket_no"] for t in items] == [around["here"], around["east"], around["north"]]
    distances = [t["distance_m"] for t in items]
    assert distances[0] < 1 and 95 < distances[1] < 105 and 145 < distances[2] < 155, distances
    assert items[0]["status"] == "dispatched" and items[0]["assignee"]["code"] == "220102-SANITATION"
    assert "deadline" in items[0] and "area" in items[0], "the usual list item"

    same_first = staff("/tickets/nearby", **NANGUAN, category="020102").json()["items"]
    assert [t["ticket_no"] for t in same_first] == [around["here"], around["north"], around["east"]]
    wide = staff("/tickets/nearby", **NANGUAN, radius_m=700).json()["items"]
    assert around["far"] in [t["ticket_no"] for t in wide] and around["closed"] not in [t["ticket_no"] for t in wide]
    assert len(staff("/tickets/nearby", **NANGUAN, limit=1).json()["items"]) == 1

    gcj = prcoords.wgs_gcj((NANGUAN["lat"], NANGUAN["lon"]))  # the same place as a phone map gives it
    assert abs(gcj.lon - NANGUAN["lon"]) * 80_500 > 100, "GCJ-02 lies some hundred metres off here"
    gcj = staff("/tickets/nearby", lon=gcj.lon, lat=gcj.lat, crs="gcj02").json()["items"]
    assert gcj[0]["ticket_no"] == around["here"] and gcj[0]["distance_m"] < 2


def test_nearby_tickets_keep_to_the_callers_scope(staff, around):
    mine = [t["ticket_no"] for t in staff("/tickets/nearby", who="env", **NANGUAN).json()["items"]]
    assert mine == [around["here"], around["north"]], "the 私搭乱建 ticket is the enforcement branch's"
    assert staff("/tickets/nearby", who="hotline1", **NANGUAN).json()["items"][0]["ticket_no"] == around["here"]
    assert staff("/tickets/nearby", who=None, **NANGUAN).status_code == 401


def test_nearby_tickets_refuse_bad_input_naming_the_field(staff):
    _field_error(staff("/tickets/nearby", lat=43.7), "lon")
    _field_error(staff("/tickets/nearby", lon="nan", lat=43.7), "lon")
    _field_error(staff("/tickets/nearby", **NANGUAN, radius_m=2001), "radius_m")
    _field_error(staff("/tickets/nearby", **NANGUAN, radius_m=0), "radius_m")
    _field_error(staff("/tickets/nearby", **{**NANGUAN, "crs": "mars"}), "crs")
    _field_error(staff("/tickets/nearby", **NANGUAN, category="0201"), "category")
    _field_error(staff("/tickets/nearby", **NANGUAN, limit=101), "limit")
    r = staff("/tickets/nearby", lon=0.1, lat=51.5)
    assert r.status_code == 422 and "lon" in r.json()["error"]["fields"]
    assert staff("/tickets/nearby", **NANGUAN, radius_m=2000).status_code == 200


# --- units --------------------------------------------------------------------------------------------------

def test_units_carry_their_district(staff):
    units = {u["code"]: u for u in staff("/units").json()}
    assert units["220102001-SO"]["district"] == {"code": "220102", "name": "南关区"}  # a street office: its street's
    assert units["220102-SANITATION"]["district"] == {"code": "220102", "name": "南关区"}
    assert units["220104-CMD"]["district"] == {"code": "220104", "name": "朝阳区"}
    assert units["2201-CMD"]["district"] is None and units["2201-ROADS"]["district"] is None
    assert {"code", "name", "level", "kind", "parent"} <= set(units["220102-SANITATION"])  # the contract's fields
    assert all(u["district"] is not None for u in units.values() if u["level"] != "city")


def test_units_for_a_ticket_rank_the_duty_answer_then_its_district_then_the_rest(deps, staff):
    [no] = ingest(deps, [_envelope("u-1", location=_at())])
    ticket = staff(f"/tickets/{no}").json()
    r = staff(f"/tickets/{no}/units", limit=500)
    assert r.status_code == 200, r.text
    units = r.json()
    first = units[0]
    assert first["code"] == ticket["assignee"]["code"] == "220102-SANITATION"
    assert first["reason"] == "duty" and first["rule"] == ticket["routing"]["rule"] and first["rule"]
    reasons = [u["reason"] for u in units]
    assert reasons == sorted(reasons, key=["duty", "district", "other"].index), "duty, then district, then the rest"
    assert reasons.count("duty") == 1
    district = [u for u in units if u["reason"] == "district"]
    assert district and all(u["district"]["code"] == "220102" and not u["cross_district"] for u in district)
    assert {"220102-CMD", "220102001-SO"} <= {u["code"] for u in district}
    by_code = {u["code"]: u for u in units}
    assert by_code["220104-SANITATION"]["cross_district"] is True and by_code["220104-SANITATION"]["reason"] == "other"
    assert by_code["2201-ROADS"]["cross_district"] is False, "a city unit is never cross-district"
    assert len(units) == len(staff("/units").json()), "every unit, ranked"

    search = staff(f"/tickets/{no}/units", q="朝阳区环境").json()
    assert [u["code"] for u in search] == ["220104-SANITATION"] and search[0]["cross_district"] is True
    assert [u["code"] for u in staff(f"/tickets/{no}/units", q="220102-san").json()] == ["220102-SANITATION"]
    assert staff(f"/tickets/{no}/units", q="100%").json() == []
    assert len(staff(f"/tickets/{no}/units", limit=3).json()) == 3


def test_units_for_a_ticket_follow_its_current_category(deps, staff):
    """The matrix answers for the ticket's category now: re-classified as 私搭乱建, enforcement comes first."""
    [no] = ingest(deps, [_envelope("u-2", location=_at())])
    with deps.engine.begin() as conn:
        conn.execute(text("UPDATE tickets SET category = '020101' WHERE ticket_no = :n"), {"n": no})
    first = staff(f"/tickets/{no}/units").json()[0]
    assert first["code"] == "220102-ENFORCEMENT" and first["reason"] == "duty"


def test_units_for_an_address_only_ticket_have_no_duty_answer(deps, staff):
    [no] = ingest(deps, [_envelope("u-3", category=None, address="某地某处")])
    units = staff(f"/tickets/{no}/units", limit=500).json()
    assert units and {u["reason"] for u in units} == {"other"} and not any(u["cross_district"] for u in units)


def test_units_for_a_ticket_are_for_the_command_centre(deps, staff):
    [no] = ingest(deps, [_envelope("u-4", location=_at())])
    assert staff(f"/tickets/{no}/units", who="hotline1").status_code == 200
    assert staff(f"/tickets/{no}/units", who="env").status_code == 403
    assert staff(f"/tickets/{no}/units", who="gw").status_code == 403
    assert staff(f"/tickets/{no}/units", who=None).status_code == 401
    assert staff("/tickets/CC-NO-SUCH/units").status_code == 404
    _field_error(staff(f"/tickets/{no}/units", q="x" * 65), "q")
    _field_error(staff(f"/tickets/{no}/units", limit=501), "limit")


# --- the ticket list beyond 500 -----------------------------------------------------------------------------

def _pages(staff, **params) -> list[str]:
    seen, cursor, pages = [], None, 0
    while True:
        r = staff("/tickets", **params, **({"cursor": cursor} if cursor else {}))
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [t["ticket_no"] for t in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        assert pages < 50, "the cursor does not advance"
        if cursor is None:
            return seen


def test_the_ticket_list_pages_past_500_in_both_sorts(deps, staff, engine):
    # 520 暴露垃圾 tickets 100 m apart (no two merge), then deadlines with ties and some without any.
    nos = ingest(deps, [_envelope(f"p-{i}", location=_at(east_m=100 * (i % 26), north_m=100 * (i // 26)))
                        for i in range(520)])
    assert len(nos) == 520
    base = datetime(2030, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(text("UPDATE tickets SET deadline = CASE WHEN id % 5 = 0 THEN NULL "
                          "ELSE CAST(:base AS timestamptz) + (id % 7) * interval '1 hour' END"), {"base": base})
        newest = conn.execute(text("SELECT ticket_no FROM tickets ORDER BY id DESC")).scalars().all()
        by_deadline = conn.execute(text(
            "SELECT ticket_no FROM tickets ORDER BY deadline ASC NULLS LAST, id ASC")).scalars().all()
    assert _pages(staff, limit=500) == newest
    assert _pages(staff, limit=77) == newest
    assert _pages(staff, sort="deadline", limit=500) == by_deadline
    assert _pages(staff, sort="deadline", limit=33) == by_deadline
    first = staff("/tickets", sort="deadline", limit=2).json()["items"]
    assert first[0]["deadline"] <= first[1]["deadline"]
    # the department sees its own tickets only, paged the same way
    with engine.connect() as conn:
        theirs = conn.execute(text("SELECT ticket_no FROM tickets WHERE assignee_code = '220102-SANITATION' "
                                   "ORDER BY deadline ASC NULLS LAST, id ASC")).scalars().all()
    assert theirs and _pages(staff, who="env", sort="deadline", limit=40) == theirs


def test_the_ticket_list_refuses_bad_sorts_and_cursors(staff):
    _field_error(staff("/tickets", sort="oldest"), "sort")
    _field_error(staff("/tickets", sort="deadline", cursor="123"), "cursor")
    _field_error(staff("/tickets", sort="deadline", cursor="x.1"), "cursor")
    _field_error(staff("/tickets", sort="deadline", cursor="9" * 30 + ".1"), "cursor")
    _field_error(staff("/tickets", cursor="none.5"), "cursor")
    assert staff("/tickets", sort="deadline", cursor="none.5").status_code == 200
    assert staff("/tickets", sort="deadline", cursor="1893456000000000.5").status_code == 200


# --- photos -------------------------------------------------------------------------------------------------

def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def test_handling_photos_and_report_photos_are_media_urls_for_staff_in_scope(server, deps, staff, engine):
    base, _ = server
    token = requests.post(f"{base}/api/v1/auth/token", timeout=10,
                          json={"username": "env", "password": "secret-pass-1"}).json()["token"]
    env_headers = {"Authorization": f"Bearer {token}"}
    uploaded = requests.post(f"{base}/api/v1/media", headers=env_headers, timeout=10,
                             files={"photos": ("after.jpg", _jpeg(), "image/jpeg")})
    assert uploaded.status_code == 201, uploaded.text
    photo = uploaded.json()["attachments"][0]
    # A report whose JSON names the stored photo with a URL of its own choosing.
    [no] = ingest(deps, [_envelope("ph-1", location=_at(), attachments=[
        {"sha256": photo["sha256"], "media_type": "image/jpeg", "url": "javascript:alert(1)"}])])

    def act(action, **fields):
        version = staff(f"/tickets/{no}", who="env").json()["version"]
        r = requests.post(f"{base}/api/v1/tickets/{no}/actions", headers=env_headers, timeout=10,
                          json={"action": action, "version": version, **fields})
        assert r.status_code == 200, r.text

    act("acknowledge")
    act("handle", note="已清运", attachments=[{"sha256": photo["sha256"]}])
    ticket = staff(f"/tickets/{no}").json()
    handled = next(h for h in ticket["history"] if h["action"] == "handle")
    assert handled["data"]["attachments"] == [{**photo, "url": f"/media/{photo['sha256']}"}]
    assert ticket["reports"][0]["attachments"][0]["url"] == f"/media/{photo['sha256']}"
    shown = requests.get(f"{base}{handled['data']['attachments'][0]['url']}", headers=env_headers, timeout=10)
    assert shown.status_code == 200 and shown.headers["Content-Type"] == "image/jpeg"

    public = requests.get(f"{base}/api/v1/tickets/{no}", timeout=10).json()  # a resident: no photos, no data
    assert "reports" not in public and all("data" not in h for h in public["history"])
    assert requests.get(f"{base}{handled['data']['attachments'][0]['url']}", timeout=10).status_code == 401
    with engine.begin() as conn:  # out of the department's scope now: it sees only the public view
        conn.execute(text("UPDATE tickets SET assignee_code = '220104-SANITATION' WHERE ticket_no = :n"), {"n": no})
    out = staff(f"/tickets/{no}", who="env").json()
    assert "reports" not in out and all("data" not in h for h in out["history"]) and out["history"]
