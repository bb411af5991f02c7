"""Intake benchmark: publish → ticket committed → event published, on this machine's PostgreSQL and a
private Tansu broker, against the naive design (one database transaction per report) in the same run.

    .venv/bin/python bench/ingest.py                 # defaults: 20000 reports, 2 workers, 500/s for 20 s
    .venv/bin/python bench/ingest.py --phases latency   # one phase only (throughput, naive, latency)

Phases (each with its own database state, topics and consumer group):
  1. throughput, batched worker: W `yunguan worker` processes join the group and are paused (SIGSTOP)
     while N reports are published, then resumed to drain them; the rate is N / (last event published −
     first ticket written), so neither group joins nor the load generator's CPU count;
  2. the same with the naive worker (one transaction per report), N_naive reports;
  3. latency, batched worker: reports at a fixed rate; per report the time from the producer's send to
     the arrival of its ticket's event on `tickets.events`.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from _stage import Stage  # bench/'s shared set-up: the script's folder is on sys.path
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from sqlalchemy import text

from config import load_settings
from gis.areas import read_geojson
from streams.topics import Topics, create_topics, stable_members
from yunguan.demo import demo_file
from yunguan.simulate import Simulator

TARGETS = {"throughput": 3000.0, "p99_ms": 300.0, "ratio": 5.0}


# --- the worker processes ---------------------------------------------------------------------------

def run_worker(naive: bool) -> None:
    """Entry point of a worker subprocess: the real worker, or the naive one-transaction-per-report one."""
    import logging

    from streams.worker import run_until_signalled
    from yunguan.wiring import build, build_worker

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(process)d %(name)s %(message)s")
    logging.getLogger("kafka.coordinator").setLevel(logging.INFO)
    deps = build(load_settings())
    worker = build_worker(deps)
    if naive:
        batched = worker.process

        def one_by_one(records) -> None:
            for m in records:
                batched([m])  # validate, route and write one report per transaction

        worker.process = one_by_one
    run_until_signalled(worker)
    stats_file = os.environ.get("BENCH_STATS_FILE")
    if stats_file:  # for the harness: how large the polled batches were
        with open(stats_file, "a") as f:
            f.write(json.dumps({"messages": worker.stats.messages, "batches": worker.stats.batches}) + "\n")


# --- the harness ------------------------------------------------------------------------------------

def cpu_seconds(workers: list[subprocess.Popen]) -> dict[str, float]:
    """CPU time (user + system) used so far by the workers, PostgreSQL, the broker and this harness: the
    machine has two cores, so where they go says what to make cheaper next. Linux /proc only."""
    tick = os.sysconf("SC_CLK_TCK")
    ours = {w.pid for w in workers}
    out = {"workers": 0.0, "postgres": 0.0, "broker": 0.0, "harness": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        used = (int(fields[11]) + int(fields[12])) / tick
        pid = int(entry.name)
        if pid in ours:
            out["workers"] += used
        elif comm.startswith("postgres"):
            out["postgres"] += used
        elif comm.startswith("tansu"):
            out["broker"] += used
        elif pid == os.getpid():
            out["harness"] += used
    return out


class Bench(Stage):
    def __init__(self, args) -> None:
        self.args = args
        base = load_settings()
        super().__init__(base, "yunguan_bench", bootstrap=args.bootstrap, keep_logs=args.keep_logs)
        self.base = base
        self.areas = read_geojson(demo_file("changchun-districts.gcj02.geojson"), "district", "gcj02",
                                  code_field="adcode")

    def _phase_env(self, prefix: str, pause_s: int = 3) -> dict:
        env = dict(os.environ)
        env.update({
            "YUNGUAN_DATABASE_URL": self.url, "YUNGUAN_KAFKA_BOOTSTRAP": self.bootstrap,
            "YUNGUAN_TOPIC_PREFIX": prefix, "YUNGUAN_WORKER_GROUP": f"{prefix}workers",
            # Long enough for the workers to sit out a pause (SIGSTOP) without leaving the group.
            "YUNGUAN_MAX_POLL_INTERVAL_MS": str(pause_s * 1000), "YUNGUAN_SESSION_TIMEOUT_MS": str(pause_s * 1000),
            "YUNGUAN_WORKER_BATCH_SIZE": str(self.args.batch_size), "YUNGUAN_SECRET_KEY": "bench",
        })
        return env

    def _reset(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("TRUNCATE outbox, ticket_history, reports, tickets, ticket_day_sequence "
                              "RESTART IDENTITY CASCADE"))

    def _topics(self) -> tuple[str, Topics]:
        prefix = f"bench-{uuid.uuid4().hex[:6]}."
        topics = Topics(prefix)
        create_topics(self.bootstrap, topics, self.args.partitions)
        return prefix, topics

    def _workers(self, prefix: str, naive: bool, pause_s: int = 3) -> list[subprocess.Popen]:
        cmd = [sys.executable, __file__, "--worker", "naive" if naive else "batched"]
        log = open(self.state / f"{prefix}workers.log", "ab")
        env = {**self._phase_env(prefix, pause_s), "BENCH_STATS_FILE": str(self.state / f"{prefix}stats.jsonl")}
        return [subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
                for _ in range(self.args.workers)]

    def _mean_batch(self, prefix: str) -> float | None:
        path = self.state / f"{prefix}stats.jsonl"
        if not path.exists():
            return None
        stats = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        batches = sum(s["batches"] for s in stats)
        return round(sum(s["messages"] for s in stats) / batches, 1) if batches else None

    @staticmethod
    def _stop(workers: list[subprocess.Popen]) -> None:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()

    def _count(self, sql: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()

    def _settled(self, reports: int) -> bool:
        """Every report placed (a new ticket or merged into an open one) and every event published."""
        return (self._count("SELECT count(*) FROM reports WHERE ticket_id IS NOT NULL") >= reports
                and self._count("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0)

    def _wait(self, condition, timeout: float, what: str, every_s: float = 0.25) -> None:
        """Poll `condition` until true. The figures come from timestamps the database and the listener
        recorded, not from when a poll noticed, so polling gently costs no accuracy; polling every 50 ms
        took a tenth of the machine's CPU away from the workers being measured."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(every_s)
        raise SystemExit(f"bench: timed out after {timeout:.0f} s waiting for {what}")

    def _producer(self) -> KafkaProducer:
        return KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5, batch_size=256 * 1024)

    def _wait_group(self, prefix: str) -> None:
        """Until every worker has joined and holds partitions: rebalances are not part of the figures."""
        group = f"{prefix}workers"
        # Tansu does not report assignments; the warm-up proves them.
        self._wait(lambda: stable_members(self.bootstrap, group) == self.args.workers, 120,
                   f"{self.args.workers} workers to join group {group}")

    def _warm_up(self, topics: Topics) -> int:
        """One report into every partition, processed: proves each partition has a consuming worker (Tansu
        can call a group Stable before a late member got its assignment)."""
        sim = Simulator(self.areas, seed=3)
        producer = self._producer()
        count = 0
        for topic in topics.intake:
            channel = topics.channel_of(topic)
            for p in range(self.args.partitions):
                e = sim.report()
                e.update(channel=channel, report_id=f"warm-{channel}-{p}")
                producer.send(topic, partition=p, key=e["report_id"].encode(), value=json.dumps(e).encode()).get(30)
                count += 1
        producer.close()
        self._wait(lambda: self._settled(count), 120, "every partition to be consumed")
        return count

    def _payloads(self, n: int, seed: int) -> list[tuple[str, bytes, bytes]]:
        sim = Simulator(self.areas, seed=seed)
        reports = [sim.report() for _ in range(n)]
        return [(e["channel"], e["report_id"].encode(), json.dumps(e, ensure_ascii=False).encode()) for e in reports]

    def throughput(self, n: int, naive: bool) -> dict:
        self._reset()
        prefix, topics = self._topics()
        payloads = self._payloads(n, seed=7)
        workers = self._workers(prefix, naive, pause_s=15)
        try:
            self._wait_group(prefix)
            warm = self._warm_up(topics)
            # The backlog is published while the joined workers are paused, so the window measures the
            # pipeline draining it, not the load generator sharing the two cores with it.
            for w in workers:
                os.kill(w.pid, signal.SIGSTOP)
            try:
                producer = self._producer()
                futures = [producer.send(topics.report(channel), key=key, value=value)
                           for channel, key, value in payloads]
                producer.flush()
                for f in futures:
                    f.get(30)
                producer.close()
            finally:
                before = cpu_seconds(workers)
                for w in workers:
                    os.kill(w.pid, signal.SIGCONT)
            self._wait(lambda: self._settled(n + warm), self.args.timeout,
                       f"{n} reports placed and their events sent ({'naive' if naive else 'batched'})")
            after = cpu_seconds(workers)
        finally:
            self._stop(workers)
        with self.engine.connect() as conn:
            row = conn.execute(text(
                "SELECT count(DISTINCT t.id) AS tickets, min(t.created_at) AS first, max(o.sent_at) AS last "
                "FROM tickets t JOIN reports r ON r.ticket_id = t.id JOIN outbox o ON o.key = t.ticket_no "
                "WHERE r.report_id NOT LIKE 'warm-%'")).one()
        seconds = (row.last - row.first).total_seconds()
        # CPU per report, µs, from resuming the workers to the last event sent.
        cpu_us = {k: round((after[k] - before[k]) / n * 1e6) for k in after}
        return {"reports": n, "tickets": row.tickets, "seconds": round(seconds, 2),
                "per_second": round(n / seconds, 1), "cpu_us_per_report": cpu_us,
                "mean_batch": self._mean_batch(prefix)}

    def latency(self, rate: float, duration: float) -> dict:
        self._reset()
        prefix, topics = self._topics()
        workers = self._workers(prefix, naive=False)
        sim = Simulator(self.areas, seed=11)
        producer = self._producer()
        arrived: dict[str, float] = {}
        stop = threading.Event()
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                 fetch_max_wait_ms=20)
        tps = [TopicPartition(topics.ticket_events, p) for p in consumer.partitions_for_topic(topics.ticket_events)]
        consumer.assign(tps)
        consumer.seek_to_end(*tps)
        for tp in tps:
            consumer.position(tp)

        def listen() -> None:
            while not stop.is_set():
                for msgs in consumer.poll(timeout_ms=100).values():
                    now = time.time()
                    for m in msgs:
                        arrived.setdefault(m.key.decode(), now)

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        try:
            self._wait_group(prefix)
            warm = self._warm_up(topics)
            self._wait(lambda: len(arrived) >= warm, 60, "the warm-up events")
            sent: dict[str, float] = {}
            interval = 1.0 / rate
            start = next_at = time.monotonic()
            futures = []
            while time.monotonic() - start < duration:
                e = sim.report()
                sent[e["report_id"]] = time.time()
                futures.append(producer.send(topics.report(e["channel"]), key=e["report_id"].encode(),
                                             value=json.dumps(e, ensure_ascii=False).encode()))
                next_at += interval
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            achieved = len(sent) / (time.monotonic() - start)
            producer.flush()
            for f in futures:
                f.get(30)
            self._wait(lambda: self._settled(len(sent) + warm), 120, "every report placed")
            tickets = self._count("SELECT count(*) FROM tickets")
            self._wait(lambda: len(arrived) >= tickets, 120, f"{tickets} tickets' events")
        finally:
            stop.set()
            listener.join(5)
            consumer.close()
            producer.close()
            self._stop(workers)
        with self.engine.connect() as conn:
            # Per ticket, the report that opened it and its `created` event (a report merged into an open
            # ticket has no event of its own; the bench counts them separately).
            rows = conn.execute(text(
                "SELECT t.ticket_no, r.report_id, extract(epoch FROM t.created_at) AS written, "
                "extract(epoch FROM o.sent_at) AS relayed FROM tickets t "
                "JOIN reports r ON r.id = (SELECT min(id) FROM reports WHERE ticket_id = t.id) "
                "JOIN outbox o ON o.key = t.ticket_no AND o.payload ->> 'event' = 'created'")).all()
            merged = conn.execute(text("SELECT count(*) FROM ticket_history WHERE action = 'merge'")).scalar_one()
        rows = [r for r in rows if r.report_id in sent]
        latencies = sorted((arrived[r.ticket_no] - sent[r.report_id]) * 1000 for r in rows)
        to_worker = sorted((float(r.written) - sent[r.report_id]) * 1000 for r in rows)
        to_relay = sorted((float(r.relayed) - sent[r.report_id]) * 1000 for r in rows)
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        return {"rate": rate, "achieved_rate": round(achieved, 1), "reports": len(latencies), "merged": merged,
                "p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1), "p99_ms": round(q[98], 1),
                "max_ms": round(latencies[-1], 1),
                "p50_to_worker_ms": round(statistics.median(to_worker), 1),
                "p99_to_worker_ms": round(statistics.quantiles(to_worker, n=100)[98], 1),
                "p50_to_relay_ms": round(statistics.median(to_relay), 1),
                "p99_to_relay_ms": round(statistics.quantiles(to_relay, n=100)[98], 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=["batched", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--reports", type=int, default=20000, help="reports for the batched throughput phase")
    parser.add_argument("--naive-reports", type=int, default=4000, help="reports for the naive baseline phase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4, help="partitions per intake topic")
    parser.add_argument("--batch-size", type=int, default=load_settings().worker_batch_size)
    parser.add_argument("--rate", type=float, default=500.0, help="reports/s in the latency phase")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of the latency phase")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep-logs", action="store_true", help="keep the broker and worker logs (path printed)")
    parser.add_argument("--bootstrap", help="use this broker instead of starting a private Tansu")
    parser.add_argument("--phases", default="throughput,naive,latency",
                        help="comma-separated subset of throughput, naive, latency (the ratio needs the first two)")
    args = parser.parse_args()
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    unknown = phases - {"throughput", "naive", "latency"}
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if args.worker:
        run_worker(args.worker == "naive")
        return 0
    with Bench(args) as bench:
        if args.keep_logs:
            print(f"logs: {bench.state}")
        print(f"bench/ingest.py: {args.workers} workers, {args.partitions} partitions per intake topic, "
              f"batch size {args.batch_size}, broker {'external' if args.bootstrap else 'private Tansu'}")
        result: dict = {}
        verdict: dict[str, bool] = {}
        if "throughput" in phases:
            batched = result["batched"] = bench.throughput(args.reports, naive=False)
            print(f"throughput, batched worker : {batched['per_second']:>8.1f} reports/s "
                  f"({batched['reports']} reports in {batched['seconds']} s; tickets {batched['tickets']})")
            print("  CPU per report (µs)      : "
                  + ", ".join(f"{k} {v}" for k, v in batched["cpu_us_per_report"].items())
                  + f"; mean polled batch {batched['mean_batch']} messages")
            verdict["throughput"] = batched["per_second"] >= TARGETS["throughput"]
        if "naive" in phases:
            naive = result["naive"] = bench.throughput(args.naive_reports, naive=True)
            print(f"throughput, naive baseline : {naive['per_second']:>8.1f} reports/s "
                  f"({naive['reports']} reports in {naive['seconds']} s; tickets {naive['tickets']})")
        if "throughput" in phases and "naive" in phases:
            ratio = result["ratio"] = round(result["batched"]["per_second"] / result["naive"]["per_second"], 2)
            print(f"ratio batched / naive      : {ratio:>8.1f}x")
            verdict["ratio"] = ratio >= TARGETS["ratio"]
        if "latency" in phases:
            lat = result["latency"] = bench.latency(args.rate, args.duration)
            print(f"latency at {lat['rate']:.0f}/s (achieved {lat['achieved_rate']}/s, {lat['reports']} new tickets, "
                  f"{lat['merged']} reports merged into open ones): "
                  f"p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms")
            verdict["p99"] = lat["p99_ms"] < TARGETS["p99_ms"]
        print("targets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in verdict.items())
              + f" (≥{TARGETS['throughput']:.0f}/s, p99 <{TARGETS['p99_ms']:.0f} ms, ≥{TARGETS['ratio']:.0f}x)")
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
