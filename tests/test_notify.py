"""Notifications against real receivers: a local HTTP server for webhooks (failing, then succeeding; or always
failing), a local SMTP server (aiosmtpd) for e-mail, the SMS file sink; tickets made by the real worker from
envelopes on the real broker, moved through the loop over the HTTP API, their events consumed by the notify
service's own consumer group (docs/notifications.md)."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import text

from application import notify
from streams.rdkafka import Record
from tests.helpers import free_port, publish_envelopes, wait_for, worker_env

pytestmark = pytest.mark.integration

NANGUAN_UNIT = "220102-SANITATION"  # 暴露垃圾 (020102) in 南关区 goes to the district's 环卫 branch
PHONE, EMAIL = "13912345678", "li.si@example.cn"
UNIT_EMAIL, UNIT_PHONE = "huanwei@example.cn", "13700001111"


# --- pure decisions ------------------------------------------------------------------------------------------

def _event(name: str, status: str, unit: str = NANGUAN_UNIT, **more) -> dict:
    return {"schema": "ticket-event/1", "ticket_no": "CC20261130000001", "event": name, "status": status,
            "version": 3, "assignee": {"code": unit, "name": "南关区环卫", "level": "district"},
            "deadline": "2026-12-01T02:00:00+00:00", "escalation_level": 1, "assists": [], **more}


def test_who_is_told_what():
    zone = ZoneInfo("Asia/Shanghai")
    hooks = [notify.Hook(1, "http://a", "s"), notify.Hook(2, "http://b", "s", ("close",)),
             notify.Hook(3, "http://c", "s", (), NANGUAN_UNIT), notify.Hook(4, "http://d", "s", (), "OTHER")]
    contacts = {NANGUAN_UNIT: (UNIT_EMAIL, UNIT_PHONE)}

    def told(event, channels=frozenset(notify.CHANNELS)):
        return {(p.channel, p.target) for p in notify.plan(
            event, hooks=hooks, reporters=[EMAIL, PHONE, EMAIL], unit_contacts=contacts,
            templates=notify.TEMPLATES, zone=zone, channels=channels)}

    assert told(_event("dispatch", "dispatched")) == {
        ("webhook", "http://a"), ("webhook", "http://c"), ("email", "h***@example.cn"), ("sms", "137****1111")}
    assert told(_event("close", "closed")) == {
        ("webhook", "http://a"), ("webhook", "http://b"), ("webhook", "http://c"),
        ("email", "l***@example.cn"), ("sms", "139****5678")}  # the reporter once per address
    assert told(_event("acknowledge", "acknowledged")) == {("webhook", "http://a"), ("webhook", "http://c")}
    assert told(_event("created", "pending")) == {("webhook", "http://a"), ("webhook", "http://c")}
    assert ("sms", "139****5678") in told(_event("created", "dispatched"))  # opened straight into 立案
    assert told(_event("close", "closed"), frozenset({"webhook", "sms"})) >= {("sms", "139****5678")}
    assert ("email", "l***@example.cn") not in told(_event("close", "closed"), frozenset({"webhook", "sms"}))
    # an assisting unit's hook hears of the ticket too
    assert ("webhook", "http://d") in told(_event("add_assist", "dispatched", assists=["OTHER"]))
    subject, body = notify.render(notify.TEMPLATES, "unit.escalated", _event("escalate", "dispatched"), zone)
    assert "CC20261130000001" in subject and "第 1 级" in body and "南关区环卫" in body
    _, body = notify.render(notify.TEMPLATES, "unit.dispatched", _event("dispatch", "dispatched"), zone)
    assert "2026-12-01 10:00" in body  # the deadline in city time
    assert notify.sign("k", b"{}") == "sha256=" + hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()
    assert [notify.backoff(n, 2, 10).total_seconds() for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]
    assert notify.display_url("https://u:pw@h.example:8443/in?token=abc#x") == "https://h.example:8443/in"
    assert notify.mask_text(f"550 <{EMAIL}> and {PHONE} refused") == "550 <l***@example.cn> and 139****5678 refused"


def test_templates_and_unit_contacts_are_configurable(tmp_path):
    f = tmp_path / "t.toml"
    f.write_text('"reporter.closed" = "办结了：{ticket_no}"\n', encoding="utf-8")
    assert notify.load_templates(str(f))["reporter.closed"] == "办结了：{ticket_no}"
    f.write_text('"reporter.closed" = "{phone}"\n', encoding="utf-8")
    with pytest.raises(notify.NotifyConfigError, match="phone"):
        notify.load_templates(str(f))
    assert notify.parse_unit_contacts(f"U1={UNIT_EMAIL}|{UNIT_PHONE}, U2={EMAIL}") == {
        "U1": (UNIT_EMAIL, UNIT_PHONE), "U2": (EMAIL,)}
    with pytest.raises(notify.NotifyConfigError, match="neither"):
        notify.parse_unit_contacts("U1=not-an-address")


@pytest.fixture(autouse=True)
def _no_hooks_or_deliveries(request):
    """Each integration test starts without webhooks and deliveries (conftest's clean_db keeps them)."""
    if "engine" in request.fixturenames:
        with request.getfixturevalue("engine").begin() as conn:
            conn.execute(text("TRUNCATE webhooks, deliveries, delivery_attempts RESTART IDENTITY CASCADE"))


# --- real receivers ------------------------------------------------------------------------------------------

class Receiver:
    """A local HTTP server answering each POST with the next status of `statuses` (the last one repeats)."""

    def __init__(self, statuses: list[int]):
        self.statuses = list(statuses)
        self.calls: list[tuple[int, dict, bytes]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    status = outer.statuses[min(len(outer.calls), len(outer.statuses) - 1)]
                    outer.calls.append((status, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def ok(self) -> list[tuple[int, dict, bytes]]:
        with self.lock:
            return [c for c in self.calls if c[0] < 300]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def _make(statuses: list[int]) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield _make
    for r in made:
        r.close()


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on a free port; `.messages` holds what it received."""
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
            self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.original_content)))
            return "250 OK"

    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


def _cli(settings, *args, extra: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "yunguan.cli", *args], env=worker_env(settings, **(extra or {})),
                          capture_output=True, text=True, timeout=60)


def _add_hook(settings, url: str, *options: str) -> tuple[int, str]:
    out = _cli(settings, "webhooks", "add", url, *options)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-2].startswith("id ")
    return int(lines[-2][3:]), lines[-1]


def _run_notify(settings, deps, **overrides):
    """The notify service in a thread with these settings; returns (service, stop)."""
    from streams.notify import NotifyService

    s = settings.replace(notify_group=f"{settings.topic_prefix}notify", notify_poll_s=0.05, notify_backoff_s=0.2,
                         notify_backoff_max_s=0.5, **overrides)
    service = NotifyService(s, deps.engine, deps.topics)
    stop = threading.Event()
    errors: list[BaseException] = []

    def _run():
        try:
            service.run(stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=_run, name="test-notify", daemon=True)
    thread.start()

    def _stop():
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive() and not errors, errors

    return service, _stop


def _envelope(**more) -> dict:
    return {"schema": "report/1", "report_id": f"n-{uuid.uuid4().hex[:12]}", "channel": "public",
            "reported_at": datetime.now(UTC).isoformat(), "category": "020102", "description": "垃圾堆放",
            "location": {"lon": 125.4388, "lat": 43.7126, "crs": "wgs84"}, **more}


def _ticket_of(engine, report_id: str) -> str:
    def found():
        with engine.connect() as conn:
            return conn.execute(text("SELECT t.ticket_no FROM reports r JOIN tickets t ON t.id = r.ticket_id "
                                     "WHERE r.report_id = :r"), {"r": report_id}).scalar()
    return wait_for(found, 30, what="the worker's ticket")


def _deliveries(engine, **where) -> list:
    clause = " AND ".join(f"{k} = :{k}" for k in where) or "true"
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT * FROM deliveries WHERE {clause} ORDER BY id"), where).all()


def _token(base: str, username: str) -> dict:
    r = requests.post(f"{base}/api/v1/auth/token", json={"username": username, "password": "secret-pass-1"},
                      timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _act(base: str, headers: dict, no: str, action: str, **fields) -> None:
    version = requests.get(f"{base}/api/v1/tickets/{no}", headers=headers, timeout=10).json()["version"]
    r = requests.post(f"{base}/api/v1/tickets/{no}/actions", headers=headers, timeout=10,
                      json={"action": action, "version": version, **fields})
    assert r.status_code == 200, (action, r.status_code, r.text)


# --- webhooks: retried, signed, once; a dead one is shown ------------------------------------------------------

def test_webhooks_retry_until_delivered_once_signed_and_a_dead_one_is_listed(
        settings, deps, worker, server, engine, make_user, receivers):
    base, _ = server
    flaky, broken = receivers([500, 502, 200]), receivers([503])
    flaky_id, secret = _add_hook(settings, flaky.url, "--events", "created")
    broken_id, _ = _add_hook(settings, broken.url, "--events", "created")
    service, stop = _run_notify(settings, deps, notify_max_attempts=3)
    try:
        env = _envelope()
        publish_envelopes(settings.kafka_bootstrap, deps.topics, [env])
        no = _ticket_of(engine, env["report_id"])
        wait_for(lambda: [d for d in _deliveries(engine, hook_id=flaky_id) if d.state == "delivered"], 30,
                 what="the flaky hook's delivery")
        dead = wait_for(lambda: [d for d in _deliveries(engine, hook_id=broken_id) if d.state == "dead"], 30,
                        what="the broken hook's delivery to die")

        # delivered once, after two failures, every attempt recorded
        (done,) = _deliveries(engine, hook_id=flaky_id)
        assert done.attempts == 3 and done.delivered_at is not None and done.ticket_no == no
        with engine.connect() as conn:
            tries = conn.execute(text("SELECT ok, status_code FROM delivery_attempts WHERE delivery_id = :d "
                                      "ORDER BY id"), {"d": done.id}).all()
        assert [(t.ok, t.status_code) for t in tries] == [(False, 500), (False, 502), (True, 200)]
        (_, headers, body), = flaky.ok()
        assert len(flaky.calls) == 3 and all(c[2] == body for c in flaky.calls)
        assert headers["X-Yunguan-Signature"] == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        event = json.loads(body)
        assert event["schema"] == "ticket-event/1" and event["ticket_no"] == no and event["event"] == "created"
        assert headers["X-Yunguan-Event"] == "created" and headers["X-Yunguan-Delivery"] == str(done.id)

        # the same event again (a replay of tickets.events) queues nothing
        assert service.queue([Record(deps.topics.ticket_events, 0, 0, no.encode(), body)]) == 0

        # the dead one: tried notify_max_attempts times, then listed as failed by the CLI and the API
        assert dead[0].attempts == 3 and len(broken.calls) == 3 and "503" in dead[0].last_error
        listed = [json.loads(line) for line in _cli(settings, "deliveries", "list", "--failed").stdout.splitlines()]
        assert [(d["id"], d["state"], d["target"]) for d in listed] == [(dead[0].id, "dead", broken.url)]
        hooks = {h["id"]: h for h in map(json.loads, _cli(settings, "webhooks", "list").stdout.splitlines())}
        assert hooks[broken_id]["dead"] == 1 and hooks[broken_id]["failed_attempts"] == 3
        assert "503" in hooks[broken_id]["last_error"]
        assert hooks[flaky_id]["delivered"] == 1 and hooks[flaky_id]["failed_attempts"] == 2
        assert "secret" not in hooks[flaky_id] and secret not in json.dumps(hooks)

        make_user("ops", "operator")
        make_user("nanguan", "department", unit=NANGUAN_UNIT)
        r = requests.get(f"{base}/api/v1/deliveries", params={"failed": "1"}, headers=_token(base, "ops"), timeout=10)
        assert r.status_code == 200, r.text
        assert [(d["id"], d["state"], d["attempts"]) for d in r.json()["items"]] == [(dead[0].id, "dead", 3)]
        everything = requests.get(f"{base}/api/v1/deliveries", headers=_token(base, "ops"), timeout=10).json()
        assert {d["id"] for d in everything["items"]} == {dead[0].id, done.id}
        assert requests.get(f"{base}/api/v1/deliveries", headers=_token(base, "nanguan"), timeout=10).status_code == 403
        bad = requests.get(f"{base}/api/v1/deliveries?failed=maybe", headers=_token(base, "ops"), timeout=10)
        assert bad.status_code == 400 and "failed" in bad.json()["error"]["fields"]

        assert _cli(settings, "webhooks", "remove", str(broken_id)).returncode == 0
        assert _cli(settings, "webhooks", "remove", str(broken_id)).returncode == 2
        assert _cli(settings, "webhooks", "add", "ftp://x").returncode == 2
        assert _cli(settings, "webhooks", "add", flaky.url, "--unit", "NO-SUCH").returncode == 2
    finally:
        stop()


# --- the reporter's e-mail and SMS, the unit's, and hooks filtered by unit and events ---------------------------

def test_reporter_and_unit_are_told_and_filtered_hooks_get_only_theirs(
        settings, deps, worker, server, engine, make_user, receivers, smtp, caplog):
    base, _ = server
    controller, mailbox = smtp
    unit_hook, other_hook, close_hook = receivers([200]), receivers([200]), receivers([200])
    _add_hook(settings, unit_hook.url, "--unit", NANGUAN_UNIT, "--events", "handle,close")
    _add_hook(settings, other_hook.url, "--unit", "220104-SANITATION")
    _add_hook(settings, close_hook.url, "--events", "close")
    sms_file = Path(settings.state_dir) / "sms" / "outbox.jsonl"
    sms_file.unlink(missing_ok=True)
    caplog.set_level(logging.DEBUG, logger="streams.notify")
    service, stop = _run_notify(settings, deps, smtp_host="127.0.0.1", smtp_port=controller.port,
                                smtp_from="yunguan@example.cn",
                                notify_unit_contacts=f"{NANGUAN_UNIT}={UNIT_EMAIL}|{UNIT_PHONE}")
    try:
        env = _envelope(reporter={"phone": PHONE}, open311={"email": EMAIL})
        publish_envelopes(settings.kafka_bootstrap, deps.topics, [env])
        no = _ticket_of(engine, env["report_id"])
        make_user("duty", "operator", supervisor=True)
        make_user("clerk", "operator")
        make_user("nanguan", "department", unit=NANGUAN_UNIT)
        duty, clerk, nanguan = (_token(base, u) for u in ("duty", "clerk", "nanguan"))
        _act(base, nanguan, no, "acknowledge")
        _act(base, nanguan, no, "handle", note="已清运")
        _act(base, clerk, no, "verify", note="现场核查通过")
        _act(base, duty, no, "close")

        def mails_to(address):
            return [m for rcpt, m in mailbox.messages if rcpt == [address]]

        wait_for(lambda: len(mails_to(EMAIL)) == 3, 30, what="the reporter's three e-mails")
        subjects = [str(make_header(decode_header(m["Subject"]))) for m in mails_to(EMAIL)]
        assert subjects == [f"【云管】您反映的问题已立案（{no}）", f"【云管】您反映的问题已处置（{no}）",
                            f"【云管】您反映的问题已结案（{no}）"]
        closed = mails_to(EMAIL)[-1]
        assert closed["From"] == "yunguan@example.cn"
        text_body = closed.get_payload(decode=True).decode(closed.get_content_charset())
        assert f"案件编号 {no}" in text_body and "已办结" in text_body
        wait_for(lambda: len(mails_to(UNIT_EMAIL)) == 1, 30, what="the unit's e-mail")
        assert "已派遣" in str(make_header(decode_header(mails_to(UNIT_EMAIL)[0]["Subject"]))) or \
            "派遣" in mails_to(UNIT_EMAIL)[0].get_payload(decode=True).decode("utf-8")

        def sms_lines():
            return [json.loads(line) for line in sms_file.read_text(encoding="utf-8").splitlines()] \
                if sms_file.exists() else []
        wait_for(lambda: len(sms_lines()) == 4, 30, what="four text messages in the sink")
        to_reporter = [m["text"] for m in sms_lines() if m["to"] == PHONE]
        assert len(to_reporter) == 3 and "已立案" in to_reporter[0] and "已办结" in to_reporter[2]
        assert [m["to"] for m in sms_lines() if m["to"] != PHONE] == [UNIT_PHONE]

        wait_for(lambda: len(close_hook.ok()) == 1 and len(unit_hook.ok()) == 2, 30, what="the filtered hooks")
        assert [json.loads(c[2])["event"] for c in unit_hook.ok()] == ["handle", "close"]
        assert json.loads(close_hook.ok()[0][2])["event"] == "close"
        assert other_hook.calls == []
        # every delivery delivered at the first try; lists never show an address in clear
        # (a receiver has a message a moment before its attempt is recorded)
        def all_delivered():
            rows = _deliveries(engine, ticket_no=no)
            return rows if all(r.state == "delivered" for r in rows) else None
        rows = wait_for(all_delivered, 10, what="every attempt recorded")
        assert len(rows) == 11 and all(r.attempts == 1 for r in rows)  # 3 hooks' 3, reporter 6, unit 2
        listed = _cli(settings, "deliveries", "list").stdout
        assert "l***@example.cn" in listed and "139****5678" in listed
        assert EMAIL not in listed and PHONE not in listed and UNIT_PHONE not in listed
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert EMAIL not in logged and PHONE not in logged and UNIT_EMAIL not in logged
    finally:
        stop()


# --- two senders, one HTTP SMS gateway: each delivery sent once -------------------------------------------------

def test_two_senders_share_the_queue_and_the_http_sms_gateway_gets_each_message_once(base_settings, engine,
                                                                                      receivers):
    from store import deliveries
    from streams.notify import NotifyService
    from streams.topics import Topics

    gateway = receivers([200])
    s = base_settings.replace(sms_gateway_url=gateway.url, sms_gateway_token="gw-token", notify_timeout_s=5.0)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for n in range(20):
            phone = f"1390000{n:04d}"
            deliveries.enqueue(conn, f"CCX-{n}@1:close", f"CCX-{n}", "close", [
                {"channel": "sms", "target_key": notify.address_key("sms", phone), "target": notify.mask_address(phone),
                 "address": phone, "hook_id": None, "subject": None, "body": f"结案 {n}"}], now)
    senders = [NotifyService(s, engine, Topics("unused.")) for _ in range(2)]

    def drain(service):
        while service.send_due(limit=3):
            pass

    threads = [threading.Thread(target=drain, args=(svc,)) for svc in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    bodies = [json.loads(c[2]) for c in gateway.calls]
    assert sorted(b["text"] for b in bodies) == sorted(f"结案 {n}" for n in range(20))  # each exactly once
    assert all(c[1]["Authorization"] == "Bearer gw-token" for c in gateway.calls)
    assert {b["to"] for b in bodies} == {f"1390000{n:04d}" for n in range(20)}
    assert sum(svc.stats.sent for svc in senders) == 20
    with engine.connect() as conn:
        states = conn.execute(text("SELECT state, attempts, count(*) FROM deliveries WHERE ticket_no LIKE 'CCX-%' "
                                   "GROUP BY 1, 2")).all()
    assert [tuple(r) for r in states] == [("delivered", 1, 20)]


# --- the notify consumer is watched like the intake workers ----------------------------------------------------

def test_the_notify_consumer_recovers_a_wedged_group_beats_and_a_crashed_one_is_told(settings, deps, engine, server):
    """Its own group wedged (streams.groups) is recovered by the consumer; then it beats, `yunguan status` lists
    it, and /readyz has no warning. Stopped cleanly, nothing is wrong; a consumer that vanished without stopping
    (its last heartbeat says it was consuming) is a warning in /readyz and a NOTIFY PROBLEM in `yunguan
    status`, while /readyz's own status is about intake alone."""
    from store import heartbeats
    from streams.status import notify_problems
    from tests.helpers import wedge_group

    base, _ = server
    group = f"{settings.topic_prefix}notify"
    deps.settings = deps.settings.replace(notify_group=group)
    wedge_group(settings.kafka_bootstrap, group, [deps.topics.ticket_events])
    service, stop = _run_notify(settings, deps)
    try:
        wait_for(lambda: service.guard.recoveries == 1, 60, what="the notify consumer to recover its group")

        def beating():
            beats, found = notify_problems(engine, deps.settings, datetime.now(UTC))
            return beats if beats and beats[0].partitions and not found else None
        beats = wait_for(beating, 30, what="a heartbeat owning partitions, with nothing wrong")
        assert beats[0].state == "consuming" and beats[0].group_id == group
        assert "notify" not in requests.get(f"{base}/readyz", timeout=10).json()["warnings"]
        out = _cli(settings, "status", "--json", extra={"notify_group": group})
        report = json.loads(out.stdout)
        assert [c["worker_id"] for c in report["notify"]["consumers"]] == [beats[0].worker_id]
        assert report["notify"]["problems"] == []
    finally:
        stop()
    assert notify_problems(engine, deps.settings, datetime.now(UTC))[1] == [], "a clean stop is no problem"

    now = datetime.now(UTC)
    crashed = heartbeats.Beat(
        worker_id="gone:4242:abcdef", group_id=group, host="gone", pid=4242, started_at=now - timedelta(minutes=5),
        beat_at=now - timedelta(seconds=deps.settings.stuck_after_s * 2), state="consuming", reason=None,
        partitions=[{"topic": deps.topics.ticket_events, "partition": 0, "position": 1, "end": 1, "lag": 0}],
        lag=0, assigned_at=now - timedelta(minutes=5), committed_at=None, stuck_since=None, messages=1,
        dead_letters=0)
    with engine.begin() as conn:
        heartbeats.record(conn, crashed)
    body = requests.get(f"{base}/readyz", timeout=10).json()
    codes = [p["code"] for p in body["warnings"]["notify"]]
    assert codes == ["worker_silent", "no_worker"], body
    assert "yunguan notify" in body["warnings"]["notify"][1]["text"]
    assert "notify" not in body["checks"], "the notify consumer is told, not a readiness check"
    out = _cli(settings, "status", extra={"notify_group": group, "stuck_after_s": deps.settings.stuck_after_s})
    assert "NOTIFY PROBLEM: notify consumer gone:4242:abcdef silent" in out.stderr, out.stderr


def test_events_that_cannot_be_read_planned_or_stored_are_dead_lettered_and_the_rest_goes_on(
        settings, deps, engine, receivers):
    """Whatever lands on tickets.events, notifications go on: an event that is not one, one with a field of
    the wrong shape, one the database refuses — each is dead-lettered with its reason, once; the good event
    beside them is delivered."""
    from kafka import KafkaProducer

    from streams.dlq import read_letters

    hook = receivers([200])
    hook_id, _ = _add_hook(settings, hook.url)
    now = datetime.now(UTC).isoformat()

    def event(**more) -> bytes:
        return json.dumps({"schema": "ticket-event/1", "ticket_no": "CC20261201-99999", "event": "dispatched",
                           "status": "dispatched", "version": 2, "at": now, **more}, ensure_ascii=False).encode()

    hostile = [b"\xff\xfe not json", b"[1, 2, 3]", event(at="2026-12-01T10:00:00"),  # no UTC offset
               event(assignee="not an object"), event(ticket_no="CC\u0000NUL")]
    good = event(ticket_no="CC20261201-00042", version=7)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for i, value in enumerate([*hostile, good]):
        producer.send(deps.topics.ticket_events, key=f"k{i}".encode(), value=value).get(10)
    producer.close()

    service, stop = _run_notify(settings, deps)
    try:
        wait_for(lambda: service.stats.dead_letter_count >= len(hostile), 60, what="the hostile events dead-lettered")
        delivered = wait_for(lambda: [d for d in _deliveries(engine, hook_id=hook_id) if d.state == "delivered"], 30,
                             what="the good event's webhook delivery")
    finally:
        stop()
    assert [d.ticket_no for d in delivered] == ["CC20261201-00042"]
    assert service.stats.dead_letter_count == len(hostile)
    reasons = [letter["reason"] for _, _, letter in read_letters(settings.kafka_bootstrap, deps.topics)
               if letter.get("topic") == deps.topics.ticket_events]
    assert len(reasons) == len(hostile) and all(r.startswith("notify: ") for r in reasons), reasons
    assert sum("not a ticket event" in r for r in reasons) == 3, reasons
    assert any("could not be planned" in r for r in reasons), reasons
    assert any("the database refused it" in r for r in reasons), reasons
