"""Socket.IO fan-out benchmark: tickets.events → web process(es) → 500 console clients in 50 unit rooms.

    .venv/bin/pip install -e '.[bench]'      # aiohttp, for the asyncio Socket.IO clients
    .venv/bin/python bench/fanout.py         # 500 clients, 50 units, 200 events/s for 30 s, one web process

What runs: a private Tansu broker, a fresh database `yunguan_bench_fanout` with the demo data, 50 department
accounts on 50 different units, real `yunguan serve` process(es) (`--web 2` runs two with the Kafka message
queue, socketio_queue = "kafka"), and the clients in `--client-procs` separate processes (asyncio, so the
load generator does not starve the server of the machine's two cores). Each client logs in with its own
token and is put in its unit's room by the server. Ticket events are published to tickets.events at a fixed
rate, round-robin over the 50 units, each carrying the instant it was sent; a client measures
receive − send (same machine, same clock). At the end every client's events are checked against the events
of its unit: missing, duplicated and foreign (another department's) events are counted; any foreign event
or a loss fails the run (exit 1). Target (issue 6): p99 event-to-client latency under 250 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import requests
from _stage import free_port, quiet  # bench/'s shared set-up: the script's folder is on sys.path
from kafka import KafkaProducer
from sqlalchemy import text

from config import load_settings
from store.db import make_engine, with_database
from store.migrate import upgrade
from store.users import add_user
from streams.topics import Topics, create_topics
from yunguan.demo import load_demo_data
from yunguan.services import drop_database, ensure_broker, ensure_postgres, stop_broker

TARGET_P99_MS = 250.0
PASSWORD = "fanout-bench-1"


def _wait(condition, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except requests.RequestException:
            value = None
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"fanout: gave up after {timeout:.0f} s waiting for {what}")


# --- the client processes ----------------------------------------------------------------------------

def client_process(clients: list[tuple[str, str, str]], connected, received, stop, results) -> None:
    """`clients`: (client id, base URL, token). Counts connections and receipts in shared values; at `stop`
    sends back, per client, the ticket numbers it got and the latencies it measured."""
    import socketio

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us through `stop`

    async def main() -> None:
        got: dict[str, list[tuple[str, float]]] = {cid: [] for cid, _, _ in clients}
        sockets = []

        async def one(cid: str, base: str, token: str) -> None:
            sio = socketio.AsyncClient(reconnection=False)

            @sio.on("ticket", namespace="/console")
            async def on_ticket(event):
                now = time.time()
                got[cid].append((event.get("ticket_no"), now - float(event.get("sent_at") or now)))
                with received.get_lock():
                    received.value += 1

            await sio.connect(base, namespaces=["/console"], auth={"token": token}, transports=["websocket"],
                              wait_timeout=30)
            sockets.append(sio)
            with connected.get_lock():
                connected.value += 1

        for i in range(0, len(clients), 25):  # connect in small waves: 500 handshakes at once swamp the server
            await asyncio.gather(*(one(*c) for c in clients[i:i + 25]))
        while not stop.is_set():
            await asyncio.sleep(0.1)
        results.put({cid: got[cid] for cid in got})
        await asyncio.gather(*(s.disconnect() for s in sockets), return_exceptions=True)

    asyncio.run(main())


# --- the harness ----------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args) -> None:
        self.args = args
        base = load_settings()
        self.url = with_database(base.database_url, "yunguan_bench_fanout")
        self.state = Path(tempfile.mkdtemp(prefix="yunguan-fanout-"))
        self.bootstrap = f"127.0.0.1:{free_port()}"
        self.prefix = f"fan-{uuid.uuid4().hex[:6]}."
        self.webs: list[subprocess.Popen] = []
        self.engine = None

    def __enter__(self):
        ensure_broker(self.bootstrap, self.state, quiet)
        drop_database(self.url)
        ensure_postgres(self.url, quiet)
        self.engine = make_engine(self.url)
        upgrade(self.engine)
        load_demo_data(self.engine, quiet)
        create_topics(self.bootstrap, Topics(self.prefix), self.args.partitions)
        return self

    def __exit__(self, *exc) -> None:
        for web in self.webs:
            web.terminate()
        for web in self.webs:
            try:
                web.wait(timeout=20)
            except subprocess.TimeoutExpired:
                web.kill()
        if self.engine is not None:
            self.engine.dispose()
        drop_database(self.url)
        stop_broker(self.state, quiet)
        if not self.args.keep_logs:
            shutil.rmtree(self.state, ignore_errors=True)

    def accounts(self) -> list[tuple[str, str]]:
        """One department account per unit: (username, unit code)."""
        with self.engine.begin() as conn:
            units = conn.execute(text("SELECT code FROM units ORDER BY level, code LIMIT :n"),
                                 {"n": self.args.units}).scalars().all()
            if len(units) < self.args.units:
                raise SystemExit(f"fanout: only {len(units)} units in the demo data")
            out = []
            for i, unit in enumerate(units):
                add_user(conn, f"fan{i:03d}", PASSWORD, "department", unit=unit, replace=True)
                out.append((f"fan{i:03d}", unit))
        return out

    def start_web(self) -> list[str]:
        env = dict(os.environ, YUNGUAN_DATABASE_URL=self.url, YUNGUAN_KAFKA_BOOTSTRAP=self.bootstrap,
                   YUNGUAN_TOPIC_PREFIX=self.prefix, YUNGUAN_SECRET_KEY="fanout-bench",
                   YUNGUAN_STATE_DIR=str(self.state), YUNGUAN_MEDIA_DIR=str(self.state / "media"),
                   YUNGUAN_MAX_POLL_INTERVAL_MS="3000", YUNGUAN_SESSION_TIMEOUT_MS="3000",
                   YUNGUAN_SOCKETIO_QUEUE="kafka" if self.args.web > 1 else "")
        bases = []
        for n in range(self.args.web):
            port = free_port()
            log = open(self.state / f"web{n}.log", "ab")
            self.webs.append(subprocess.Popen(
                [sys.executable, "-m", "yunguan.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env, stdout=log, stderr=subprocess.STDOUT))
            bases.append(f"http://127.0.0.1:{port}")
        for base in bases:
            _wait(lambda base=base: requests.get(f"{base}/readyz", timeout=2).ok, 60, f"{base} to be ready")
        return bases

    def run(self) -> int:
        args = self.args
        accounts = self.accounts()
        bases = self.start_web()
        tokens = {}
        for username, _ in accounts:
            r = requests.post(f"{bases[0]}/api/v1/auth/token", json={"username": username, "password": PASSWORD},
                              timeout=10)
            r.raise_for_status()
            tokens[username] = r.json()["token"]
        per_unit = args.clients // len(accounts)
        clients = []  # (client id, unit, base, token)
        for i in range(per_unit):
            for j, (username, unit) in enumerate(accounts):
                cid = f"c{len(clients):04d}"
                clients.append((cid, unit, bases[(i * len(accounts) + j) % len(bases)], tokens[username]))
        unit_of = {cid: unit for cid, unit, _, _ in clients}

        connected, received = mp.Value("i", 0), mp.Value("l", 0)
        stop, results = mp.Event(), mp.Queue()
        procs = []
        for k in range(args.client_procs):
            mine = [(cid, base, token) for cid, _, base, token in clients[k::args.client_procs]]
            p = mp.Process(target=client_process, args=(mine, connected, received, stop, results), daemon=True)
            p.start()
            procs.append(p)
        started = time.monotonic()
        _wait(lambda: connected.value == len(clients) or any(not p.is_alive() for p in procs), 180,
              f"{len(clients)} clients to connect")
        if connected.value != len(clients):
            raise SystemExit("fanout: a client process died while connecting")
        connect_s = time.monotonic() - started

        topic = Topics(self.prefix).ticket_events
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks=1, linger_ms=0, enable_idempotence=False)
        units = [unit for _, unit in accounts]

        def event(no: str, unit: str) -> bytes:
            return json.dumps({"schema": "ticket-event/1", "ticket_no": no, "event": "dispatch", "status": "dispatched",
                    "at": "2026-11-23T09:00:00+08:00", "version": 1, "category": "020102",
                    "assignee": {"code": unit, "name": unit, "level": "district"}, "area": {}, "location": None,
                    "deadline": None, "escalation_level": 0, "actor": "bench", "sent_at": time.time()},
                              ensure_ascii=False).encode()

        # Warm-up: a round of one event per unit until every client has had one (bridge and rooms are live).
        deadline = time.monotonic() + 60
        rounds = 0
        while received.value < len(clients):
            if time.monotonic() > deadline:
                raise SystemExit(f"fanout: only {received.value} of {len(clients)} clients got a warm-up event")
            for unit in units:
                producer.send(topic, event(f"WARM-{rounds:03d}", unit), key=unit.encode())
            producer.flush()
            rounds += 1
            end = time.monotonic() + 2.0
            while received.value < len(clients) and time.monotonic() < end:
                time.sleep(0.05)
        time.sleep(1.0)  # let the warm-up stragglers land before the count starts
        base_received = received.value

        total = int(args.rate * args.duration)
        sent_units: list[str] = []
        t0 = time.perf_counter()
        for i in range(total):
            due = t0 + i / args.rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            unit = units[i % len(units)]
            producer.send(topic, event(f"FAN-{i:07d}", unit), key=f"FAN-{i:07d}".encode())
            sent_units.append(unit)
        producer.flush()
        send_s = time.perf_counter() - t0
        expected_total = total * per_unit
        try:
            _wait(lambda: received.value - base_received >= expected_total, 60, "every delivery", every=0.2)
        except SystemExit:
            pass  # counted as missing below
        time.sleep(1.0)  # duplicates, if any, arrive right behind the originals
        stop.set()
        got: dict[str, list[tuple[str, float]]] = {}
        for _ in procs:
            got.update(results.get(timeout=60))
        for p in procs:
            p.join(timeout=30)
        producer.close()

        by_unit: dict[str, set[str]] = {}
        for i, unit in enumerate(sent_units):
            by_unit.setdefault(unit, set()).add(f"FAN-{i:07d}")
        missing = duplicates = foreign = 0
        latencies = []
        for cid, items in got.items():
            mine = by_unit.get(unit_of[cid], set())
            counts = Counter(no for no, _ in items if no and no.startswith("FAN-"))
            missing += len(mine - set(counts))
            duplicates += sum(c - 1 for no, c in counts.items() if c > 1)
            foreign += sum(c for no, c in counts.items() if no not in mine)
            latencies += [lat for no, lat in items if no and no.startswith("FAN-")]
        latencies.sort()

        def pct(q: float) -> float:
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")

        p99 = pct(0.99)
        print(f"fanout: {len(clients)} clients in {len(units)} unit rooms on {len(bases)} web process(es) "
              f"(connected in {connect_s:.1f} s), {args.client_procs} client processes")
        print(f"fanout: {total} events in {send_s:.1f} s = {total / send_s:.0f}/s; deliveries expected "
              f"{expected_total}, received {len(latencies)}")
        print(f"fanout: missing {missing}, duplicates {duplicates}, foreign (another unit's) {foreign}")
        print(f"fanout: latency event→client p50 {pct(0.5):.0f} ms, p95 {pct(0.95):.0f} ms, p99 {p99:.0f} ms, "
              f"max {latencies[-1] * 1000 if latencies else float('nan'):.0f} ms, "
              f"mean {statistics.fmean(latencies) * 1000 if latencies else float('nan'):.0f} ms")
        print(f"fanout: p99 {p99:.0f} ms vs target {TARGET_P99_MS:.0f} ms: "
              f"{'met' if p99 < TARGET_P99_MS else 'MISSED'}")
        print(f"fanout: each client got exactly its events: {'yes' if missing == duplicates == foreign == 0 else 'NO'}")
        return 1 if foreign or missing else 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Socket.IO fan-out benchmark (issue 6)")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="ticket events per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--web", type=int, default=1, help="web processes (more than one: Kafka message queue)")
    parser.add_argument("--client-procs", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    if args.clients % args.units:
        parser.error("--clients must be a multiple of --units")
    with Bench(args) as bench:
        return bench.run()


if __name__ == "__main__":
    sys.exit(main())
