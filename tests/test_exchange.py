"""`yunguan exchange push` (contract §9, docs/exchange.md) against a real local HTTP receiver that checks the
signature and the timestamp, fails now and then (HTTP 500, a reply slower than the client waits, a connection
dropped after reading the body), keeps each case once by its idempotency key, and can be killed mid-run.
The tickets come from the simulated closed loop (yunguan.history_sim, through the application layer)."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import text

from application.act import act, act_in
from dispatch.actors import Actor
from dispatch.lifecycle import Command
from yunguan.cli import main
from yunguan.history_sim import HistoryRun, simulate_history

SECRET = "exchange-test-secret"
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "schemas" / "exchange-v1.json").read_text("utf-8"))
END = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
OPERATOR = Actor("exchange-duty", "operator", supervisor=True)


class Receiver:
    """A province platform's endpoint: verifies X-Yunguan-Signature over "<timestamp>.<body>" (and refuses a
    timestamp more than 5 minutes away), stores cases by idempotency key, echoes the batch's cursor.
    `faults(n)` decides the n-th request's fate: None (ok), "500", "slow" (stored, answered after the client
    gave up) or "drop" (the body read, the connection closed without an answer). After `die_after` acknowledged
    batches the server stops listening, as a process that was killed."""

    def __init__(self, faults=lambda n: None, die_after: int | None = None, slow_s: float = 3.0):
        self.faults, self.die_after, self.slow_s = faults, die_after, slow_s
        self.lock = threading.Lock()
        self.requests = 0
        self.bad_signatures = 0
        self.bodies: list[bytes] = []
        self.cases: dict[str, dict] = {}  # the de-duplicated store
        self.received = 0  # cases stored or dropped as duplicates
        self.acked: list[str] = []  # cursors acknowledged
        self.release = threading.Event()
        self.dead = False
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                receiver.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/exchange/cases?token=abc"

    def stop(self) -> None:
        self.release.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def _reply(self, handler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        try:
            handler.wfile.write(data)
        except BrokenPipeError:
            pass  # the client stopped waiting (the "slow" fault)

    def handle(self, handler) -> None:
        if self.dead:
            handler.close_connection = True
            return
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        with self.lock:
            self.requests += 1
            n = self.requests
            self.bodies.append(body)
        stamp = handler.headers.get("X-Yunguan-Timestamp", "")
        expected = "sha256=" + hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
        if not (fresh and hmac.compare_digest(expected, handler.headers.get("X-Yunguan-Signature", ""))):
            with self.lock:
                self.bad_signatures += 1
            return self._reply(handler, 401, {"error": "bad signature"})
        fault = self.faults(n)
        if fault == "500":
            return self._reply(handler, 500, {"error": "try later"})
        if fault == "drop":
            handler.close_connection = True
            return None  # read, not answered: the client sees the connection closed
        batch = json.loads(body)
        with self.lock:
            for case in batch["cases"]:
                self.received += 1
                self.cases.setdefault(case["idempotency_key"], case)
        if fault == "slow":
            self.release.wait(self.slow_s)  # stored, but answered after the client stopped waiting
        with self.lock:
            self.acked.append(batch["cursor"])
            # Dead from this answer on: a request that still reaches the closing socket is cut off unread.
            self.dead = self.die_after is not None and len(self.acked) >= self.die_after
        self._reply(handler, 200, {"cursor": batch["cursor"]})
        if self.dead:
            threading.Thread(target=self.stop, daemon=True).start()

    def latest(self) -> dict[str, dict]:
        """The newest version of each case the receiver kept."""
        out: dict[str, dict] = {}
        for case in self.cases.values():
            if case["case_no"] not in out or case["version"] > out[case["case_no"]]["version"]:
                out[case["case_no"]] = case
        return out


@pytest.fixture
def tickets(deps):
    """A day of simulated traffic through the whole loop; the exchange's own tables start empty."""
    with deps.engine.begin() as conn:
        conn.execute(text("DELETE FROM exchange_pushes"))
        conn.execute(text("DELETE FROM exchange_cursor"))
    simulate_history(deps.engine, deps.settings, deps.topics, HistoryRun(1, 11, 60, end=END))
    return _versions(deps)


def _versions(deps) -> dict[str, int]:
    with deps.engine.connect() as conn:
        return dict(conn.execute(text("SELECT ticket_no, version FROM tickets")).all())


def _cli(monkeypatch, capsys, deps, *args, url: str = "", **settings) -> tuple[int, list[str], str]:
    env = {"DATABASE_URL": deps.settings.database_url, "EXCHANGE_URL": url, "EXCHANGE_SECRET": SECRET,
           "EXCHANGE_BATCH": "8", "EXCHANGE_TIMEOUT_S": "2.0", "EXCHANGE_ATTEMPTS": "4", "EXCHANGE_BACKOFF_S": "0.05",
           "SECRET_KEY": deps.settings.secret_key, "STATE_DIR": deps.settings.state_dir,
           **{k.upper(): str(v) for k, v in settings.items()}}
    for key, value in env.items():
        monkeypatch.setenv(f"YUNGUAN_{key}", value)
    capsys.readouterr()
    code = main(["exchange", *args])
    out, err = capsys.readouterr()
    return code, [line for line in out.splitlines() if line.strip()], err


def _push(monkeypatch, capsys, deps, url, *args, **settings) -> tuple[int, dict, str]:
    code, lines, err = _cli(monkeypatch, capsys, deps, "push", *args, url=url, **settings)
    return code, json.loads(lines[-1]) if lines else {}, err


def _stored_cursor(deps) -> str | None:
    with deps.engine.connect() as conn:
        row = conn.execute(text("SELECT xid, ticket_id FROM exchange_cursor")).first()
    return f"{row.xid}.{row.ticket_id}" if row else None


def _personal_data(deps) -> set[str]:
    with deps.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT envelope #>> '{reporter,phone}', envelope #>> '{reporter,email}', envelope #>> '{reporter,name}' "
            "FROM reports")).all()
    return {v for r in rows for v in r if v and v not in ("市民",)}  # "市民" is a role word, not a name


def _comment(deps, ticket_no: str, note: str) -> None:
    version = _versions(deps)[ticket_no]
    act(deps.engine, ticket_no, Command("comment", version, note=note), OPERATOR, datetime.now(UTC), deps.loop()())


def test_every_case_arrives_exactly_once_through_a_flaky_receiver(deps, tickets, monkeypatch, capsys):
    assert len(tickets) > 30
    # Every 3rd request fails with 500; the 2nd is stored but answered too late; the 5th is read and dropped.
    faults = {2: "slow", 5: "drop"}
    receiver = Receiver(lambda n: faults.get(n) or ("500" if n % 3 == 0 else None))
    url = receiver.start()
    try:
        code, summary, err = _push(monkeypatch, capsys, deps, url)
        assert code == 0, err
        assert summary["sent"] == len(tickets) and summary["batches"] == -(-len(tickets) // 8)
        assert set(summary) == {"sent", "batches", "cursor", "seconds", "compacted"}
        # The log keeps each ticket's latest change only (the simulation changed most tickets many times);
        # what follows (a second push, --since 0) is sent from the compacted log.
        with deps.engine.connect() as conn:
            rows, distinct = conn.execute(text(
                "SELECT count(*), count(DISTINCT ticket_id) FROM exchange_changes")).one()
        assert summary["compacted"] > 0 and rows == distinct == len(tickets)
        assert summary["cursor"] == _stored_cursor(deps) == receiver.acked[-1]

        # Exactly once, at the version the database holds; retries happened and were told apart by key.
        assert {no: c["version"] for no, c in receiver.latest().items()} == tickets
        assert len(receiver.cases) == len(tickets), "a case stored twice under two keys"
        assert receiver.received > len(tickets), "the slow reply should have made one batch arrive twice"
        assert receiver.bad_signatures == 0
        with deps.engine.connect() as conn:
            attempts = conn.execute(text("SELECT ok, status_code, error, endpoint FROM exchange_pushes")).all()
        failed = [a for a in attempts if not a.ok]
        assert {a.status_code for a in failed} >= {500, None} and len(failed) >= 3
        assert any("timed out" in (a.error or "") for a in failed)
        assert all(a.endpoint.endswith("/exchange/cases") for a in attempts), "the endpoint's token is not recorded"

        # The schema: every body validates; the cases say what the national practice asks; no personal data.
        secrets_ = _personal_data(deps)
        assert secrets_, "the simulation left reporters' phones to check against"
        for body in receiver.bodies:
            jsonschema.validate(json.loads(body), SCHEMA)
            raw = body.decode("utf-8")
            assert not [s for s in secrets_ if s in raw], "personal data left in an exchange body"
        latest = receiver.latest()
        closed = [c for c in latest.values() if c["status"]["code"] == "closed"]
        assert closed, "a day of traffic closes some cases"
        for case in closed:
            assert case["result"] == {"code": "closed", "name": "结案"}
            times = case["times"]
            assert times["reported"] <= times["registered"] <= times["dispatched"] <= times["handled"] \
                <= times["closed"], times
            assert case["area"]["district"]["code"] and len(case["area"]["street"]["code"]) == 9
            assert case["category"]["minor"]["code"].startswith(case["category"]["major"]["code"])
            assert case["type"]["name"] in ("部件", "事件") and case["unit"] is None or case["unit"]["code"]
        with deps.engine.connect() as conn:
            db_closed = conn.execute(text("SELECT ticket_no, closed_at FROM tickets WHERE status = 'closed'")).all()
        for no, closed_at in db_closed:
            assert datetime.fromisoformat(latest[no]["times"]["closed"]) == closed_at.replace(microsecond=0)
        assert {c["source"]["code"] for c in latest.values()} >= {"grid", "public"}

        # Changes after the push go with the next one; a case changed twice goes once, at its last version.
        first, second = sorted(tickets)[:2]
        _comment(deps, first, "催办一次")
        _comment(deps, first, "催办两次")
        _comment(deps, second, "回访")
        before = receiver.received
        code, summary, err = _push(monkeypatch, capsys, deps, url)
        assert code == 0, err
        assert summary["sent"] == 2 and summary["batches"] == 1
        assert receiver.received - before == 2
        assert receiver.latest()[first]["version"] == tickets[first] + 2
        assert receiver.latest()[second]["version"] == tickets[second] + 1

        # Nothing changed: nothing sent, the cursor stays.
        cursor = _stored_cursor(deps)
        code, summary, _ = _push(monkeypatch, capsys, deps, url)
        assert (code, summary["sent"], summary["cursor"], _stored_cursor(deps)) == (0, 0, cursor, cursor)

        # --since 0 sends every case again; the receiver keeps each once (same content, same key).
        kept = len(receiver.cases)
        code, summary, err = _push(monkeypatch, capsys, deps, url, "--since", "0")
        assert code == 0, err
        assert summary["sent"] == len(tickets) and len(receiver.cases) == kept
        assert _stored_cursor(deps) == summary["cursor"] == cursor

        # The status: the cursor, nothing waiting, the last success and the last failure.
        code, lines, _ = _cli(monkeypatch, capsys, deps, "status", url=url)
        st = json.loads(lines[-1])
        assert code == 0 and st["cursor"] == cursor and st["pending"] == 0
        assert st["last_success"]["ok"] and st["last_failure"]["status_code"] in (500, None)
        with deps.engine.connect() as conn:
            assert st["last_24h"] == dict(conn.execute(text(
                "SELECT count(*) FILTER (WHERE ok) AS ok, count(*) FILTER (WHERE NOT ok) AS failed, "
                "sum(cases) FILTER (WHERE ok) AS cases FROM exchange_pushes")).mappings().one())
        assert st["last_24h"]["failed"] > len(failed)  # the later runs met the every-third-request 500s too
    finally:
        receiver.stop()


def test_the_cursor_moves_only_after_acknowledgement(deps, tickets, monkeypatch, capsys):
    receiver = Receiver(die_after=2)
    url = receiver.start()
    try:
        code, summary, err = _push(monkeypatch, capsys, deps, url, EXCHANGE_ATTEMPTS=3)
        assert code == 1
        assert "did not acknowledge" in err and "the next push resumes" in err
        assert summary["sent"] == 16 and summary["batches"] == 2
        assert _stored_cursor(deps) == receiver.acked[-1] == summary["cursor"]
        with deps.engine.connect() as conn:
            refused = conn.execute(text("SELECT count(*) FROM exchange_pushes WHERE NOT ok")).scalar_one()
        assert refused == 3, "each attempt on the dead endpoint is recorded"
        assert len(receiver.cases) == 16

        # The receiver comes back (its store survived); the next run sends the rest, nothing twice.
        receiver.die_after, receiver.dead = None, False
        url = receiver.start()
        code, summary, err = _push(monkeypatch, capsys, deps, url)
        assert code == 0, err
        assert summary["sent"] == len(tickets) - 16
        assert {no: c["version"] for no, c in receiver.latest().items()} == tickets
        assert receiver.received == len(tickets) == len(receiver.cases)

        # The receiver's check is real: a body signed with another secret is refused and counted.
        body = b'{"schema":"exchange/1"}'
        from application.exchange import signed_headers
        from streams.exchange_http import HttpReceiver

        reply = HttpReceiver(url, 5).post(body, signed_headers("not-the-secret", body, int(time.time()), "x"))
        assert reply.status == 401 and receiver.bad_signatures == 1
        stale = signed_headers(SECRET, body, int(time.time()) - 3600, "x")  # a replay an hour later
        assert HttpReceiver(url, 5).post(body, stale).status == 401 and receiver.bad_signatures == 2
    finally:
        receiver.stop()


def test_a_change_committed_late_is_not_lost(deps, tickets, monkeypatch, capsys):
    """A transaction that began before a push and commits after it: its change must come with a later push,
    even though transactions that began after it committed first and were sent."""
    receiver = Receiver()
    url = receiver.start()
    early, late = sorted(tickets)[:2]
    try:
        with deps.engine.connect() as slow:
            tx = slow.begin()
            act_in(slow, early, Command("comment", tickets[early], note="慢事务"), OPERATOR, datetime.now(UTC),
                   deps.loop()())
            _comment(deps, late, "后来的事务先提交")  # a later transaction, committed first
            code, summary, err = _push(monkeypatch, capsys, deps, url)
            assert code == 0, err
            # The open transaction's change is invisible, and the position stops before it: what committed after
            # it began is not counted as sent either (the case itself went, as it is now: the same key again).
            assert receiver.latest()[early]["version"] == tickets[early]
            assert receiver.latest()[late]["version"] == tickets[late] + 1
            assert summary["sent"] == len(tickets)
            tx.commit()
        code, summary, err = _push(monkeypatch, capsys, deps, url)
        assert code == 0, err
        assert summary["sent"] == 2, "the late change, and the one that committed after it began"
        assert receiver.latest()[early]["version"] == tickets[early] + 1
        assert receiver.latest()[late]["version"] == tickets[late] + 1

        # An open transaction in another database of the same server (transaction ids are the cluster's) does
        # not hold the push back: pg_stat_activity places it elsewhere.
        from store.db import make_engine, with_database

        elsewhere = make_engine(with_database(deps.settings.database_url, "postgres"))
        try:
            with elsewhere.connect() as other:
                other.begin()
                other.execute(text("SELECT pg_current_xact_id()"))  # an id, as a write would take
                _comment(deps, late, "另一个库的长事务不挡路")
                code, summary, err = _push(monkeypatch, capsys, deps, url)
                assert code == 0 and summary["sent"] == 1, err
                assert receiver.latest()[late]["version"] == tickets[late] + 2
                other.rollback()
        finally:
            elsewhere.dispose()
    finally:
        receiver.stop()


def test_usage_errors_and_the_dry_run(deps, tickets, monkeypatch, capsys):
    code, _, err = _cli(monkeypatch, capsys, deps, "push")
    assert code == 2 and "no endpoint configured" in err
    for bad in ("abc", "1.2.3", "-4", "99999999999999999999"):
        code, _, err = _cli(monkeypatch, capsys, deps, "push", "--since", bad, url="http://127.0.0.1:9/x")
        assert code == 2 and "--since" in err, bad
    code, _, err = _cli(monkeypatch, capsys, deps, "push", "--since", str(2 ** 62), url="http://127.0.0.1:9/x")
    assert code == 2 and "ahead of the database" in err
    code, _, err = _cli(monkeypatch, capsys, deps, "push", "--limit", "0", url="http://127.0.0.1:9/x")
    assert code == 2 and "--limit" in err

    # A dry run prints the cases and the summary, and sends and records nothing (no endpoint needed).
    code, lines, err = _cli(monkeypatch, capsys, deps, "push", "--dry-run", "--limit", "5")
    assert code == 0, err
    cases, summary = [json.loads(x) for x in lines[:-1]], json.loads(lines[-1])
    assert len(cases) == 5 and summary["sent"] == 5 and summary["dry_run"] is True and summary["batches"] == 1
    for case in cases:
        jsonschema.validate({"schema": "exchange/1", "batch": "0.0-1.1", "cursor": "1.1", "count": 1,
                             "cases": [case]}, SCHEMA)
    assert _stored_cursor(deps) is None
    with deps.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM exchange_pushes")).scalar_one() == 0

    # --limit: at most N cases this run; the next run goes on from there.
    receiver = Receiver()
    url = receiver.start()
    try:
        code, summary, err = _push(monkeypatch, capsys, deps, url, "--limit", "10")
        assert (code, summary["sent"], summary["batches"]) == (0, 10, 2), err
        code, summary, err = _push(monkeypatch, capsys, deps, url)
        assert code == 0 and summary["sent"] == len(tickets) - 10
        assert len(receiver.cases) == len(tickets) == receiver.received
    finally:
        receiver.stop()

    # The endpoint refused outright (nothing listens): exit 1, a clear message, the cursor where it was.
    cursor = _stored_cursor(deps)
    _comment(deps, sorted(tickets)[0], "再推一次")
    code, summary, err = _push(monkeypatch, capsys, deps, "http://127.0.0.1:9/exchange", EXCHANGE_ATTEMPTS=2)
    assert code == 1 and "did not acknowledge" in err and "Connection refused" in err
    assert _stored_cursor(deps) == cursor


def test_a_2xx_without_the_echo_is_not_an_acknowledgement(deps, tickets, monkeypatch, capsys):
    """A portal's or proxy's 200 page is not a receiver that stored the cases."""
    class Portal(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            page = b"<html>welcome</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, summary, err = _push(monkeypatch, capsys, deps, f"http://127.0.0.1:{server.server_address[1]}/",
                                   EXCHANGE_ATTEMPTS=2)
        assert code == 1 and "without the batch's cursor" in err
        assert summary["sent"] == 0 and _stored_cursor(deps) is None
    finally:
        server.shutdown()
        server.server_close()


def test_a_case_masks_contacts_in_free_text_and_names_how_it_ended():
    """The pure mapping: phone numbers and e-mail addresses written into the description or the address are
    masked; a duplicate merged into another case ends as 合并 with the target's number; the key follows the
    content (the deadline light changes it without a new version)."""
    from zoneinfo import ZoneInfo

    from application.exchange import case_object, content_hash

    at = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    row = {"ticket_no": "CC20261127-00009", "status": "rejected", "version": 4, "updated_at": at,
           "description": "井盖丢了，联系我 13912345678 或 zhang.san@example.cn", "address": "人民大街 5 号 (电话 15800001111)",
           "merged_into": "CC20261127-00002", "channel": "public", "category": "010301", "category_kind": "component",
           "category_name": "污水井盖", "major_code": "0103", "major_name": "公用设施", "area": {}, "reported_at": at,
           "rejected_at": at, "deadline_state": None}
    case = case_object(row, ZoneInfo("Asia/Shanghai"))
    assert "13912345678" not in json.dumps(case, ensure_ascii=False) and "zhang.san" not in case["description"]
    assert "139****5678" in case["description"] and "z***@example.cn" in case["description"]
    assert "158****1111" in case["address"]
    assert case["result"] == {"code": "merged", "name": "合并"} and case["merged_into"] == "CC20261127-00002"
    assert case["times"]["rejected"] == "2026-11-27T10:00:00+08:00"
    assert case["content_hash"] == content_hash(case) and case["idempotency_key"].startswith("CC20261127-00009:v4:")
    jsonschema.validate({"schema": "exchange/1", "batch": "0.0-1.1", "cursor": "1.1", "count": 1, "cases": [case]},
                        SCHEMA)
    red = case_object({**row, "deadline_state": "red"}, ZoneInfo("Asia/Shanghai"))
    assert red["overdue"] and red["version"] == case["version"]
    assert red["idempotency_key"] != case["idempotency_key"], "new content under the same version needs a new key"
    assert case_object(dict(row), ZoneInfo("Asia/Shanghai")) == case, "the same content, the same key"


def test_two_pushes_at_once_one_stops_at_the_cursor(deps, tickets):
    """A second push that moves the cursor while the first is sending: the first stops at its check (exit 1 in
    the CLI) instead of moving the cursor back; the receiver still keeps each case once."""
    from application.exchange import ExchangeConfig, ExchangeFailed, push
    from streams.exchange_http import HttpReceiver

    receiver = Receiver()
    url = receiver.start()
    config = ExchangeConfig(url, SECRET, batch=10, attempts=2, backoff_s=0.01)

    class Overtaken(HttpReceiver):
        """The first push's connection; before its first POST leaves, another push runs to the end."""

        def post(self, body, headers):
            if not hasattr(self, "overtaken"):
                self.overtaken = push(deps.engine, HttpReceiver(url, 5), config)
            return super().post(body, headers)

    first = Overtaken(url, 5)
    try:
        with pytest.raises(ExchangeFailed, match="another push moved the cursor") as failed:
            push(deps.engine, first, config)
        assert first.overtaken.sent == len(tickets)
        assert failed.value.result.sent == 0
        assert _stored_cursor(deps) == str(first.overtaken.cursor), "the cursor was not moved back"
        assert len(receiver.cases) == len(tickets) and receiver.received == len(tickets) + 10
    finally:
        receiver.stop()


def test_compaction_reads_only_what_changed_since_its_mark_and_ends_as_a_full_one(deps, tickets):
    """store.exchange.compact keeps a mark (exchange_cursor.compacted_below) and reads only the changes after
    it; step by step it leaves exactly what compacting the whole log would (each ticket's latest change
    below the horizon, and every change at or above it). Made-up transaction ids, rolled back."""
    from store.exchange import compact

    full = ("SELECT xid, ticket_id FROM exchange_changes c WHERE c.xid >= :below OR NOT EXISTS (SELECT 1 FROM "
            "exchange_changes l WHERE l.ticket_id = c.ticket_id AND l.xid > c.xid AND l.xid < :below) "
            "ORDER BY xid, ticket_id")
    with deps.engine.connect() as conn, conn.begin() as txn:
        a, b = conn.execute(text("SELECT id FROM tickets ORDER BY id LIMIT 2")).scalars().all()
        conn.execute(text("DELETE FROM exchange_changes"))
        conn.execute(text("INSERT INTO exchange_cursor (id, xid, ticket_id) VALUES (1, 0, 0)"))

        def add(*rows):
            for xid, ticket in rows:
                conn.execute(text("INSERT INTO exchange_changes (xid, ticket_id) VALUES (:x, :t)"),
                             {"x": xid, "t": ticket})

        def rows():
            return [tuple(r) for r in conn.execute(text("SELECT xid, ticket_id FROM exchange_changes "
                                                        "ORDER BY xid, ticket_id"))]

        def expected(below):
            return [tuple(r) for r in conn.execute(text(full), {"below": below})]

        add((10, a), (20, a), (30, b), (40, a))
        want = expected(35)
        assert compact(conn, 35) == 1 and rows() == want == [(20, a), (30, b), (40, a)]
        add((50, b), (60, b))
        want = expected(55)
        assert compact(conn, 55) == 2 and rows() == want == [(40, a), (50, b), (60, b)]
        assert compact(conn, 55) == 0, "nothing new below the mark: nothing read, nothing dropped"
        assert compact(conn, 100) == 1 and rows() == [(40, a), (60, b)]
        assert conn.execute(text("SELECT compacted_below FROM exchange_cursor")).scalar() == 100
        txn.rollback()
