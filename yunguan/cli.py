"""`yunguan`: the one console script (contract §1). Exit 0 on success, 2 on bad usage or input, 1 otherwise."""
from __future__ import annotations

import argparse
import getpass
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

from config import Settings, SettingsError, load_settings

log = logging.getLogger("yunguan")


class UsageError(Exception):
    """Bad usage or bad input: exit status 2, nothing half-written."""


def say(message: str, err: bool = False) -> None:
    print(message, flush=True, file=sys.stderr if err else sys.stdout)


# ---------------------------------------------------------------- commands


def cmd_up(settings: Settings, args) -> int:
    from store.db import make_engine
    from store.migrate import upgrade
    from store.roles import app_url
    from streams.topics import Topics, create_topics
    from yunguan.services import ensure_app_login, ensure_broker, ensure_postgres

    ensure_postgres(settings.database_url, say)
    if not args.no_broker:
        ensure_broker(settings.kafka_bootstrap, settings.state_path, say)
        created = create_topics(settings.kafka_bootstrap, Topics(settings.topic_prefix), settings.topic_partitions)
        say(f"Kafka: topics ready ({len(created)} created, {settings.topic_partitions} partitions each)")
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    say("database: migrations applied (head)")
    ensure_app_login(settings.database_url, app_url(settings.database_url, settings.app_database_url), say)
    say("up: ready")
    return 0


def cmd_down(settings: Settings, args) -> int:
    from yunguan.services import stop_broker

    stop_broker(settings.state_path, say)
    return 0


def cmd_db_upgrade(settings: Settings, args) -> int:
    from store.db import make_engine
    from store.migrate import current_revision, upgrade
    from store.roles import app_url
    from yunguan.services import ensure_app_login

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        say(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    ensure_app_login(settings.database_url, app_url(settings.database_url, settings.app_database_url), say)
    return 0


def cmd_topics_create(settings: Settings, args) -> int:
    from streams.topics import Topics, create_topics

    topics = Topics(settings.topic_prefix)
    created = create_topics(settings.kafka_bootstrap, topics, settings.topic_partitions)
    say(f"topics: {', '.join(topics.all)} ready ({len(created)} created)")
    return 0


def cmd_areas_load(settings: Settings, args) -> int:
    from gis.areas import AreaFileError, city_today, read_areas
    from store.areas import check_level, replace_level
    from store.db import make_engine

    valid_from = city_today(settings.timezone)
    if args.valid_from:
        try:
            valid_from = date.fromisoformat(args.valid_from)
        except ValueError:
            raise UsageError(f"--valid-from must be a date YYYY-MM-DD, got {args.valid_from!r}") from None
    try:
        areas = read_areas(Path(args.path), args.level, args.crs, args.code_field, args.name_field, args.parent_field)
    except AreaFileError as exc:
        raise UsageError(str(exc)) from None
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:  # the old level stays visible to every reader until this commits
            count = replace_level(conn, args.level, areas, valid_from)
            report = check_level(conn, args.level, valid_from)
    finally:
        engine.dispose()
    print(json.dumps({"level": args.level, "loaded": count, "crs": args.crs, "valid_from": valid_from.isoformat(),
                      **report}, ensure_ascii=False))
    problems = sum(len(v) for v in report.values())
    if problems:
        say(f"areas: loaded, but {problems} problem(s) to look at (missing or exceeded parents, overlaps, gaps)",
            err=True)
    return 0


def _read_rules(path: Path):
    from gis.duties import RuleError, parse_rules

    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            rows = data.get("rules") if isinstance(data, dict) else None
            if not isinstance(rows, list):
                raise UsageError(f"{path}: a YAML matrix needs a list under `rules:`")
        elif path.suffix.lower() == ".csv":
            import csv

            with open(path, encoding="utf-8-sig", newline="") as f:
                rows = list(csv.DictReader(f))
        else:
            raise UsageError(f"{path}: give a .yaml or .csv matrix")
        return parse_rules(rows)
    except (OSError, RuleError) as exc:
        raise UsageError(f"{path}: {exc}") from None


def cmd_duties_load(settings: Settings, args) -> int:
    import yaml
    from sqlalchemy import text

    from store.db import make_engine
    from store.duties import replace_rules

    path = Path(args.path)
    try:
        rules = _read_rules(path)
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from None
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            units = {r[0] for r in conn.execute(text("SELECT code FROM units"))}
            unknown = [f"{r.name} → {r.unit}" for r in rules
                       if ":" not in r.unit and r.unit != "street_office" and r.unit not in units]
            if unknown:
                raise UsageError(f"{path}: rule(s) name units that do not exist: {'; '.join(unknown)}")
            count = replace_rules(conn, rules)
    finally:
        engine.dispose()
    say(json.dumps({"rules": count}, ensure_ascii=False))
    return 0


def _features(path: Path, crs: str) -> list[tuple[dict, object]]:
    from shapely.geometry import shape

    from gis.crs import geometry_to_wgs84

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        features = data["features"]
        return [(f.get("properties") or {}, geometry_to_wgs84(shape(f["geometry"]), crs)) for f in features]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path}: not a usable GeoJSON FeatureCollection: {exc}") from None


def cmd_zones_load(settings: Settings, args) -> int:
    from shapely.geometry import MultiPolygon

    from gis.duties import ZONE_KINDS, Zone
    from store.db import make_engine
    from store.duties import replace_zones

    zones = []
    for i, (props, geom) in enumerate(_features(Path(args.path), args.crs)):
        kind = props.get("kind")
        if not props.get("code") or not props.get("name") or kind not in ZONE_KINDS:
            raise UsageError(f"{args.path}: feature {i} needs code, name and kind (one of {', '.join(ZONE_KINDS)})")
        if geom.geom_type in ("LineString", "MultiLineString"):  # a road or a railway: its corridor
            geom = geom.buffer(args.buffer_m / 80_000, cap_style="flat")
        polys = getattr(geom, "geoms", [geom])
        zones.append(Zone(str(props["code"]), str(props["name"]), kind, MultiPolygon(list(polys))))
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            count = replace_zones(conn, zones)
    finally:
        engine.dispose()
    say(json.dumps({"zones": count}, ensure_ascii=False))
    return 0


def cmd_places_load(settings: Settings, args) -> int:
    from store.db import make_engine
    from store.duties import Place, replace_places

    places = []
    for i, (props, geom) in enumerate(_features(Path(args.path), args.crs)):
        if not props.get("name") or props.get("kind") not in ("road", "community", "landmark"):
            raise UsageError(f"{args.path}: feature {i} needs name and kind (road, community or landmark)")
        places.append(Place(str(props["name"]), props["kind"], geom))
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            count = replace_places(conn, places)
    finally:
        engine.dispose()
    say(json.dumps({"places": count}, ensure_ascii=False))
    return 0


def cmd_route(settings: Settings, args) -> int:
    from application.routing import RoutingCache, decide_route, decide_routes
    from gis.crs import OutsideChina, to_wgs84
    from store.db import make_engine

    if args.input is None and (args.lon is None or args.lat is None):
        raise UsageError("give --lon and --lat, or --input FILE")
    engine = make_engine(settings.database_url)
    try:
        ctx = RoutingCache.from_settings(engine, settings)()
    finally:
        engine.dispose()
    if args.input is None:
        try:
            lon, lat = to_wgs84(args.lon, args.lat, args.crs)
        except OutsideChina as exc:
            raise UsageError(str(exc)) from None
        say(json.dumps(decide_route(ctx, lon, lat, args.category), ensure_ascii=False))
        return 0
    import csv

    stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8", newline="")
    out = sys.stdout
    with stream:
        reader = csv.DictReader(stream)
        if not reader.fieldnames or not {"lon", "lat"} <= set(reader.fieldnames):
            raise UsageError("the CSV needs a header with lon,lat[,crs][,category]")
        while True:  # in chunks: the placements of a chunk are computed together (Router.place_many)
            chunk = list(itertools.islice(reader, 10_000))
            if not chunk:
                break
            rows, decisions = [], []
            for line_no, row in enumerate(chunk, start=reader.line_num - len(chunk) + 1):
                try:
                    lon, lat = to_wgs84(float(row["lon"]), float(row["lat"]), row.get("crs") or args.crs)
                    rows.append((lon, lat, row.get("category") or args.category))
                    decisions.append(None)
                except (ValueError, TypeError, OutsideChina) as exc:
                    decisions.append({"error": {"line": line_no, "message": str(exc)}})
            routed = iter(decide_routes(ctx, rows))
            out.write("".join(json.dumps(d if d is not None else next(routed), ensure_ascii=False) + "\n"
                              for d in decisions))
    return 0


def _wiring(settings: Settings):
    from yunguan.wiring import build

    return build(settings)


def cmd_serve(settings: Settings, args) -> int:
    from application.routing import RoutingCache
    from web.app import create_app

    deps = _wiring(settings)
    app, socketio = create_app(deps, RoutingCache.from_settings(deps.engine, settings))
    host = args.host or settings.web_host
    port = args.port or settings.web_port
    say(f"serve: http://{host}:{port}/console")
    socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True, use_reloader=False, log_output=False)
    return 0


def cmd_worker(settings: Settings, args) -> int:
    from streams.worker import run_until_signalled
    from yunguan.wiring import build_worker

    deps = _wiring(settings)
    if settings.worker_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, addr=settings.web_host)
        say(f"worker metrics on http://{settings.web_host}:{settings.worker_metrics_port}/metrics", err=True)
    try:
        run_until_signalled(build_worker(deps))
    finally:
        deps.close()
    return 0


def cmd_status(settings: Settings, args) -> int:
    """Is intake flowing: exit 0 when it is, 1 when something needs an operator (contract §11)."""
    from streams.status import intake_status

    deps = _wiring(settings)
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
        say(f"  {w['worker_id']:<40} {w['state']:<9} beat {w['beat_at'][11:19]}  partitions "
            f"{len(w['partitions'])}  lag {w['lag'] if w['lag'] is not None else '-'}  messages {w['messages']}"
            + (f"  — {w['reason']}" if w["reason"] else ""))
    say(f"lag        {sum(p['lag'] for p in status.partitions)} in all")
    for p in status.partitions:
        if p["lag"]:
            say(f"  {p['topic']}[{p['partition']}]  committed {p['committed']}  end {p['end']}  lag {p['lag']}")
    say(f"dead letters {status.dead_letters if status.dead_letters is not None else '?'} (`yunguan dlq list`)")
    say(f"reconcile  {status.reconcile_gaps} gap(s)")
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

    if args.rate <= 0:
        raise UsageError("--rate must be positive")
    deps = _wiring(settings)
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


def cmd_escalate(settings: Settings, args) -> int:
    """The deadline pass as of now or `--now`. An instant ahead of this machine's clock (beyond
    `future_skew_s`) would write future-dated history into the live database, so it is refused unless
    `--dry-run`, which prints what would change and writes nothing."""
    from datetime import UTC, datetime, timedelta

    from application.escalate import escalation_run

    clock = datetime.now(UTC)
    now = clock
    if args.now:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            raise UsageError(f"--now {args.now!r} is not RFC 3339") from None
        if now.tzinfo is None:
            raise UsageError("--now needs a UTC offset, e.g. 2026-11-23T09:00:00+08:00")
        ahead = now - clock
        if ahead > timedelta(seconds=settings.future_skew_s) and not args.dry_run:
            raise UsageError(
                f"--now {args.now} is {ahead.total_seconds():.0f} s ahead of this machine's clock "
                f"({clock.isoformat(timespec='seconds')}; allowed skew {settings.future_skew_s:g} s): a pass in the "
                "future would write future-dated history into the live database; add --dry-run to see what "
                "it would change")
    deps = _wiring(settings)
    try:
        result = escalation_run(deps.engine, deps.loop(), now, dry_run=args.dry_run)
    finally:
        deps.close()
    if not result.ran:
        say("escalate: another process is running the deadline pass; nothing done", err=True)
        return 1
    for change in result.applied:
        print(json.dumps({**change, "dry_run": True} if args.dry_run else change, ensure_ascii=False))
    if args.dry_run:
        say(f"escalate --dry-run: {len(result.applied)} change(s) and {result.relit} deadline light(s) would "
            f"change as of {now.isoformat()}; nothing written", err=True)
    else:
        say(f"escalate: {len(result.applied)} change(s) as of {now.isoformat()}, {result.skipped} skipped "
            "(changed meanwhile)", err=True)
    return 0


def cmd_audit_verify(settings: Settings, args) -> int:
    """Every chain recomputed and checked against every signed checkpoint (the configured log, or a copy
    given with --checkpoints); one JSON line per finding, exit 1 if any."""
    from store.audit import verify

    path = Path(args.checkpoints) if args.checkpoints else None
    if path is not None and not path.is_file():
        raise UsageError(f"--checkpoints {path}: no such file")
    deps = _wiring(settings)
    try:
        report = verify(deps.engine, settings, path)
    finally:
        deps.close()
    for b in report.broken:
        print(json.dumps({"ticket_no": b.ticket_no, "entry_id": b.entry_id, "reason": b.reason}, ensure_ascii=False))
    for problem in report.log.problems:
        print(json.dumps({"checkpoints": str(report.path), "reason": problem}, ensure_ascii=False))
    last = report.log.last
    anchored = (f"{len(report.log.checkpoints)} checkpoint(s) in {report.path}, the latest #{last.seq} at {last.at}"
                if last else f"no checkpoint in {report.path} yet (chains checked only)")
    if not report.ok:
        say(f"audit: {len({b.ticket_no for b in report.broken})} ticket(s) with altered history, "
            f"{len(report.log.problems)} problem(s) in the checkpoint log; {anchored}", err=True)
        return 1
    say(f"audit: {report.entries} history entries, every chain intact and consistent with {anchored}", err=True)
    return 0


def cmd_audit_checkpoint(settings: Settings, args) -> int:
    """Append a signed checkpoint now (the workers do it every `audit_checkpoint_every_s`)."""
    from datetime import UTC, datetime

    from store.audit import write_checkpoint

    deps = _wiring(settings)
    try:
        cp = write_checkpoint(deps.engine, settings, datetime.now(UTC))
    finally:
        deps.close()
    if cp is None:
        say("audit: another process is writing a checkpoint; nothing done", err=True)
        return 1
    print(json.dumps({"seq": cp.seq, "at": cp.at, "database": cp.database, "tickets": cp.tickets,
                      "entries": cp.entries, "changed": len(cp.heads), "file": str(settings.audit_checkpoints_path)},
                     ensure_ascii=False))
    return 0


def cmd_categories_load(settings: Settings, args) -> int:
    from dispatch.errors import TaxonomyError
    from yunguan.demo import load_categories

    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    deps = _wiring(settings)
    try:
        count = load_categories(deps.engine, path)
    except TaxonomyError as exc:
        raise UsageError(str(exc)) from None
    finally:
        deps.close()
    say(f"categories: {count} loaded from {path}")
    return 0


def cmd_reconcile(settings: Settings, args) -> int:
    from datetime import timedelta

    from store import intake_log
    from streams.producer import encode, make_producer, send_confirmed

    deps = _wiring(settings)
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

    deps = _wiring(settings)
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
    deps = _wiring(settings)
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


def _read_password(args) -> str:
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the passwords differ")
    return password


def cmd_users_add(settings: Settings, args) -> int:
    from sqlalchemy.exc import IntegrityError

    from store.db import make_engine
    from store.users import UserError, add_user

    password = _read_password(args)
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            user = add_user(conn, args.name, password, args.role, args.unit, args.grid, args.supervisor,
                            replace=args.replace)
    except (UserError, IntegrityError) as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    finally:
        engine.dispose()
    say(json.dumps({"username": user.username, "role": user.role, "unit": user.unit_code, "grid": user.grid_code,
                    "supervisor": user.supervisor}, ensure_ascii=False))
    return 0


def cmd_users_active(settings: Settings, args) -> int:
    from store.db import make_engine
    from store.users import UserError, set_active

    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            user = set_active(conn, args.name, args.active)
    except UserError as exc:
        raise UsageError(str(exc)) from None
    finally:
        engine.dispose()
    say(f"users: {user.username} {'enabled' if user.active else 'disabled; its tokens and sockets end'}")
    return 0


def cmd_users_totp(settings: Settings, args) -> int:
    """Enrol (or replace, or remove) an account's TOTP second factor; the secret is printed once, for the
    person to scan into an authenticator app (decision 0011)."""
    from store.db import make_engine
    from store.users import UserError, enrol_totp, remove_totp

    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            if args.remove:
                remove_totp(conn, args.name)
            else:
                secret, uri = enrol_totp(conn, args.name)
    except UserError as exc:
        raise UsageError(str(exc)) from None
    finally:
        engine.dispose()
    if args.remove:
        say(f"users: {args.name} has no second factor now")
    else:
        say(f"secret: {secret}")
        say(uri)
    return 0


def cmd_users_logins(settings: Settings, args) -> int:
    """The login record, newest first, as JSON lines: who, from where, when, how it ended."""
    from store.db import make_engine
    from store.logins import attempts

    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            rows = attempts(conn, args.name, args.limit)
    finally:
        engine.dispose()
    for row in rows:
        say(json.dumps({**row, "at": row["at"].isoformat()}, ensure_ascii=False))
    return 0


def cmd_schema(settings: Settings, args) -> int:
    from application.envelope import json_schema

    text = json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_demo(settings: Settings, args) -> int:
    import secrets

    from store.db import make_engine
    from yunguan.demo import load_demo_data

    # Loading data needs only the database: --data-only never starts a broker it would leave running.
    cmd_up(settings, argparse.Namespace(no_broker=args.data_only))
    engine = make_engine(settings.database_url)
    try:
        accounts = load_demo_data(engine, say)
    finally:
        engine.dispose()
    if args.data_only:
        _print_accounts(accounts, None)
        return 0
    env = dict(os.environ)
    env.setdefault("YUNGUAN_SECRET_KEY", settings.secret_key if os.environ.get("YUNGUAN_SECRET_KEY") else secrets.token_hex(32))
    exe = [sys.executable, "-m", "yunguan.cli"]
    host = args.host or settings.web_host
    port = args.port or settings.web_port
    children = [
        subprocess.Popen([*exe, "serve", "--host", host, "--port", str(port)], env=env),
        subprocess.Popen([*exe, "worker"], env=env),
        subprocess.Popen([*exe, "simulate", "--rate", str(args.rate), "--duration", "0"], env=env),
    ]
    url = f"http://{host}:{port}/console"
    _print_accounts(accounts, url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set():
            if any(c.poll() is not None for c in children):
                say("demo: a process exited; stopping the others")
                break
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    for c in children:
        if c.poll() is None:
            c.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for c in children:
        try:
            c.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            c.kill()
    say("demo: stopped (the broker keeps running; `yunguan down` stops it)")
    return 0


def _print_accounts(accounts, url) -> None:
    if url:
        say(f"\n  console: {url}")
    say(f"  demo accounts (password for all: {accounts[0][1]}):")
    for username, _, what in accounts:
        say(f"    {username:<10} {what}")
    say("")


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yunguan", description="Yunguan city operation-management-service platform")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="make PostgreSQL+PostGIS and the broker ready, create topics, migrate")
    up.add_argument("--no-broker", action="store_true", help="only the database (tests start their own broker)")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop the broker that `up` started").set_defaults(func=cmd_down)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    topics = sub.add_parser("topics", help="Kafka topics").add_subparsers(dest="topics_command", required=True)
    topics.add_parser("create", help="create the contract's topics").set_defaults(func=cmd_topics_create)

    areas = sub.add_parser("areas", help="administrative areas").add_subparsers(dest="areas_command", required=True)
    load = areas.add_parser("load", help="load or replace a level of areas from GeoJSON or Shapefile")
    load.add_argument("path")
    load.add_argument("--level", required=True, choices=["district", "street", "community", "grid"])
    load.add_argument("--crs", default="wgs84", choices=["wgs84", "gcj02", "bd09", "cgcs2000"])
    load.add_argument("--code-field", default="code")
    load.add_argument("--name-field", default="name")
    load.add_argument("--parent-field", default=None)
    load.add_argument("--valid-from", default=None, metavar="YYYY-MM-DD",
                      help="the day the new polygons take effect (default: today in the city's time zone); "
                           "the polygons valid before stay as history")
    load.set_defaults(func=cmd_areas_load)

    duties = sub.add_parser("duties", help="the responsibility matrix (权责清单)").add_subparsers(
        dest="duties_command", required=True)
    duties_load = duties.add_parser("load", help="replace the matrix from YAML (rules:) or CSV")
    duties_load.add_argument("path")
    duties_load.set_defaults(func=cmd_duties_load)

    zones = sub.add_parser("zones", help="special zones: parks, campuses, railway land, trunk roads").add_subparsers(
        dest="zones_command", required=True)
    zones_load = zones.add_parser("load", help="replace the zones from GeoJSON (code, name, kind)")
    zones_load.add_argument("path")
    zones_load.add_argument("--crs", default="wgs84", choices=["wgs84", "gcj02", "bd09", "cgcs2000"])
    zones_load.add_argument("--buffer-m", type=float, default=30.0, help="corridor width each side of a line")
    zones_load.set_defaults(func=cmd_zones_load)

    places = sub.add_parser("places", help="the gazetteer for geocoding addresses").add_subparsers(
        dest="places_command", required=True)
    places_load = places.add_parser("load", help="replace the gazetteer from GeoJSON (name, kind)")
    places_load.add_argument("path")
    places_load.add_argument("--crs", default="wgs84", choices=["wgs84", "gcj02", "bd09", "cgcs2000"])
    places_load.set_defaults(func=cmd_places_load)

    route = sub.add_parser("route", help="print routing decisions as JSON")
    route.add_argument("--lon", type=float)
    route.add_argument("--lat", type=float)
    route.add_argument("--crs", default="wgs84", choices=["wgs84", "gcj02", "bd09", "cgcs2000"])
    route.add_argument("--category")
    route.add_argument("--input", help="CSV with header lon,lat[,crs][,category]; - for stdin")
    route.set_defaults(func=cmd_route)

    serve = sub.add_parser("serve", help="web API and Socket.IO consoles")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("worker", help="consume reports, write tickets, publish events").set_defaults(func=cmd_worker)

    sim = sub.add_parser("simulate", help="publish synthetic reports")
    sim.add_argument("--rate", type=float, default=5.0, help="reports per second")
    sim.add_argument("--duration", type=float, default=60.0, help="seconds; 0 runs until interrupted")
    sim.add_argument("--seed", type=int)
    sim.add_argument("--malformed", type=float, default=0.01, help="share of broken messages (dead-lettered)")
    sim.add_argument("--duplicates", type=float, default=0.02, help="share of messages re-sent byte for byte")
    sim.add_argument("--no-photos", action="store_true", help="grid reports without synthetic photos")
    sim.set_defaults(func=cmd_simulate)

    esc = sub.add_parser("escalate", help="run the deadline/escalation pass as of now (or --now)")
    esc.add_argument("--now", help="RFC 3339 instant to run the pass as of (not in the future, unless --dry-run)")
    esc.add_argument("--dry-run", action="store_true", help="print what would change and write nothing")
    esc.set_defaults(func=cmd_escalate)

    audit = sub.add_parser("audit", help="check the history's hash chains").add_subparsers(dest="audit_cmd",
                                                                                           required=True)
    audit_verify = audit.add_parser("verify", help="report every ticket whose history was altered, against the "
                                    "chains and every signed checkpoint")
    audit_verify.add_argument("--checkpoints", help="a copy of the checkpoint log to check against (default: "
                              "audit_checkpoints)")
    audit_verify.set_defaults(func=cmd_audit_verify)
    audit.add_parser("checkpoint", help="append a signed checkpoint of every ticket's history head now").set_defaults(
        func=cmd_audit_checkpoint)

    cats = sub.add_parser("categories", help="the category taxonomy (立案结案标准)").add_subparsers(
        dest="categories_cmd", required=True)
    cats_load = cats.add_parser("load", help="check and load a category table (CSV)")
    cats_load.add_argument("path")
    cats_load.set_defaults(func=cmd_categories_load)

    st = sub.add_parser("status", help="is intake flowing: broker, topics, workers, lag, dead letters, gaps")
    st.add_argument("--json", action="store_true", help="machine-readable")
    st.set_defaults(func=cmd_status)
    grp = sub.add_parser("group", help="the workers' consumer group").add_subparsers(dest="group_command",
                                                                                     required=True)
    gr = grp.add_parser("recover", help="delete a group that never forms again, keeping its committed offsets")
    gr.add_argument("--group", help="default: the worker group of the settings")
    gr.set_defaults(func=cmd_group_recover)
    rec = sub.add_parser("reconcile", help="list (and re-publish) HTTP-accepted reports that have no ticket")
    rec.add_argument("--grace", type=float, help="seconds to wait before a report counts as missing")
    rec.add_argument("--republish", action="store_true", help="publish the missing reports again")
    rec.set_defaults(func=cmd_reconcile)

    dlq = sub.add_parser("dlq", help="dead letters").add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq.add_parser("list", help="print dead letters as JSON lines")
    dlq_list.add_argument("--limit", type=int, default=0)
    dlq_list.add_argument("--width", type=int, default=200, help="truncate raw bodies to this many characters")
    dlq_list.set_defaults(func=cmd_dlq_list)
    dlq_replay = dlq.add_parser("replay", help="re-submit dead letters to their original topic")
    dlq_replay.add_argument("--offset", action="append", help="PARTITION:OFFSET in reports.dlq (repeatable)")
    dlq_replay.add_argument("--all", action="store_true", help="every letter not yet replayed by --all")
    dlq_replay.add_argument("--again", action="store_true", help="also letters that were replayed before")
    dlq_replay.set_defaults(func=cmd_dlq_replay)

    users = sub.add_parser("users", help="accounts").add_subparsers(dest="users_command", required=True)
    add = users.add_parser("add", help="create an account; password from stdin or prompt")
    add.add_argument("name")
    from dispatch.vocabulary import ACCOUNT_ROLES

    add.add_argument("--role", required=True, choices=ACCOUNT_ROLES)
    add.add_argument("--unit")
    add.add_argument("--grid")
    add.add_argument("--supervisor", action="store_true")
    add.add_argument("--replace", action="store_true",
                     help="update an existing account (its tokens and open sockets end)")
    add.set_defaults(func=cmd_users_add)
    for verb, active in (("disable", False), ("enable", True)):
        toggle = users.add_parser(verb, help=f"{verb} an account")
        toggle.add_argument("name")
        toggle.set_defaults(func=cmd_users_active, active=active)
    totp = users.add_parser("totp", help="enrol a TOTP second factor; prints the secret and the otpauth:// URI")
    totp.add_argument("name")
    totp.add_argument("--remove", action="store_true", help="remove the account's second factor")
    totp.set_defaults(func=cmd_users_totp)
    record = users.add_parser("logins", help="the login record (failures and successes), newest first")
    record.add_argument("name", nargs="?")
    record.add_argument("--limit", type=int, default=100)
    record.set_defaults(func=cmd_users_logins)

    schema = sub.add_parser("schema", help="print the report envelope's JSON Schema")
    schema.add_argument("--output", "-o")
    schema.set_defaults(func=cmd_schema)

    demo = sub.add_parser("demo", help="up + demo data + serve + worker + simulate")
    demo.add_argument("--data-only", action="store_true", help="load the demo data and exit")
    demo.add_argument("--rate", type=float, default=2.0, help="simulated reports per second")
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        settings = load_settings()
        return args.func(settings, args)
    except (UsageError, SettingsError) as exc:
        print(f"yunguan: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: a clear message, status 1
        from yunguan.services import SetupError

        if isinstance(exc, SetupError):
            print(f"yunguan: {exc}", file=sys.stderr)
        else:
            log.exception("failed")
        return 1


if __name__ == "__main__":
    sys.exit(main())
