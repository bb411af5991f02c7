"""Hotline reports with only an address: a confident gazetteer match routes them, anything else waits with
the candidates for an operator."""
from __future__ import annotations

import json

import pytest
from kafka import KafkaProducer
from sqlalchemy import text

from gis.geocode import choose
from tests.helpers import wait_for


def test_choose_is_strict():
    community = {"name": "南关区1街第2社区（合成）", "kind": "community", "score": 1.0, "lon": 125.4, "lat": 43.7}
    road = {"name": "人民大街", "kind": "road", "score": 1.0, "lon": 125.32, "lat": 43.85}
    assert choose([community]).place == community
    assert choose([road]).place is None and "road" in choose([road]).reason
    assert choose([]).place is None
    weak = dict(community, score=0.6)
    assert choose([weak]).place is None
    twin = dict(community, name="南关区1街第3社区（合成）", score=0.95)
    assert choose([community, twin]).place is None, "two communities matching about equally is ambiguous"


def _publish(settings, deps, channel: str, rid: str, **fields) -> None:
    """One report/1 envelope on its channel's topic, acknowledged by the broker."""
    e = {"schema": "report/1", "report_id": rid, "channel": channel, "category": "020102",
         "reported_at": "2026-11-23T09:00:00+08:00", **fields}
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    producer.send(deps.topics.report(channel), key=rid.encode(), value=json.dumps(e, ensure_ascii=False).encode()).get(10)
    producer.close()


def _ticket_of(engine, rid: str, columns: str):
    """`columns` of the ticket that report `rid` landed in, or None while it has none."""
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT {columns} FROM reports r JOIN tickets t ON t.id = r.ticket_id "
                                 "WHERE r.report_id = :r"), {"r": rid}).first()


@pytest.mark.integration
def test_hotline_address_routes_when_the_gazetteer_is_sure(settings, deps, worker, engine):
    with engine.connect() as conn:
        community, lon, lat = conn.execute(text(
            "SELECT p.name, ST_X(p.geom), ST_Y(p.geom) FROM places p WHERE p.kind = 'community' ORDER BY p.id LIMIT 1"
        )).one()
        expected_grid = conn.execute(text(
            "SELECT code FROM areas WHERE level = 'grid' AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
            {"x": lon, "y": lat}).scalar_one()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for rid, address in (("h-community", f"{community}3号楼下，垃圾堆了三天"), ("h-road", "长春市人民大街1200号附近"),
                         ("h-nothing", "我家门口")):
        e = {"schema": "report/1", "report_id": rid, "channel": "hotline", "category": "020102",
             "reported_at": "2026-11-23T09:00:00+08:00", "location": None, "address": address,
             "reporter": {"name": "市民", "phone": "13912345678"}}
        producer.send(deps.topics.report("hotline"), key=rid.encode(), value=json.dumps(e, ensure_ascii=False).encode()).get(10)
    producer.close()

    def tickets():
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT r.report_id, t.status, t.grid_code, t.routing FROM reports r "
                                     "JOIN tickets t ON t.id = r.ticket_id")).all()
        return {r.report_id: r for r in rows} if len(rows) == 3 else None

    found = wait_for(tickets, what="three hotline tickets")
    placed = found["h-community"]
    assert placed.status == "dispatched" and placed.grid_code == expected_grid
    assert placed.routing["geocode"]["place"]["name"] == community and placed.routing["method"] in ("contains", "boundary")
    road = found["h-road"]
    assert road.status == "pending" and road.routing["geocode"]["candidates"][0]["name"] == "人民大街"
    assert found["h-nothing"].status == "pending" and found["h-nothing"].routing["geocode"]["candidates"] == []


@pytest.mark.integration
def test_a_new_matrix_reaches_the_running_worker_without_a_restart(settings, deps, worker, engine):
    """NOTIFY on replace: the next report is routed by the new rule (then the demo matrix is restored)."""
    from gis.duties import Rule
    from store.duties import load_rules, replace_rules

    def send(rid: str) -> None:
        _publish(settings, deps, "grid", rid,
                 location={"lon": 125.4388 + len(rid) * 0.002, "lat": 43.7126, "crs": "wgs84"})

    def rule_of(rid: str):
        return _ticket_of(engine, rid, "t.routing ->> 'rule', t.assignee_code")

    send("before")
    assert wait_for(lambda: rule_of("before"), what="the first ticket")[1] == "220102-SANITATION"
    with engine.begin() as conn:
        saved = load_rules(conn)
        replace_rules(conn, [Rule("南关区一律交区中心（测试）", "220102-CMD", area="220102", priority=999)])
    try:
        send("after-change")
        routed = wait_for(lambda: rule_of("after-change"), what="the second ticket")
        assert routed == ("南关区一律交区中心（测试）", "220102-CMD")
    finally:
        with engine.begin() as conn:
            replace_rules(conn, saved)


@pytest.mark.integration
def test_a_change_committed_before_a_use_is_seen_by_that_use(engine):
    """The cache's promise is ordered, not eventual: a rule change committed before the router is asked for
    is in the answer, every time. Checked back to back, with no wait between the commit and the question (a
    cache that only looked at what had reached its socket missed some of these)."""
    from application.routing import RoutingCache
    from gis.duties import Rule
    from store.duties import load_rules, replace_rules

    cache = RoutingCache(engine, 0.0)
    with engine.connect() as conn:
        saved = load_rules(conn)
    try:
        cache()
        for n in range(30):
            with engine.begin() as conn:
                replace_rules(conn, [Rule(f"顺序规则{n}", "220102-CMD", area="220102", priority=999)])
            assert [r.name for r in cache().duties.rules] == [f"顺序规则{n}"], f"change {n} was not seen"
        reloads = cache.reloads
        cache()
        assert cache.reloads == reloads, "nothing changed, yet the cache reloaded"
    finally:
        cache.close()
        with engine.begin() as conn:
            replace_rules(conn, saved)


@pytest.mark.integration
def test_a_changed_gazetteer_reaches_the_running_worker(settings, deps, worker, engine):
    """The worker holds the gazetteer's names in memory; replacing the places must reach it (NOTIFY), and a
    community taken out of the gazetteer must stop routing calls."""
    from shapely import wkb

    from store.duties import Place, replace_places

    with engine.connect() as conn:
        saved = [Place(r.name, r.kind, wkb.loads(bytes(r.geom))) for r in conn.execute(text(
            "SELECT name, kind, ST_AsBinary(geom) AS geom FROM places ORDER BY id"))]
    community = next(p.name for p in saved if p.kind == "community")
    address = f"{community}北门附近"

    def send(rid: str) -> None:
        _publish(settings, deps, "hotline", rid, location=None, address=address)

    def routed(rid: str):
        return _ticket_of(engine, rid, "t.status, t.routing -> 'geocode' AS geocode")

    send("cache-1")
    send("cache-2")  # the same address again, the same way
    first, second = (wait_for(lambda r=r: routed(r), what=f"ticket of {r}") for r in ("cache-1", "cache-2"))
    assert first.status == second.status == "dispatched"
    assert first.geocode["place"]["name"] == second.geocode["place"]["name"] == community
    with engine.begin() as conn:
        replace_places(conn, [p for p in saved if p.name != community])
    try:
        send("cache-3")
        third = wait_for(lambda: routed("cache-3"), what="ticket after the gazetteer changed")
        assert third.status == "pending", "the removed community still routed the call: a stale cache"
        assert community not in [c["name"] for c in third.geocode["candidates"]]
    finally:
        with engine.begin() as conn:
            replace_places(conn, saved)


# The gazetteer query as first written: every place compared with every address (a sequential scan). The
# indexed query of store.duties must give exactly its answers; this is the reference it is checked against.
_REFERENCE = (
    "SELECT q.idx, c.name, c.kind, c.score FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS q(idx int, address text) "
    "CROSS JOIN LATERAL (SELECT p.name, p.kind, CASE WHEN strpos(q.address, p.name) > 0 THEN 1.0 "
    "ELSE word_similarity(p.name, q.address) END AS score FROM places p "
    "WHERE strpos(q.address, p.name) > 0 OR p.name <% q.address "
    "ORDER BY 3 DESC, length(p.name) DESC, p.id LIMIT 5) AS c ORDER BY q.idx, c.score DESC, length(c.name) DESC"
)


@pytest.mark.integration
def test_indexed_geocoding_answers_exactly_like_comparing_every_place(engine):
    import random

    from store.duties import geocode

    rng = random.Random(5)
    with engine.connect() as conn:
        names = [r.name for r in conn.execute(text("SELECT name FROM places ORDER BY id"))]
    addresses = []
    for name in rng.sample(names, 60):
        chars = list(name)
        addresses.append(f"{name}{rng.choice(['东门', '3号楼下', '附近'])}")  # named exactly
        i = rng.randrange(len(chars))
        addresses.append("长春市" + "".join(chars[:i] + chars[i + 1:]) + "门口")  # a character missing
        chars[rng.randrange(len(chars))] = rng.choice("东西南北中新")
        addresses.append("".join(chars) + "附近")  # a character wrong
    addresses += ["我家门口", "长春市人民大街1200号附近", "人民大街与解放大路交汇", "", "社区", "南关区", "x"]
    addresses = [a for a in addresses if a]
    with engine.connect() as conn:
        expected: dict[int, list] = {}
        import json as _json
        for r in conn.execute(text(_REFERENCE), {"rows": _json.dumps(
                [{"idx": i, "address": a} for i, a in enumerate(addresses)], ensure_ascii=False)}):
            expected.setdefault(r.idx, []).append((r.name, r.kind, round(float(r.score), 3)))
        found = geocode(conn, list(enumerate(addresses)))
    got = {i: [(c["name"], c["kind"], c["score"]) for c in cands] for i, cands in found.items()}
    assert sum(1 for v in expected.values() if v and v[0][2] < 1) > 10, "the sample must exercise trigram matches"
    assert got == expected
