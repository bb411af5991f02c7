"""Intake: the web server, the worker, the simulator, status, the consumer group, reconcile, dead letters."""
from __future__ import annotations

import json

from config import Settings
from yunguan.cli.common import UsageError, say, wiring


def cmd_serve(settings: Settings, args) -> int:
    from application.routing import RoutingCache
    from web.app import create_app

    deps = wiring(settings)
    app, socketio = create_app(deps, RoutingCache.from_settings(deps.engine, settings))
    host = args.host or settings.web_host
    port = args.port or settings.web_port
    say(f"serve: http://{host}:{port}/console")
    socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True, use_reloader=False, log_output=False)
    return 0


def cmd_worker(settings: Settings, args) -> int:
    from streams.worker import run_until_signalled
    from yunguan.wiring import build_worker

    deps = wiring(settings)
    if settings.worker_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, addr=settings.web_host)
        say(f"worker metrics on http://{settings.web_host}:{settings.worker_metrics_port}/metrics", err=True)
    try:
        run_until_signalled(build_worker(deps))
    finally:
        deps.close()
    return 0


def _member_line(w: dict) -> str:
    return (f"  {w['worker_id']:<40} {w['state']:<9} beat {w['beat_at'][11:19]}  partitions "
            f"{len(w['partitions'])}  lag {w['lag'] if w['lag'] is not None else '-'}  messages {w['messages']}"
            + (f"  — {w['reason']}" if w["reason"] else ""))


def cmd_status(settings: Settings, args) -> int:
    """Is intake flowing: exit 0 when it is, 1 when something needs an operator (contract §11)."""
    from streams.status import intake_status

    deps = wiring(settings)
    try:
        status = intake_status(deps.engine, settings, deps.clock())
    finally:
        deps.close()
    if args.json:
        say(json.dumps(status.as_json(), ensure_ascii=False, indent=2))
        return 0 if status.ok else 1
    say(f"broker     {status.broker}")
    say("topics     " + (", ".join(f"{t} ({n})" for t, n in status.topics.items()) or "none found"))
    say(f"workers    {len([w for w in status.workers if w['state'] != 'stopped'])} running, group "
        f"{settings.worker_group}")
    for w in status.workers:
        say(_member_line(w))
    say(f"lag        {sum(p['lag'] for p in status.partitions)} in all")
    for p in status.partitions:
        if p["lag"]:
            say(f"  {p['topic']}[{p['partition']}]  committed {p['committed']}  end {p['end']}  lag {p['lag']}")
    say(f"dead letters {status.dead_letters if status.dead_letters is not None else '?'} (`yunguan dlq list`)")
    say(f"reconcile  {status.reconcile_gaps} gap(s)")
    # The other consumers: told, not counted in the exit status (which is about report intake).
    for name, members, group, problems in (
            ("lifeline", status.lifeline, settings.lifeline_group, status.lifeline_problems),
            ("notify", status.notify, settings.notify_group, status.notify_problems)):
        if members:
            say(f"{name:<10} {len([w for w in members if w['state'] != 'stopped'])} running, group {group}")
            for w in members:
                say(_member_line(w))
        for problem in problems:
            say(f"{name.upper()} PROBLEM: {problem}", err=True)
    if status.ok:
        say("intake is flowing")
        return 0
    for problem in status.problems:
        say(f"PROBLEM: {problem}", err=True)
    return 1


def cmd_group_recover(settings: Settings, args) -> int:
    """The way out of a consumer group that never forms again (docs/operations.md): offsets are kept."""
    from streams.groups import RecoveryFailed, recover_group

    group = args.group or settings.worker_group
    try:
        done = recover_group(settings.kafka_bootstrap, group)
    except RecoveryFailed as exc:
        say(f"group recover: {exc}", err=True)
        return 1
    say(json.dumps({"group": group, "offsets": {f"{t}[{p}]": o for (t, p), o in sorted(done.offsets.items())}},
                   ensure_ascii=False))
    return 0


def cmd_simulate(settings: Settings, args) -> int:
    from gis.areas import city_today
    from store.areas import load_areas
    from streams.producer import make_producer
    from streams.topics import Topics
    from yunguan.simulate import Simulator, run

    if args.history is not None:
        return _simulate_history(settings, args)
    if args.sensors is not None:
        return _simulate_sensors(settings, args)
    if args.rate <= 0:
        raise UsageError("--rate must be positive")
    deps = wiring(settings)
    areas = load_areas(deps.engine, city_today(settings.timezone))
    if not areas:
        raise UsageError("no areas loaded: run `yunguan demo --data-only` or `yunguan areas load` first")
    topics = Topics(settings.topic_prefix)
    producer = make_producer(settings.kafka_bootstrap)
    pending = []
    failed = 0

    kinds: dict[str, int] = {}

    def publish(message) -> None:
        nonlocal failed
        pending.append(producer.send(topics.report(message.channel), key=message.key, value=message.value))
        kind = message.kind.split(":")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
        if len(pending) >= 500:
            failed += _settle(producer, pending)

    if not (0 <= args.malformed <= 1 and 0 <= args.duplicates <= 1):
        raise UsageError("--malformed and --duplicates are shares between 0 and 1")
    from yunguan.simulate import photo_maker

    simulator = Simulator(areas, args.seed, malformed_share=args.malformed, duplicate_share=args.duplicates,
                          photo=None if args.no_photos else photo_maker(settings.media_path))
    try:
        sent = run(simulator, publish, args.rate, args.duration, say if args.verbose else None)
    except KeyboardInterrupt:
        sent = None
    failed += _settle(producer, pending)
    producer.close()
    deps.close()
    mix = ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
    say(f"simulate: {sent if sent is not None else 'interrupted;'} messages published ({mix}), {failed} failed")
    return 1 if failed else 0


def _simulate_history(settings: Settings, args) -> int:
    """`simulate --history DAYS`: past traffic written through the application's functions (no broker needed;
    the events wait in the outbox for a worker's relay)."""
    import random

    from yunguan.history_sim import HistoryRefused, HistoryRun, simulate_history

    if not 1 <= args.history <= 366:
        raise UsageError("--history takes a number of days from 1 to 366")
    if not 1 <= args.per_day <= 100_000:
        raise UsageError("--per-day takes a number of reports from 1 to 100000")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    deps = wiring(settings)
    try:
        result = simulate_history(deps.engine, settings, deps.topics, HistoryRun(args.history, seed, args.per_day),
                                  lambda line: say(line, err=True))
    except HistoryRefused as exc:
        raise UsageError(str(exc)) from None
    finally:
        deps.close()
    say(result.summary() + f" (seed {seed})")
    return 0


def _simulate_sensors(settings: Settings, args) -> int:
    """`simulate --sensors N`: register N simulated lifeline devices (and thresholds for kinds without any),
    then publish their readings: `--since` seconds of past at once, then live for `--duration` seconds (0:
    until interrupted). Prints a JSON summary (readings, incident, silent and flapping devices)."""
    import random
    import signal
    import threading
    from datetime import timedelta

    from gis.areas import city_today
    from store.areas import load_areas
    from streams.producer import make_producer
    from yunguan.sensor_sim import Fleet, place_devices, register, run_sensors

    if not 1 <= args.sensors <= 100_000:
        raise UsageError("--sensors takes a number of devices from 1 to 100000")
    if not 0 < args.rate_per_device <= 10:
        raise UsageError("--rate-per-device takes readings per second per device, above 0 and at most 10")
    if not 0 <= args.since <= 7 * 86400 or args.duration < 0:
        raise UsageError("--since takes 0 to 604800 seconds, --duration 0 or more")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    deps = wiring(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    producer = make_producer(settings.kafka_bootstrap)
    pending: list = []
    failed = 0
    try:
        areas = load_areas(deps.engine, city_today(settings.timezone))
        now = deps.clock()
        devices = place_devices(areas, args.sensors, seed)
        loaded = register(deps.engine, settings, devices, now)
        say(f"simulate: {loaded['devices']} devices registered ({loaded['inserted']} new), thresholds for "
            f"{loaded['threshold_kinds']} kind(s) loaded", err=True)
        start = now - timedelta(seconds=args.since)
        span = args.since + args.duration if args.duration else max(args.since, 600.0)
        fleet = Fleet(devices, seed, start, span_s=span, timezone=settings.timezone)

        def publish(key: bytes, value: bytes) -> None:
            nonlocal failed
            pending.append(producer.send(deps.topics.sensor_readings, key=key, value=value))
            if len(pending) >= 2000:
                failed += _settle(producer, pending)

        until = now + timedelta(seconds=args.duration) if args.duration else None
        try:
            done = run_sensors(fleet, publish, 1.0 / args.rate_per_device, start, until, deps.clock, stop)
        except KeyboardInterrupt:
            done = None
        failed += _settle(producer, pending)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    finally:
        producer.close()
        deps.close()
    if done is None:
        say("simulate: interrupted")
        return 130
    done.failed = failed
    say(json.dumps({**done.summary(), "seed": seed}, ensure_ascii=False))
    return 1 if failed else 0


def _settle(producer, futures: list) -> int:
    producer.flush(timeout=30)
    failed = 0
    for f in futures:
        try:
            f.get(timeout=10)
        except Exception:
            failed += 1
    futures.clear()
    return failed


def cmd_reconcile(settings: Settings, args) -> int:
    from datetime import timedelta

    from store import intake_log
    from streams.producer import encode, make_producer, send_confirmed

    deps = wiring(settings)
    grace = timedelta(seconds=args.grace if args.grace is not None else settings.reconcile_grace_s)
    try:
        with deps.engine.connect() as conn:
            missing = intake_log.missing_tickets(conn, deps.clock(), grace)
        for m in missing:
            say(json.dumps({"channel": m.channel, "report_id": m.report_id, "accepted_at": m.accepted_at.isoformat()},
                           ensure_ascii=False))
        if missing and args.republish:
            producer = make_producer(settings.kafka_bootstrap)
            try:
                send_confirmed(producer, [
                    (deps.topics.report(m.channel), m.report_id.encode("utf-8"), encode(m.envelope)) for m in missing
                ])
            finally:
                producer.close()
            with deps.engine.begin() as conn:
                intake_log.mark_republished(conn, [(m.channel, m.report_id) for m in missing])
            say(f"reconcile: {len(missing)} accepted report(s) without a ticket re-published", err=True)
            return 0
        say(f"reconcile: {len(missing)} accepted report(s) without a ticket after {grace.total_seconds():.0f} s"
            + ("; re-publish with --republish" if missing else ""), err=True)
        return 1 if missing else 0
    finally:
        deps.close()


def cmd_dlq_list(settings: Settings, args) -> int:
    from store.dead_letters import replayed
    from streams.dlq import read_letters
    from streams.topics import Topics

    deps = wiring(settings)
    count = 0
    try:
        for _, record, letter in read_letters(settings.kafka_bootstrap, Topics(settings.topic_prefix)):
            raw = letter.get("raw") or ""
            with deps.engine.connect() as conn:
                went = replayed(conn, [(record.topic, record.partition, record.offset)])
            say(json.dumps({
                "dlq": f"{record.partition}:{record.offset}", "origin": f"{letter.get('topic')}/"
                f"{letter.get('partition')}/{letter.get('offset')}", "reason": letter.get("reason"),
                "raw": raw if len(raw) <= args.width else raw[: args.width] + "…",
                "replayed_to": next(iter(went.values()), None),
            }, ensure_ascii=False))
            count += 1
            if args.limit and count >= args.limit:
                break
    finally:
        deps.close()
    say(f"dlq: {count} dead letter(s) listed", err=True)
    return 0


def cmd_dlq_replay(settings: Settings, args) -> int:
    """Re-submit dead letters to their original topic, e.g. after fixing a producer or the schema. Each letter
    once: a letter replayed before is skipped (naming where its copy went) unless --again."""
    from kafka import OffsetAndMetadata

    from store.dead_letters import record_replay, replayed
    from streams.dlq import original_bytes, read_letters
    from streams.producer import make_producer, send_confirmed
    from streams.topics import Topics

    topics = Topics(settings.topic_prefix)
    wanted = set(args.offset or [])
    if not wanted and not args.all:
        raise UsageError("name letters with --offset PARTITION:OFFSET (see `yunguan dlq list`) or use --all")
    group = f"{settings.topic_prefix}yunguan-dlq-replay" if args.all else None
    deps = wiring(settings)
    producer = make_producer(settings.kafka_bootstrap)
    replayed_now = skipped = 0
    try:
        for consumer, record, letter in read_letters(settings.kafka_bootstrap, topics, group=group):
            if wanted and f"{record.partition}:{record.offset}" not in wanted:
                continue
            key = (record.topic, record.partition, record.offset)
            with deps.engine.connect() as conn:
                before = replayed(conn, [key]).get(key)
            if letter.get("topic") not in topics.intake:
                say(f"dlq: {record.partition}:{record.offset} has no intake origin ({letter.get('topic')}); skipped",
                    err=True)
            elif before and not args.again:
                say(f"dlq: {record.partition}:{record.offset} was replayed before (to {before}); skipped "
                    "(--again to replay it once more)", err=True)
                skipped += 1
            else:
                done = send_confirmed(producer, [(letter["topic"], record.key, original_bytes(letter))])[0]
                with deps.engine.begin() as conn:
                    record_replay(conn, key, done.topic, done.partition, done.offset)
                replayed_now += 1
            if group:  # remember progress so `--all` never replays a letter twice
                consumer.commit({_tp(record): OffsetAndMetadata(record.offset + 1, "", -1)})
    finally:
        producer.close()
        deps.close()
    say(f"dlq: {replayed_now} letter(s) re-submitted" + (f", {skipped} replayed before" if skipped else ""),
        err=True)
    return 0


def _tp(record):
    from kafka import TopicPartition

    return TopicPartition(record.topic, record.partition)
