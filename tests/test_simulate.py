"""The simulator's traffic: realistic valid reports, byte-identical re-sends and every kind of broken message."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import text

from application.envelope import EnvelopeError, parse_envelope
from gis.areas import read_geojson
from tests.helpers import wait_for
from yunguan.demo import demo_file
from yunguan.simulate import MALFORMED, Simulator

REASONS = {  # what the worker must say about each kind of broken message
    "not-json": "not JSON", "not-utf8": "UTF-8", "wrong-type": "location.lon", "unknown-crs": "crs",
    "outside-china": "China", "no-location": "location", "too-long": "description",
}


@pytest.fixture(scope="module")
def districts():
    return read_geojson(demo_file("changchun-districts.gcj02.geojson"), "district", "gcj02", code_field="adcode")


def test_every_malformed_kind_is_refused_with_its_reason(districts):
    sim = Simulator(districts, seed=5)
    assert set(REASONS) == set(MALFORMED)
    for what in MALFORMED:
        for _ in range(20):  # every channel's shape, not just one lucky sample
            message = sim._malformed(what)
            with pytest.raises(EnvelopeError) as caught:
                parse_envelope(message.value)
            assert REASONS[what].lower() in caught.value.reason.lower(), (what, caught.value.reason)


def test_mix_of_valid_duplicate_and_malformed_messages(districts):
    sim = Simulator(districts, seed=9, malformed_share=0.05, duplicate_share=0.1)
    messages = [sim.message() for _ in range(2000)]
    kinds = [m.kind.split(":")[0] for m in messages]
    assert 40 <= kinds.count("malformed") <= 160 and 100 <= kinds.count("duplicate") <= 300
    valid = {m.key: m.value for m in messages if m.kind == "valid"}
    assert len(valid) == kinds.count("valid"), "report ids repeat outside deliberate duplicates"
    for m in messages:
        if m.kind == "duplicate":
            assert valid[m.key] == m.value, "a re-send must be byte-identical to the original"
        elif m.kind == "valid":
            envelope = parse_envelope(m.value)
            assert envelope.channel == m.channel and (envelope.location or envelope.address)
    channels = {m.channel for m in messages}
    assert channels == {"grid", "hotline", "public", "sensor"}


def test_seeded_runs_repeat(districts):
    a, b = (Simulator(districts, seed=3, malformed_share=0.1, duplicate_share=0.1) for _ in range(2))
    assert [(m.key, m.kind) for m in (a.message() for _ in range(300))] == \
        [(m.key, m.kind) for m in (b.message() for _ in range(300))]


@pytest.mark.integration
def test_simulated_traffic_places_every_valid_report_once_and_dead_letters_the_rest(settings, worker, engine):
    env = dict(os.environ, YUNGUAN_DATABASE_URL=settings.database_url, YUNGUAN_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
               YUNGUAN_TOPIC_PREFIX=settings.topic_prefix)
    run = subprocess.run([sys.executable, "-m", "yunguan.cli", "simulate", "--rate", "400", "--duration", "2",
                          "--malformed", "0.1", "--duplicates", "0.1", "--seed", "21"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (valid|duplicate|malformed)", run.stdout + run.stderr)}
    assert counts["malformed"] > 0 and counts["duplicate"] > 0, run.stdout + run.stderr

    def tickets() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM tickets")).scalar_one()

    total = sum(counts.values())
    wait_for(lambda: worker.stats.messages == total, 60, what=f"the worker to consume all {total} messages")
    assert worker.stats.dead_letters == counts["malformed"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reports WHERE ticket_id IS NOT NULL")).scalar_one() == \
            counts["valid"]
        merged = conn.execute(text("SELECT count(*) FROM ticket_history WHERE action = 'merge'")).scalar_one()
    # Hot spots make some reports duplicates of open cases: they attach instead of opening tickets.
    assert tickets() + merged == counts["valid"]
