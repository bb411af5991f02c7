"""Issue 13's domain fixes: only a 小类 opens a ticket with a clock (HTTP refuses the rest, Kafka parks them
as `pending`), `urgent` priority by rule with natural-time clocks, and `escalate --now` that cannot write
the future. Pure rules first, then the real database, worker, web server and CLI."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from application.envelope import validate_envelope
from dispatch.deadlines import limits_for
from dispatch.errors import IntakeRefused
from dispatch.intake import category_problem, check_report, classified, decide, is_alarm
from dispatch.lifecycle import Priority, opened
from dispatch.model import Status, Unit
from dispatch.taxonomy import read_file
from tests.helpers import wait_for

TAXONOMY = read_file(Path(__file__).parents[1] / "yunguan" / "demo_data" / "categories.csv")
CST = ZoneInfo("Asia/Shanghai")
NANGUAN = {"lon": 125.4388, "lat": 43.7126, "crs": "wgs84"}
UNIT = Unit("220102-SANITATION", "南关区环卫", "district")


def envelope(channel="public", category="020102", report_id="r-1", **extra):
    return validate_envelope({"schema": "report/1", "report_id": report_id, "channel": channel,
                              "reported_at": "2026-11-23T18:16:00+08:00", "category": category,
                              "location": NANGUAN, **extra})


# --- pure rules -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code, says", [
    ("01", "门类"), ("0101", "大类"), ("0204", "大类"), ("029999", "not in the category table"),
])
def test_only_a_subclass_of_the_taxonomy_is_a_usable_category(code, says):
    problem = category_problem(TAXONOMY, code)
    assert problem is not None and code in problem and says in problem
    assert category_problem(TAXONOMY, "020102") is None and category_problem(TAXONOMY, None) is None


def test_http_checks_name_the_field():
    with pytest.raises(IntakeRefused) as caught:
        check_report(TAXONOMY, envelope(category="01"))
    assert caught.value.status == 422 and set(caught.value.fields) == {"category"}
    with pytest.raises(IntakeRefused) as caught:
        check_report(TAXONOMY, envelope(channel="public", priority="urgent"))
    assert set(caught.value.fields) == {"priority"} and "sensor" in caught.value.fields["priority"]
    with pytest.raises(IntakeRefused) as caught:
        check_report(TAXONOMY, envelope(channel="sensor", priority="high", category="0101"))
    assert set(caught.value.fields) == {"category", "priority"}
    check_report(TAXONOMY, envelope(channel="sensor", priority="urgent", category="010119"))
    check_report(TAXONOMY, envelope(channel="grid", priority="normal", category=None))


def test_only_a_sensor_may_raise_an_alarm():
    assert is_alarm(envelope(channel="sensor", priority="urgent"))
    assert not is_alarm(envelope(channel="public", priority="urgent"))
    assert not is_alarm(envelope(channel="sensor", priority="normal"))
    assert not is_alarm(envelope(channel="sensor"))


def test_intake_decides_category_priority_and_opening():
    set_aside = decide(TAXONOMY, "0101", "contains", UNIT, alarm=False)
    assert set_aside.category is None and set_aside.opening.status is Status.PENDING
    assert "0101" in set_aside.opening.notes[0] and "operator" in set_aside.opening.notes[0]
    gas = decide(TAXONOMY, "020403", "contains", UNIT, alarm=False)
    assert gas.priority is Priority.URGENT and gas.opening.status is Status.DISPATCHED
    assert "020403" in gas.opening.notes[0]
    alarm = decide(TAXONOMY, "010119", "contains", UNIT, alarm=True)
    assert alarm.priority is Priority.URGENT and "sensor alarm" in alarm.opening.notes[0]
    plain = decide(TAXONOMY, "020102", "contains", UNIT, alarm=False)
    assert plain.priority is Priority.NORMAL and plain.opening.status is Status.DISPATCHED
    blind = decide(None, "0101", "contains", UNIT, alarm=False)  # no taxonomy loaded: taken as given
    assert blind.category == "0101" and blind.priority is Priority.NORMAL


def test_urgent_halves_ordinary_limits_but_not_an_urgent_categorys_own():
    ordinary, gas = TAXONOMY.get("010119"), TAXONOMY.get("020403")
    assert limits_for(ordinary, Priority.URGENT).acknowledge == timedelta(hours=1)
    assert limits_for(ordinary, Priority.URGENT).natural and not limits_for(ordinary).natural
    assert limits_for(gas, Priority.URGENT) == limits_for(gas)


def test_classifying_into_an_urgent_category_makes_the_ticket_urgent_and_never_less():
    state = opened("T-1", Status.PENDING, datetime(2026, 11, 23, tzinfo=UTC))
    assert classified(state, TAXONOMY.get("020403")).priority is Priority.URGENT
    assert classified(state, TAXONOMY.get("020102")).priority is Priority.NORMAL
    urgent = classified(state, TAXONOMY.get("020403"))
    assert classified(urgent, TAXONOMY.get("020102")).priority is Priority.URGENT


# --- the real database ------------------------------------------------------------------------------------

KW = {"timezone": "Asia/Shanghai", "ticket_prefix": "CC", "events_topic": "tickets.events"}


def _contexts(engine, settings):
    from application.routing import RoutingCache
    from dispatch.worktime import WorkingTime
    from store.loop import load_context

    with engine.connect() as conn:
        loop = load_context(conn, WorkingTime.from_settings(settings), "tickets.events")
    return RoutingCache.from_settings(engine, settings)(), loop


def _ingest(engine, settings, envelopes, now):
    from application.ingest import Received, ingest

    routing, loop = _contexts(engine, settings)
    received = [Received(e, f"reports.{e.channel}", 0, n) for n, e in enumerate(envelopes)]
    with engine.begin() as conn:
        return ingest(conn, received, routing, now=now, loop=loop, **KW)


def _ticket(engine, report_id):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT t.ticket_no, t.status, t.category, t.priority, t.deadline, r.category AS reported, "
            "(SELECT h.note FROM ticket_history h WHERE h.ticket_id = t.id ORDER BY h.id LIMIT 1) AS note, "
            "(SELECT o.payload FROM outbox o WHERE o.key = t.ticket_no ORDER BY o.id LIMIT 1) AS event "
            "FROM reports r JOIN tickets t ON t.id = r.ticket_id WHERE r.report_id = :r"), {"r": report_id}).one()


def test_a_gas_alarm_at_1816_on_a_working_day_is_due_the_same_evening(clean_db, base_settings):
    at = datetime(2026, 11, 23, 18, 16, tzinfo=CST)  # a Monday, after office hours (17:30)
    _ingest(clean_db, base_settings, [
        envelope("sensor", "010119", "gas-alarm", priority="urgent", description="gas alarm",
                 sensor={"device_id": "gas-0042", "kind": "gas", "reading": 310, "threshold": 180}),
        envelope("sensor", "010119", "device-note", description="device report, no alarm",
                 location={**NANGUAN, "lon": NANGUAN["lon"] + 0.01}),  # 800 m away: its own ticket
        envelope("grid", "020403", "gas-leak", description="燃气管道泄漏",
                 location={**NANGUAN, "lat": NANGUAN["lat"] + 0.01}),
    ], at)
    alarm, quiet, leak = (_ticket(clean_db, r) for r in ("gas-alarm", "device-note", "gas-leak"))
    assert alarm.status == "dispatched" and alarm.priority == "urgent"
    assert alarm.deadline.astimezone(CST) == datetime(2026, 11, 23, 19, 16, tzinfo=CST)  # 1 h natural, not 2 h
    assert "sensor alarm" in alarm.note
    # The control: the same category without the alarm waits for office hours (08:30 + 2 h next morning).
    assert quiet.priority == "normal" and quiet.deadline.astimezone(CST) == datetime(2026, 11, 24, 10, 30, tzinfo=CST)
    # A category flagged urgent is urgent from any channel, on its own limits (15 min to acknowledge).
    assert leak.priority == "urgent" and leak.deadline.astimezone(CST) == datetime(2026, 11, 23, 18, 31, tzinfo=CST)
    assert (alarm.event["priority"], quiet.event["priority"], leak.event["priority"]) == ("urgent", "normal", "urgent")


def test_priority_is_in_the_ticket_and_in_events_after_a_change(clean_db, base_settings):
    from application.act import act
    from dispatch.actors import Actor, Scope
    from dispatch.lifecycle import Command
    from store import queries

    at = datetime(2026, 11, 23, 18, 16, tzinfo=CST)
    [no] = _ingest(clean_db, base_settings, [envelope("hotline", None, "unsure", description="闻到燃气味")], at)
    with clean_db.connect() as conn:
        assert queries.get_ticket(conn, no, Scope(everything=True))["priority"] == "normal"
    _, loop = _contexts(clean_db, base_settings)
    duty = Actor("duty", "operator", supervisor=True)
    state = act(clean_db, no, Command("register", 1, category="020403"), duty, at + timedelta(minutes=5), loop)
    assert state is not None
    with clean_db.connect() as conn:
        ticket = queries.get_ticket(conn, no, Scope(everything=True))
        event = conn.execute(text("SELECT payload FROM outbox WHERE key = :n ORDER BY id DESC LIMIT 1"),
                             {"n": no}).scalar_one()
    assert ticket["priority"] == "urgent" and event["priority"] == "urgent" and event["event"] == "register"


@pytest.mark.parametrize("category", ["01", "0204", "029999"])
def test_a_kafka_report_with_a_category_that_is_not_a_subclass_waits_for_an_operator(
        clean_db, base_settings, category):
    at = datetime(2026, 11, 24, 10, 0, tzinfo=CST)
    _ingest(clean_db, base_settings, [envelope("hotline", category, "odd")], at)
    t = _ticket(clean_db, "odd")
    assert (t.status, t.category, t.deadline, t.reported) == ("pending", None, None, category)
    assert category in t.note and "operator classifies" in t.note


def test_the_real_worker_parks_non_subclass_categories_and_keeps_alarms_urgent(settings, deps, worker, engine):
    from kafka import KafkaProducer

    sent = [
        {"report_id": "k-root", "channel": "grid", "category": "01", "location": NANGUAN},
        {"report_id": "k-unknown", "channel": "public", "category": "029999",
         "location": {**NANGUAN, "lon": NANGUAN["lon"] + 0.01}},
        {"report_id": "k-alarm", "channel": "sensor", "category": "010119", "priority": "urgent",
         "location": {**NANGUAN, "lat": NANGUAN["lat"] + 0.01}},
        {"report_id": "k-loud", "channel": "public", "category": "010119", "priority": "urgent",  # not a sensor
         "location": {**NANGUAN, "lat": NANGUAN["lat"] - 0.01}},
    ]
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for e in sent:
        e = {"schema": "report/1", "reported_at": datetime.now(UTC).isoformat(), **e}
        producer.send(deps.topics.report(e["channel"]), key=e["report_id"].encode(),
                      value=json.dumps(e).encode()).get(10)
    producer.close()

    def ticketed():
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM reports WHERE ticket_id IS NOT NULL")).scalar_one() == 4
    wait_for(ticketed, 30, what="4 reports ticketed")
    root, unknown, alarm, loud = (_ticket(engine, r) for r in ("k-root", "k-unknown", "k-alarm", "k-loud"))
    assert (root.status, root.category, root.reported) == ("pending", None, "01")
    assert (unknown.status, unknown.category, unknown.reported) == ("pending", None, "029999")
    assert (alarm.status, alarm.priority) == ("dispatched", "urgent")
    assert (loud.status, loud.priority) == ("dispatched", "normal")


# --- HTTP -------------------------------------------------------------------------------------------------

def test_http_intake_refuses_a_category_that_is_not_a_subclass(server, make_user):
    import requests

    base, _ = server
    make_user("root", "admin")
    token = requests.post(f"{base}/api/v1/auth/token", json={"username": "root", "password": "secret-pass-1"},
                          timeout=10).json()["token"]

    def post(body, auth=False):
        return requests.post(f"{base}/api/v1/reports", json={"location": NANGUAN, **body}, timeout=10,
                             headers={"Authorization": f"Bearer {token}"} if auth else {})

    for category in ("01", "0101", "029999"):
        r = post({"category": category})
        assert r.status_code == 422 and set(r.json()["error"]["fields"]) == {"category"}, r.text
        assert category in r.json()["error"]["fields"]["category"]
    loud = post({"category": "020102", "priority": "urgent"})
    assert loud.status_code == 422 and set(loud.json()["error"]["fields"]) == {"priority"}, loud.text
    assert post({"category": "020102"}).status_code == 202
    assert post({"category": None}).status_code == 202  # unclassified: the operator's to classify
    alarm = post({"channel": "sensor", "category": "010119", "priority": "urgent"}, auth=True)
    assert alarm.status_code == 202, alarm.text


# --- yunguan escalate -------------------------------------------------------------------------------------

def _snapshot(engine):
    with engine.connect() as conn:
        return (
            conn.execute(text("SELECT ticket_no, version, status, escalation_level, deadline, deadline_state, "
                              "updated_at, history_head, loop FROM tickets ORDER BY id")).all(),
            conn.execute(text("SELECT count(*) FROM ticket_history")).scalar_one(),
            conn.execute(text("SELECT count(*) FROM outbox")).scalar_one(),
        )


@pytest.fixture
def cli(settings, monkeypatch, capsys):
    from yunguan.cli import main

    monkeypatch.setenv("YUNGUAN_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("YUNGUAN_KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
    monkeypatch.setenv("YUNGUAN_TOPIC_PREFIX", settings.topic_prefix)

    def run(*args):
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")], err

    return run


def test_escalate_refuses_the_future_and_a_dry_run_writes_nothing(clean_db, settings, cli):
    real_now = datetime.now(UTC)
    [fresh] = _ingest(clean_db, settings, [envelope("grid", "020102", "fresh")], real_now)
    before = _snapshot(clean_db)
    future = (real_now + timedelta(days=30)).isoformat()

    code, lines, err = cli("escalate", "--now", future)
    assert code == 2 and "ahead of this machine's clock" in err and "--dry-run" in err and lines == []
    assert _snapshot(clean_db) == before

    code, lines, err = cli("escalate", "--now", future, "--dry-run")
    assert code == 0 and "nothing written" in err
    assert {(c["ticket_no"], c["action"], c["dry_run"]) for c in lines} >= {(fresh, "escalate", True)}
    assert _snapshot(clean_db) == before

    near = (real_now + timedelta(seconds=30)).isoformat()  # within the skew: an ordinary pass, nothing due
    code, lines, _ = cli("escalate", "--now", near)
    assert code == 0 and lines == []


def test_a_dry_run_as_of_now_prints_what_the_real_pass_then_does(clean_db, settings, cli):
    long_ago = datetime.now(UTC) - timedelta(days=20)
    [late] = _ingest(clean_db, settings, [envelope("grid", "020102", "late")], long_ago)
    before = _snapshot(clean_db)

    code, planned, err = cli("escalate", "--dry-run")
    assert code == 0 and any(c["ticket_no"] == late and c["action"] == "escalate" for c in planned), err
    assert _snapshot(clean_db) == before

    code, done, _ = cli("escalate")
    assert code == 0
    assert [(c["ticket_no"], c["action"], c["level"]) for c in done] == \
        [(c["ticket_no"], c["action"], c["level"]) for c in planned]
    tickets, history, outbox = _snapshot(clean_db)
    assert history > before[1] and outbox > before[2] and tickets[0].escalation_level >= 1
