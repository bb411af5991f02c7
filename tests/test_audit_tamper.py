"""Tamper evidence that holds (issue 13): the application's role cannot rewrite history, and rewrites made
with the owner's rights after a signed checkpoint — a deleted last entry with its head reset, a rewritten
middle entry with every later hash recomputed, a deleted ticket — are reported by `yunguan audit verify`,
as is a forged checkpoint. Everything runs on the real PostgreSQL; tickets come in through the real intake
path (Worker.process) as the application role."""
from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from dispatch.audit import entry_hash
from store.audit import write_checkpoint
from store.db import make_engine
from store.locks import AUDIT_CHECKPOINT_LOCK, ESCALATION_LOCK
from store.loop import append_history, verify_history
from store.roles import APP_ROLE, app_url
from streams.rdkafka import Record
from yunguan.cli import main

NANGUAN = (125.4388, 43.7126)


@pytest.fixture
def audit_settings(settings, tmp_path, monkeypatch):
    """This test's own checkpoint log and key, also in the environment for `main([...])`."""
    s = settings.replace(state_dir=str(tmp_path), audit_key="audit-" + uuid.uuid4().hex, audit_checkpoints="")
    for key, value in {"DATABASE_URL": s.database_url, "STATE_DIR": s.state_dir, "AUDIT_KEY": s.audit_key,
                       "AUDIT_CHECKPOINTS": "", "KAFKA_BOOTSTRAP": s.kafka_bootstrap,
                       "TOPIC_PREFIX": s.topic_prefix}.items():
        monkeypatch.setenv(f"YUNGUAN_{key}", value)
    return s


@pytest.fixture
def tickets(deps, audit_settings):
    """Three tickets opened by the intake worker, each with three comments after its opening entries, all
    written through the application role's engine."""
    from yunguan.wiring import build_worker

    deps.settings = audit_settings
    worker = build_worker(deps)
    reported = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    worker.process([Record(deps.topics.report("grid"), 0, i, f"tamper-{i}".encode(), json.dumps({
        "schema": "report/1", "report_id": f"tamper-{i}", "channel": "grid", "reported_at": reported,
        "category": "020102", "description": "垃圾满溢",
        "location": {"lon": NANGUAN[0] + 0.012 * i, "lat": NANGUAN[1], "crs": "wgs84"}}).encode()) for i in range(3)])
    with deps.engine.connect() as conn:
        numbers = list(conn.execute(text("SELECT ticket_no FROM tickets ORDER BY id")).scalars())
    assert len(numbers) == 3, numbers
    for no in numbers:
        for i in range(3):
            _comment(deps.engine, no, f"备注 {i}")
    return numbers


def _comment(engine, ticket_no: str, note: str) -> None:
    with engine.begin() as conn:
        tid, head, status = conn.execute(text("SELECT id, history_head, status FROM tickets WHERE ticket_no = :n "
                                              "FOR NO KEY UPDATE"), {"n": ticket_no}).one()
        new = append_history(conn, tid, ticket_no, head, at=datetime.now(UTC), actor="duty", role="operator",
                             party=None, action="comment", from_status=status, to_status=status, note=note, data=None)
        conn.execute(text("UPDATE tickets SET history_head = :h WHERE id = :id"), {"h": new, "id": tid})


def _entries(conn, ticket_no: str):
    return conn.execute(text(
        "SELECT h.* FROM ticket_history h JOIN tickets t ON t.id = h.ticket_id WHERE t.ticket_no = :n ORDER BY h.id"),
        {"n": ticket_no}).mappings().all()


def _verify(capsys, *extra: str) -> tuple[int, list[dict]]:
    capsys.readouterr()
    code = main(["audit", "verify", *extra])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


def _checkpoint(capsys) -> dict:
    capsys.readouterr()
    assert main(["audit", "checkpoint"]) == 0
    return json.loads(capsys.readouterr().out)


def _chains_alone_pass(engine) -> None:
    """The attack is a consistent one: the hash chains by themselves (the old `audit verify`) see nothing."""
    with engine.connect() as conn:
        assert verify_history(conn) == []


# ---------------------------------------------------------------- the application role


def test_the_application_connects_as_a_role_that_cannot_rewrite_history(deps, tickets, engine):
    url = make_url(str(deps.engine.url))
    assert url.username == APP_ROLE
    with deps.engine.connect() as conn:
        who = conn.execute(text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")).one()
    assert who == (APP_ROLE, False)
    forbidden = [
        "UPDATE ticket_history SET note = 'nothing happened'",
        "DELETE FROM ticket_history",
        "TRUNCATE ticket_history",
        "DELETE FROM tickets",
        "DELETE FROM reports",
        "UPDATE alembic_version SET version_num = version_num",
    ]
    for sql in forbidden:
        with pytest.raises(ProgrammingError, match="permission denied"), deps.engine.begin() as conn:
            conn.execute(text(sql))
    with engine.connect() as conn:  # nothing went through
        assert conn.execute(text("SELECT count(*) FROM ticket_history")).scalar_one() >= 12
        assert conn.execute(text("SELECT count(*) FROM ticket_history WHERE note = 'nothing happened'")).scalar() == 0
    # ...while the owner (migrations, the tests' TRUNCATE) keeps every right
    with engine.begin() as conn:
        conn.execute(text("UPDATE ticket_history SET note = note WHERE false"))


def test_runtime_url_is_the_app_role_with_a_password_derived_one_way():
    owner = "postgresql+psycopg://postgres:s3cret@db.example:5433/yunguan"
    derived = make_url(app_url(owner))
    assert (derived.username, derived.host, derived.port, derived.database) == (APP_ROLE, "db.example", 5433, "yunguan")
    assert derived.password and derived.password != "s3cret"
    assert app_url(owner) == app_url(owner), "every process derives the same password"
    assert make_url(app_url("postgresql+psycopg://postgres@127.0.0.1/yunguan")).password is None
    assert app_url(owner, "postgresql+psycopg://clerk:pw@db/yunguan") == "postgresql+psycopg://clerk:pw@db/yunguan"


def test_another_login_name_becomes_a_member_of_the_app_role(settings, tickets, engine):
    from yunguan.services import ensure_app_login

    name = f"yunguan_app_t{uuid.uuid4().hex[:8]}"
    login = make_url(settings.database_url).set(username=name, password="pw-" + name)
    said: list[str] = []
    ensure_app_login(settings.database_url, login.render_as_string(hide_password=False), said.append)
    try:
        assert "cannot" not in " ".join(said) and name in said[-1]
        other = make_engine(login.render_as_string(hide_password=False))
        try:
            with other.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM tickets")).scalar_one() == 3
            with pytest.raises(ProgrammingError, match="permission denied"), other.begin() as conn:
                conn.execute(text("DELETE FROM ticket_history"))
        finally:
            other.dispose()
        said.clear()
        ensure_app_login(settings.database_url, settings.database_url, said.append)
        assert "WARNING" in said[0], "the owner as runtime role is refused with a warning"
    finally:
        with psycopg.connect(make_url(settings.database_url).set(drivername="postgresql")
                             .render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


# ---------------------------------------------------------------- checkpoints and verify


def test_an_untouched_history_passes_and_new_entries_after_a_checkpoint_are_fine(audit_settings, tickets, deps,
                                                                                 capsys):
    assert _verify(capsys) == (0, []), "no checkpoint yet: the chains alone"
    first = _checkpoint(capsys)
    assert (first["seq"], first["tickets"], first["changed"]) == (1, 3, 3)
    assert first["entries"] >= 12
    assert _verify(capsys) == (0, [])
    _comment(deps.engine, tickets[1], "新的备注")
    assert _verify(capsys) == (0, [])
    second = _checkpoint(capsys)
    assert (second["seq"], second["changed"], second["entries"]) == (2, 1, first["entries"] + 1)
    assert _verify(capsys) == (0, [])
    lines = audit_settings.audit_checkpoints_path.read_text().splitlines()
    assert len(lines) == 2 and list(json.loads(lines[1])["heads"]) == [tickets[1]]


def test_deleting_the_last_entry_and_resetting_the_head_is_reported(audit_settings, tickets, engine, capsys,
                                                                   tmp_path):
    _checkpoint(capsys)
    off_machine = tmp_path / "copy.jsonl"
    shutil.copy(audit_settings.audit_checkpoints_path, off_machine)
    victim = tickets[0]
    with engine.begin() as conn:  # as the owner: drop the last entry, point the ticket at the one before
        last = _entries(conn, victim)[-1]
        conn.execute(text("DELETE FROM ticket_history WHERE id = :id"), {"id": last["id"]})
        conn.execute(text("UPDATE tickets SET history_head = :h WHERE ticket_no = :n"),
                     {"h": last["prev_hash"], "n": victim})
    _chains_alone_pass(engine)
    code, findings = _verify(capsys)
    assert code == 1
    assert [f["ticket_no"] for f in findings] == [victim] and "entries deleted" in findings[0]["reason"]
    # The intruder also empties the local log: the copy kept elsewhere still tells.
    audit_settings.audit_checkpoints_path.write_text("")
    assert _verify(capsys)[0] == 0
    code, findings = _verify(capsys, "--checkpoints", str(off_machine))
    assert code == 1 and [f["ticket_no"] for f in findings] == [victim]


def test_a_rewritten_middle_entry_with_later_hashes_recomputed_is_reported(audit_settings, tickets, engine, capsys):
    _checkpoint(capsys)
    victim = tickets[1]
    with engine.begin() as conn:  # as the owner: rewrite entry 2, recompute every later hash and the head
        rows = _entries(conn, victim)
        prev = rows[0]["hash"]
        for i, e in enumerate(rows[1:], start=1):
            note = "无需处置" if i == 1 else e["note"]
            new = entry_hash(prev, victim, e["at"], e["actor"], e["role"], e["party"], e["action"], e["from_status"],
                             e["to_status"], note, e["data"])
            conn.execute(text("UPDATE ticket_history SET note = :note, prev_hash = :p, hash = :h WHERE id = :id"),
                         {"note": note, "p": prev, "h": new, "id": e["id"]})
            prev = new
        conn.execute(text("UPDATE tickets SET history_head = :h WHERE ticket_no = :n"), {"h": prev, "n": victim})
    _chains_alone_pass(engine)
    code, findings = _verify(capsys)
    assert code == 1
    assert [f["ticket_no"] for f in findings] == [victim] and "rewritten" in findings[0]["reason"]


def test_a_deleted_ticket_is_reported_even_after_a_later_checkpoint(audit_settings, tickets, engine, capsys):
    _checkpoint(capsys)
    victim = tickets[2]
    with engine.begin() as conn:  # as the owner: the ticket, its history, its reports and events vanish
        tid = conn.execute(text("SELECT id FROM tickets WHERE ticket_no = :n"), {"n": victim}).scalar_one()
        conn.execute(text("DELETE FROM ticket_history WHERE ticket_id = :t"), {"t": tid})
        conn.execute(text("DELETE FROM reports WHERE ticket_id = :t"), {"t": tid})
        conn.execute(text("DELETE FROM outbox WHERE key = :n"), {"n": victim})
        conn.execute(text("DELETE FROM tickets WHERE id = :t"), {"t": tid})
    _chains_alone_pass(engine)
    code, findings = _verify(capsys)
    assert code == 1
    assert [f["ticket_no"] for f in findings] == [victim] and "deleted ticket" in findings[0]["reason"]
    _checkpoint(capsys)  # a checkpoint taken afterwards does not launder it
    code, findings = _verify(capsys)
    assert code == 1 and [f["ticket_no"] for f in findings] == [victim]


def test_forged_altered_or_removed_checkpoints_are_reported(audit_settings, tickets, deps, capsys):
    _checkpoint(capsys)
    _comment(deps.engine, tickets[0], "再备注")
    _checkpoint(capsys)
    _comment(deps.engine, tickets[0], "三备注")
    _checkpoint(capsys)
    path = audit_settings.audit_checkpoints_path
    good = path.read_text().splitlines()
    assert _verify(capsys) == (0, [])

    forged = json.loads(good[-1])  # claims another head without the key
    forged["heads"][tickets[0]][1] = "0" * 64
    path.write_text("\n".join([*good[:-1], json.dumps(forged)]) + "\n")
    code, findings = _verify(capsys)
    assert code == 1 and any("signature does not match" in f["reason"] and "line 3" in f["reason"] for f in findings)

    path.write_text("\n".join([good[0], good[2]]) + "\n")  # the middle checkpoint removed
    code, findings = _verify(capsys)
    assert code == 1 and any("does not follow" in f["reason"] for f in findings)

    path.write_text("\n".join([*good, "{not json"]) + "\n")
    code, findings = _verify(capsys)
    assert code == 1 and any("line 4" in f["reason"] for f in findings)


# ---------------------------------------------------------------- the worker's periodic checkpoint


def test_the_worker_writes_checkpoints_one_at_a_time_under_its_own_lock(audit_settings, tickets, deps, engine):
    from yunguan.wiring import build_worker

    worker = build_worker(deps)
    worker.settings = audit_settings.replace(audit_checkpoint_every_s=3600)
    path = audit_settings.audit_checkpoints_path
    worker.checkpoint_if_due()
    worker.checkpoint_if_due()  # not due again for an hour
    other = build_worker(deps)
    other.settings = worker.settings
    other.checkpoint_if_due()  # a second worker starting now: the log's latest checkpoint is recent enough
    assert len(path.read_text().splitlines()) == 1
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_CHECKPOINT_LOCK})
        assert write_checkpoint(deps.engine, audit_settings, datetime.now(UTC)) is None, "another writer holds it"
    with engine.begin() as conn:  # the deadline pass's lock does not stop a checkpoint
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ESCALATION_LOCK})
        cp = write_checkpoint(deps.engine, audit_settings, datetime.now(UTC))
    assert cp is not None and cp.seq == 2 and cp.heads == {}, "nothing changed since the worker's checkpoint"
