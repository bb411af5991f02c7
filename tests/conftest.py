"""Fixtures over the real services: a test database with PostGIS, a private Tansu broker,
per-test topics with unique names, a running web server and worker when a test asks for them."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from config import load_settings
from store.db import make_engine, with_database
from store.migrate import upgrade
from streams.topics import Topics, create_topics, delete_topics
from tests.helpers import free_port, wait_for
from yunguan.demo import load_demo_data
from yunguan.services import drop_database, ensure_broker, ensure_postgres, stop_broker

DATA_TABLES = ("outbox", "ticket_history", "reports", "tickets", "ticket_day_sequence", "users", "intake_log")


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="session")
def broker():
    """A private Tansu on a free port (or YUNGUAN_TEST_KAFKA_BOOTSTRAP to test against another broker)."""
    external = os.environ.get("YUNGUAN_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    state = Path(tempfile.mkdtemp(prefix="yunguan-test-broker-"))
    bootstrap = f"127.0.0.1:{free_port()}"
    ensure_broker(bootstrap, state, _quiet)
    try:
        yield bootstrap
    finally:
        stop_broker(state, _quiet)
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def base_settings(broker):
    # No history checkpoints from test workers (in-process or subprocesses, which inherit the environment):
    # the TRUNCATE between tests would read as deleted tickets to a later `audit verify`, and subprocesses
    # would write into the repository's .yunguan. tests/test_audit_tamper.py writes its own, per test.
    os.environ.setdefault("YUNGUAN_AUDIT_CHECKPOINT_EVERY_S", "0")
    base = load_settings()
    url = with_database(base.database_url, f"yunguan_test_{os.getpid()}")
    drop_database(url)
    ensure_postgres(url, _quiet)
    secret_key = "test-secret-" + uuid.uuid4().hex
    settings = base.replace(
        database_url=url, kafka_bootstrap=broker, topic_partitions=2, max_poll_interval_ms=3000,
        session_timeout_ms=3000, heartbeat_s=1.0, stuck_after_s=10.0, leave_settle_s=10.0, secret_key=secret_key,
        totp_key=secret_key,  # as load_settings derives it, so that subprocesses given the secret_key agree
        state_dir=tempfile.mkdtemp(),
    )
    engine = make_engine(url)
    upgrade(engine)
    load_demo_data(engine, _quiet)
    engine.dispose()
    try:
        yield settings
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def engine(base_settings):
    eng = make_engine(base_settings.database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def clean_db(engine):
    """Each test starts without tickets, reports, events or accounts (areas, units, categories stay)."""
    try:
        with engine.begin() as conn:
            # A session a failed test left holding a lock would otherwise stall every later test to its timeout.
            conn.execute(text("SET LOCAL lock_timeout = '60s'"))
            conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
    except OperationalError:
        with engine.connect() as conn:
            holders = conn.execute(text(
                "SELECT pid, state, left(query, 200) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all()
        pytest.fail(f"clean_db: the data tables stayed locked for 60 s; sessions: {holders}")
    return engine


@pytest.fixture
def settings(base_settings, broker):
    """Settings owning uuid-named topics and a consumer group of their own."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    s = base_settings.replace(topic_prefix=prefix, worker_group=f"{prefix}worker")
    topics = Topics(prefix)
    create_topics(broker, topics, s.topic_partitions)
    yield s
    try:
        delete_topics(broker, list(topics.all))
    except Exception:
        pass  # Tansu keeps topics in memory; leftover topics die with the test broker


@pytest.fixture
def deps(settings, clean_db):
    from yunguan.wiring import build

    d = build(settings)
    yield d
    d.close()


@pytest.fixture
def worker(deps):
    """A worker thread consuming this test's topics; stopped (leaving the group) after the test."""
    from yunguan.wiring import build_worker

    w = build_worker(deps)
    stop = threading.Event()
    errors: list[BaseException] = []

    def _run():
        try:
            w.run(stop)
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)

    thread = threading.Thread(target=_run, name="test-worker", daemon=True)
    thread.start()
    yield w
    stop.set()
    thread.join(timeout=20)
    assert not thread.is_alive(), "worker did not stop within 20 s"
    assert not errors, f"worker failed: {errors!r}"


@pytest.fixture
def server(deps):
    """The real Flask-SocketIO app on a free port, served by Werkzeug in threads."""
    from werkzeug.serving import make_server

    from application.routing import RoutingCache
    from web.app import create_app

    app, socketio = create_app(deps, RoutingCache.from_settings(deps.engine, deps.settings))
    port = free_port()
    httpd = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    bridge = app.extensions["yunguan_bridge"]
    wait_for(bridge.ready.is_set, 20, what="the event bridge to consume tickets.events")
    yield f"http://127.0.0.1:{port}", app
    bridge.stop.set()
    app.extensions["yunguan_sweep"].stop.set()
    httpd.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def make_user(engine):
    from store.users import add_user

    def _make(username: str, role: str, password: str = "secret-pass-1", **kwargs):
        with engine.begin() as conn:
            return add_user(conn, username, password, role, **kwargs)

    return _make


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (make test installs it when missing)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page_for(browser, server, tmp_path):
    """A logged-in page per account; page errors and dialogs are collected for the test to check."""
    base, _ = server
    opened = []

    def _open(username: str, password: str = "secret-pass-1", path: str = "/console", viewport=(1600, 900)):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN")
        page = context.new_page()
        page.problems = []
        page.on("pageerror", lambda exc: page.problems.append(f"pageerror: {exc}"))
        page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.goto(f"{base}/login?next={path}")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"**{path}")
        opened.append(context)
        return page

    yield _open
    for context in opened:
        context.close()


@pytest.fixture
def grid_cell(engine):
    """A grid cell (网格) covering the Nanguan test point: the demo's own if it has grid cells, else a small
    square added for this test and removed after it. Returns its code."""
    point = "ST_SetSRID(ST_MakePoint(125.4388, 43.7126), 4326)"
    with engine.begin() as conn:
        code = conn.execute(text(f"SELECT code FROM areas WHERE level = 'grid' AND ST_Covers(geom, {point})")).scalar()
        created = code is None
        if created:
            code = "220102999999999"
            conn.execute(text(
                "INSERT INTO areas (code, name, level, parent_code, geom) VALUES (:c, '测试网格（合成）', 'grid', NULL, "
                "ST_Multi(ST_MakeEnvelope(125.4370, 43.7110, 125.4410, 43.7140, 4326)))"), {"c": code})
    yield code
    if created:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM users WHERE grid_code = :c"), {"c": code})
            conn.execute(text("DELETE FROM areas WHERE code = :c"), {"c": code})
