"""`yunguan`: the one console script (contract §1). Exit 0 on success, 2 on bad usage or input, 1 otherwise.

A package of command groups (setup, data, intake, loop, users); this module builds the parser and runs the
command. Each command is a thin adapter: parse, call the application layer or store, print."""
from __future__ import annotations

import argparse
import logging
import sys

from config import SettingsError, load_settings
from yunguan.cli import apikeys, exchange, lifeline, notify
from yunguan.cli.common import UsageError, log
from yunguan.cli.data import (
    cmd_areas_load,
    cmd_categories_load,
    cmd_duties_load,
    cmd_places_load,
    cmd_route,
    cmd_zones_load,
)
from yunguan.cli.intake import (
    cmd_dlq_list,
    cmd_dlq_replay,
    cmd_group_recover,
    cmd_reconcile,
    cmd_serve,
    cmd_simulate,
    cmd_status,
    cmd_worker,
)
from yunguan.cli.kpi import cmd_kpi_rebuild
from yunguan.cli.loop import cmd_audit_checkpoint, cmd_audit_verify, cmd_escalate
from yunguan.cli.setup import cmd_db_upgrade, cmd_demo, cmd_down, cmd_schema, cmd_topics_create, cmd_up
from yunguan.cli.users import cmd_users_active, cmd_users_add, cmd_users_logins, cmd_users_totp


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
    sim.add_argument("--history", type=int, metavar="DAYS",
                     help="instead of live traffic: write DAYS days of past traffic through the whole closed loop "
                          "(reports, dispatch, handling, verification, deadline passes), ending now")
    sim.add_argument("--per-day", type=int, default=150, metavar="K",
                     help="with --history: reports on a working day (fewer at weekends and holidays)")
    sim.add_argument("--sensors", type=int, metavar="N",
                     help="instead of reports: N lifeline devices (gas, water, drainage, bridge, heating) registered "
                          "and publishing readings on sensors.readings (docs/lifeline.md)")
    sim.add_argument("--rate-per-device", type=float, default=0.1, metavar="R",
                     help="with --sensors: readings per second per device (default 0.1: one every 10 s)")
    sim.add_argument("--since", type=float, default=0.0, metavar="SECONDS",
                     help="with --sensors: start the series this many seconds in the past (published at once)")
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

    kpi = sub.add_parser("kpi", help="the evaluation's facts (综合评价)").add_subparsers(dest="kpi_cmd", required=True)
    rebuild = kpi.add_parser("rebuild", help="recompute the evaluation facts of every ticket from its loop state")
    rebuild.add_argument("--batch", type=int, default=2000, help="tickets per transaction")
    rebuild.set_defaults(func=cmd_kpi_rebuild)

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

    apikeys.register(sub)
    lifeline.register(sub)
    notify.register(sub)
    exchange.register(sub)

    schema = sub.add_parser("schema", help="print the report envelope's JSON Schema")
    schema.add_argument("--output", "-o")
    schema.set_defaults(func=cmd_schema)

    demo = sub.add_parser("demo", help="up + demo data + serve + worker + lifeline + notify + simulate")
    demo.add_argument("--data-only", action="store_true", help="load the demo data and exit")
    demo.add_argument("--rate", type=float, default=2.0, help="simulated reports per second")
    demo.add_argument("--history", type=int, default=30, metavar="DAYS",
                      help="days of simulated past traffic written before going live, when the database has no "
                           "tickets yet (default 30; 0: none)")
    demo.add_argument("--sensors", type=int, default=300, metavar="N",
                      help="simulated lifeline devices (gas, water, drainage, bridge, heating) reporting to "
                           "`yunguan lifeline` (default 300; 0: none)")
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
