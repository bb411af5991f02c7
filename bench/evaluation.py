"""综合评价 at city scale: a year of a large city (1,000,000 tickets over 12 months) in the facts table
(`ticket_kpi`), against the naive way of computing the same figures from `ticket_history` per request.

    .venv/bin/python bench/evaluation.py                 # about ten minutes: generation, then the measurements
    .venv/bin/python bench/evaluation.py --reuse         # measure again on the database generated before
    .venv/bin/python bench/evaluation.py --reuse --naive-runs 0   # only the API's side (two minutes)

It makes its own database (`yunguan_bench_evaluation`, dropped and recreated unless --reuse) with the demo's
areas (11 districts, 66 streets, 264 communities, 792 grid cells), units and categories, then writes, in SQL
(generate_series, seeded), N tickets with minimal rows, their facts rows, and the history the facts stand for:
opening, dispatch (with the deadlines it sets, `data.deadlines`), returns (upheld or not), acknowledgement,
extensions that move the handling deadline, handling, failed verification and rework, verification and
closure, about 5.6 entries per ticket. History is written as the database owner with foreign-key triggers
off (session_replication_role = replica), for speed only.

Measured, each the median of `--runs` runs after one warm-up, in one process against the same database:
- the evaluation as the API computes it (application.evaluate.evaluation, and GET /api/v1/evaluation through
  Flask's test client) for every `by`, for a month and for the whole year;
- the naive query (for every `by` over the year, and by unit for the month: it reads all history whatever the
  period, so the other months would repeat the same minutes): per-ticket facts aggregated from ticket_history (first dispatch, lead unit, first
  acknowledgement against the deadline its dispatch set, last handling against the latest deadline set,
  returns by the lead, rework, extensions, closure), then grouped the same way;
- hotspots (GET /api/v1/hotspots) per area level for the year, against counting openings from history.
Both ways must give the same figures; the script checks it for every breakdown and level.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text

from config import load_settings
from store.db import make_engine, with_database
from store.migrate import upgrade
from yunguan.services import drop_database, ensure_postgres

DATABASE = "yunguan_bench_evaluation"
TZ = "Asia/Shanghai"
YEAR = (date(2025, 12, 1), date(2026, 12, 1))
MONTH = (date(2026, 6, 1), date(2026, 7, 1))
NOW = datetime(2026, 12, 1, tzinfo=ZoneInfo(TZ))  # evaluated at the end of the generated year
BREAKDOWNS = ("unit", "district", "street", "community", "grid", "category")
LEVELS = ("district", "street", "community", "grid")

# One row of random draws per ticket; everything else is derived from it, so the tickets, their facts and
# their history tell the same story.
_DRAWS = """
CREATE UNLOGGED TABLE bench_draw AS
SELECT row_number() OVER (ORDER BY opened) AS id, d.* FROM (  -- ids in the order tickets were opened, as live
SELECT CAST(:t0 AS timestamptz) + random() * interval '365 days' AS opened,
       1 + floor(random() * :nchain)::int AS chain_n,
       1 + floor(random() * :nunit)::int AS unit_n,
       1 + floor(random() * (:nunit - 1))::int AS other_off,
       1 + floor(random() * :ncat)::int AS cat_n,
       (ARRAY['grid', 'hotline', 'public', 'sensor'])[1 + floor(random() * 4)::int] AS channel,
       random() AS r_ret, random() AS r_ack, random() AS r_ack_t, random() AS r_handle, random() AS r_handle_t,
       random() AS r_ext, random() AS r_rework, random() AS r_rework_t, random() AS r_close
FROM generate_series(1, :n) AS i) AS d
"""

# The story of each ticket: times of each step (NULL: it did not happen) and the deadlines in force.
_STORY = """
CREATE UNLOGGED TABLE bench_story AS
WITH a AS (
  SELECT d.*, c.grid, c.community, c.street, c.district, u.code AS lead, o.code AS other, k.code AS category,
         CASE WHEN d.r_ret < 0.03 THEN 'not_upheld' WHEN d.r_ret < 0.05 THEN 'upheld' END AS ret,
         d.opened + CASE WHEN d.r_ret < 0.05 THEN interval '30 minutes' ELSE interval '0' END AS dispatched
  FROM bench_draw d JOIN bench_chain c ON c.n = d.chain_n JOIN bench_unit u ON u.n = d.unit_n
  JOIN bench_unit o ON o.n = 1 + (d.unit_n - 1 + d.other_off) % :nunit JOIN bench_cat k ON k.n = d.cat_n
), b AS (
  SELECT a.*, a.dispatched + interval '1 hour' AS ack_due,
         CASE WHEN a.ret = 'not_upheld' THEN a.opened ELSE a.dispatched END + interval '4 hours' AS handle_due0,
         CASE WHEN a.r_ack < 0.92 THEN a.dispatched + a.r_ack_t * interval '100 minutes' END AS ack_at
  FROM a
), c AS (
  SELECT b.*, CASE WHEN b.ack_at IS NOT NULL AND b.r_handle < 0.88
                   THEN b.ack_at + b.r_handle_t * interval '6 hours' END AS handle1_at,
         b.ack_at IS NOT NULL AND b.r_ext < 0.05 AS extended
  FROM b
), e AS (
  SELECT c.*, CASE WHEN c.extended THEN c.ack_at + interval '10 minutes' END AS ext_at,
         c.handle_due0 + CASE WHEN c.extended THEN interval '4 hours' ELSE interval '0' END AS handle_due1,
         CASE WHEN c.handle1_at IS NOT NULL AND c.r_rework < 0.06 THEN c.handle1_at + interval '1 hour' END AS fail_at
  FROM c
), f AS (
  SELECT e.*, CASE WHEN e.fail_at IS NOT NULL AND e.r_rework_t < 0.9
                   THEN e.fail_at + e.r_rework_t * interval '6 hours' END AS handle2_at
  FROM e
)
SELECT f.*, coalesce(f.handle2_at, f.handle1_at) AS last_handle,
       -- the deadline the last handling was held to, and the running handle clock's (unhandled, or reworking)
       CASE WHEN f.handle2_at IS NOT NULL THEN f.fail_at + interval '4 hours'
            WHEN f.handle1_at IS NOT NULL THEN f.handle_due1 END AS handled_due,
       CASE WHEN f.fail_at IS NOT NULL AND f.handle2_at IS NULL THEN f.fail_at + interval '4 hours'
            WHEN f.handle1_at IS NULL THEN f.handle_due1 END AS running_due,
       CASE WHEN f.r_close < 0.8 AND f.handle1_at IS NOT NULL AND (f.fail_at IS NULL OR f.handle2_at IS NOT NULL)
            THEN coalesce(f.handle2_at, f.handle1_at) + interval '70 minutes' END AS closed_at
FROM f
"""

_TICKETS = """
INSERT INTO tickets (id, ticket_no, status, version, category, area, routing, assignee_code, district_code,
                     grid_code, created_at, updated_at, closed_at)
SELECT s.id, 'BE' || lpad(s.id::text, 9, '0'),
       CASE WHEN s.closed_at IS NOT NULL THEN 'closed' WHEN s.running_due IS NOT NULL AND s.fail_at IS NOT NULL
            THEN 'reopened' WHEN s.last_handle IS NOT NULL THEN 'handled' WHEN s.ack_at IS NOT NULL
            THEN 'acknowledged' ELSE 'dispatched' END,
       1, s.category,
       jsonb_build_object('district', jsonb_build_object('code', s.district),
                          'street', jsonb_build_object('code', s.street),
                          'community', jsonb_build_object('code', s.community),
                          'grid', jsonb_build_object('code', s.grid)),
       '{}'::jsonb, s.lead, s.district, s.grid, s.opened, s.opened, s.closed_at
FROM bench_story s ORDER BY s.id
"""

_FACTS = """
INSERT INTO ticket_kpi (ticket_id, created_at, channel, category, district_code, street_code, community_code,
                        grid_code, status, first_dispatched_at, lead_unit, acknowledged_on_time, handled,
                        handled_on_time, handled_late, handled_due, reworked, returned, extended, closed_at,
                        ack_due, handle_due)
SELECT s.id, s.opened, s.channel, s.category, s.district, s.street, s.community, s.grid, t.status, s.opened,
       s.lead, coalesce(s.ack_at <= s.ack_due, false), s.last_handle IS NOT NULL,
       coalesce(s.last_handle <= s.handled_due, false), coalesce(s.last_handle > s.handled_due, false),
       s.handled_due, s.fail_at IS NOT NULL, s.ret IS NOT DISTINCT FROM 'not_upheld', s.extended, s.closed_at,
       CASE WHEN s.ack_at IS NULL THEN s.ack_due END, s.running_due
FROM bench_story s JOIN tickets t ON t.id = s.id ORDER BY s.id  -- in the order opened, as live
"""

# History rows: (ticket, at, order within the ticket, actor, role, action, from, to, data).
_HISTORY = """
INSERT INTO ticket_history (ticket_id, at, actor, role, party, action, from_status, to_status, data)
SELECT ticket_id, at, actor, role, party, action, from_status, to_status, data FROM (
  SELECT id AS ticket_id, opened AS at, 0 AS o, 'system' AS actor, 'system' AS role, 'system' AS party,
         'register' AS action, NULL AS from_status, 'registered' AS to_status, NULL::jsonb AS data FROM bench_story
  UNION ALL
  SELECT id, opened, 1, 'system', 'system', 'system', 'dispatch', 'registered', 'dispatched',
         jsonb_build_object('to_unit', CASE WHEN ret = 'upheld' THEN other ELSE lead END,
           'deadline', opened + interval '4 hours', 'deadlines', jsonb_build_object(
             'acknowledge', opened + interval '1 hour', 'handle', opened + interval '4 hours'))
  FROM bench_story
  UNION ALL
  SELECT id, opened + interval '10 minutes', 2, 'staff', 'department', 'lead', 'return', 'dispatched', 'returned',
         jsonb_build_object('unit', CASE WHEN ret = 'upheld' THEN other ELSE lead END, 'returns', 1)
  FROM bench_story WHERE ret IS NOT NULL
  UNION ALL
  SELECT id, dispatched, 3, 'duty', 'operator', 'supervisor', 'dispatch', 'returned', 'dispatched',
         jsonb_build_object('to_unit', lead, 'deadline', handle_due0, 'deadlines', jsonb_build_object(
           'acknowledge', ack_due, 'handle', handle_due0))
  FROM bench_story WHERE ret IS NOT NULL
  UNION ALL
  SELECT id, ack_at, 4, 'staff', 'department', 'lead', 'acknowledge', 'dispatched', 'acknowledged',
         jsonb_build_object('unit', lead) FROM bench_story WHERE ack_at IS NOT NULL
  UNION ALL
  SELECT id, ext_at, 5, 'duty', 'operator', 'supervisor', 'approve_extension', 'acknowledged', 'suspended',
         jsonb_build_object('minutes', 240, 'deadline', handle_due1, 'deadlines', jsonb_build_object(
           'acknowledge', NULL, 'handle', handle_due1))
  FROM bench_story WHERE ext_at IS NOT NULL
  UNION ALL
  SELECT id, handle1_at, 6, 'staff', 'department', 'lead', 'handle', 'acknowledged', 'handled',
         jsonb_build_object('unit', lead) FROM bench_story WHERE handle1_at IS NOT NULL
  UNION ALL
  SELECT id, fail_at, 7, 'gw', 'grid', 'grid', 'fail_verify', 'handled', 'reopened',
         jsonb_build_object('unit', lead, 'deadline', fail_at + interval '4 hours', 'deadlines',
           jsonb_build_object('acknowledge', NULL, 'handle', fail_at + interval '4 hours'))
  FROM bench_story WHERE fail_at IS NOT NULL
  UNION ALL
  SELECT id, handle2_at, 8, 'staff', 'department', 'lead', 'handle', 'reopened', 'handled',
         jsonb_build_object('unit', lead) FROM bench_story WHERE handle2_at IS NOT NULL
  UNION ALL
  SELECT id, closed_at - interval '10 minutes', 9, 'gw', 'grid', 'grid', 'verify', 'handled', 'verified', NULL
  FROM bench_story WHERE closed_at IS NOT NULL
  UNION ALL
  SELECT id, closed_at, 10, 'duty', 'operator', 'supervisor', 'close', 'verified', 'closed', NULL
  FROM bench_story WHERE closed_at IS NOT NULL
) h ORDER BY ticket_id, o
"""

# The naive way: the same counts from the history of every ticket, per request.
_NAIVE_PER_TICKET = """
WITH h AS (
  SELECT ticket_id, id, at, action, data, (data->>'deadline')::timestamptz AS set_due,
         count(data->>'deadline') OVER (PARTITION BY ticket_id ORDER BY id) AS run
  FROM ticket_history
), hd AS (  -- each entry with the deadline in force after it (the latest one set so far)
  SELECT h.*, first_value(set_due) OVER (PARTITION BY ticket_id, run ORDER BY id) AS due FROM h
), per AS (
  SELECT ticket_id,
         min(at) FILTER (WHERE action = 'dispatch') AS first_dispatch,
         (array_agg(data->>'to_unit' ORDER BY id DESC) FILTER (WHERE action IN ('dispatch', 'reassign')))[1] AS lead,
         (array_agg((data->'deadlines'->>'acknowledge')::timestamptz ORDER BY id DESC)
           FILTER (WHERE action IN ('dispatch', 'reassign')))[1] AS ack_due,
         min(at) FILTER (WHERE action = 'acknowledge') AS ack_at,
         max(at) FILTER (WHERE action = 'handle') AS last_handle,
         (array_agg(due ORDER BY id DESC) FILTER (WHERE action = 'handle'))[1] AS handled_due,
         coalesce(max(id) FILTER (WHERE action = 'fail_verify'), 0) > coalesce(max(id) FILTER (WHERE action = 'handle'), 0)
           AS unhandled,
         (array_agg(due ORDER BY id DESC))[1] AS due_now,
         array_agg(data->>'unit') FILTER (WHERE action = 'return') AS returners,
         array_agg(data->>'unit') FILTER (WHERE action = 'fail_verify') AS failed,
         bool_or(action = 'approve_extension') AS extended,
         bool_or(action = 'close') AS closed
  FROM hd GROUP BY ticket_id
), pop AS (
  SELECT p.*, t.category, t.area FROM per p JOIN tickets t ON t.id = p.ticket_id
  WHERE p.first_dispatch >= :since AND p.first_dispatch < :until
)
SELECT {key} AS key, count(*) AS dispatched,
       count(*) FILTER (WHERE ack_at <= ack_due) AS acknowledged_on_time,
       count(*) FILTER (WHERE last_handle IS NOT NULL) AS handled,
       count(*) FILTER (WHERE last_handle <= handled_due) AS handled_on_time,
       count(*) FILTER (WHERE last_handle > handled_due OR ((unhandled OR last_handle IS NULL) AND due_now < :now))
         AS overdue,
       count(*) FILTER (WHERE lead = ANY(failed)) AS reworked,
       count(*) FILTER (WHERE lead = ANY(returners)) AS returned,
       count(*) FILTER (WHERE extended) AS extended,
       count(*) FILTER (WHERE closed) AS closed
FROM pop GROUP BY 1
"""
_NAIVE_KEYS = {"unit": "lead", "category": "category", **{lv: f"area->'{lv}'->>'code'" for lv in LEVELS}}

_NAIVE_HOTSPOTS = """
SELECT t.area->'{level}'->>'code' AS code, count(*) AS n
FROM (SELECT ticket_id, min(at) AS opened, bool_or(action = 'reject') AS rejected FROM ticket_history
      GROUP BY ticket_id) h JOIN tickets t ON t.id = h.ticket_id
WHERE h.opened >= :since AND h.opened < :until AND NOT h.rejected AND t.area->'{level}'->>'code' IS NOT NULL
GROUP BY 1
"""


def generate(engine, n: int, seed: float) -> None:
    from yunguan.demo import load_demo_data

    load_demo_data(engine, lambda _: None)
    t0 = datetime.combine(YEAR[0], datetime.min.time(), ZoneInfo(TZ))
    with engine.begin() as conn:
        conn.execute(text("SET session_replication_role = replica"))  # no FK triggers: speed only
        conn.execute(text("CREATE UNLOGGED TABLE bench_chain AS SELECT row_number() OVER (ORDER BY g.code) AS n, "
                          "g.code AS grid, c.code AS community, s.code AS street, d.code AS district FROM areas g "
                          "JOIN areas c ON c.code = g.parent_code JOIN areas s ON s.code = c.parent_code "
                          "JOIN areas d ON d.code = s.parent_code WHERE g.level = 'grid'"))
        conn.execute(text("CREATE UNLOGGED TABLE bench_unit AS SELECT row_number() OVER (ORDER BY code) AS n, code "
                          "FROM units WHERE level IN ('district', 'street')"))
        conn.execute(text("CREATE UNLOGGED TABLE bench_cat AS SELECT row_number() OVER (ORDER BY code) AS n, code "
                          "FROM categories WHERE length(code) = 6 AND ack_limit_h IS NOT NULL"))
        counts = {name: conn.execute(text(f"SELECT count(*) FROM bench_{name}")).scalar_one()
                  for name in ("chain", "unit", "cat")}
        conn.execute(text("SELECT setseed(:s)"), {"s": seed})
        steps = [("draws", _DRAWS, {"t0": t0, "n": n, "nchain": counts["chain"], "nunit": counts["unit"],
                                    "ncat": counts["cat"]}),
                 ("story", _STORY, {"nunit": counts["unit"]}), ("tickets", _TICKETS, {}), ("facts", _FACTS, {}), ("history", _HISTORY, {})]
        for name, sql, params in steps:
            started = time.monotonic()
            conn.execute(text(sql), params)
            print(f"  generated {name} in {time.monotonic() - started:.1f} s", flush=True)
        conn.execute(text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), :n)"), {"n": n})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        started = time.monotonic()
        conn.execute(text("VACUUM ANALYZE tickets"))
        conn.execute(text("VACUUM ANALYZE ticket_kpi"))
        conn.execute(text("VACUUM ANALYZE ticket_history"))
        print(f"  vacuum analyze in {time.monotonic() - started:.1f} s", flush=True)


def timed(fn, runs: int) -> tuple[float, object]:
    fn()  # warm-up
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def instants(period: tuple[date, date]) -> dict:
    tz = ZoneInfo(TZ)
    return {"since": datetime.combine(period[0], datetime.min.time(), tz),
            "until": datetime.combine(period[1], datetime.min.time(), tz), "now": NOW}


def measure(engine, settings, runs: int, naive_runs: int) -> list[tuple]:
    from application import evaluate
    from application.routing import RoutingCache
    from web.app import create_app
    from web.auth import Tokens
    from yunguan.wiring import build

    deps = build(settings)
    deps.clock = lambda: NOW
    app, _ = create_app(deps, RoutingCache.from_settings(deps.engine, settings), relay_events=False)
    client = app.test_client()
    with engine.begin() as conn:
        from store.users import add_user

        conn.execute(text("DELETE FROM users WHERE username = 'bench-duty'"))
        user = add_user(conn, "bench-duty", "bench-pass-1", "operator", supervisor=True)
    head = {"Authorization": f"Bearer {Tokens(settings.secret_key).issue(user)}"}
    results = []
    for label, period in (("month", MONTH), ("year", YEAR)):
        query = {"from": period[0].isoformat(), "to": period[1].isoformat()}
        for by in BREAKDOWNS:
            def api_call(by=by, period=period):
                with deps.engine.connect() as conn:
                    return evaluate.evaluation(conn, by, *period, now=NOW, timezone=TZ)

            def http_call(by=by, query=query):
                r = client.get("/api/v1/evaluation", headers=head, query_string={"by": by, **query})
                assert r.status_code == 200, r.get_data(as_text=True)[:300]
                return r.get_json()

            def naive_call(by=by, period=period):
                with engine.connect() as conn:
                    return conn.execute(text(_NAIVE_PER_TICKET.format(key=_NAIVE_KEYS[by])), instants(period)).all()

            fast, table = timed(api_call, runs)
            web, _ = timed(http_call, runs)
            ours = {r["key"]["code"]: r["counts"] for r in table["rows"]}
            slow = None
            if naive_runs and (label == "year" or by == "unit"):  # it reads all history whatever the period
                slow, naive = timed(naive_call, naive_runs)
                theirs = {r.key: {k: v for k, v in r._mapping.items() if k != "key"} for r in naive}
                assert ours == theirs, f"{label} by {by}: the facts and the history disagree"
            results.append((f"evaluation by {by}, {label}", len(ours), fast, web, slow))
            naive_text = f"naive {slow * 1000:8.1f} ms  ×{slow / web:6.1f}" if slow else ""
            print(f"  {results[-1][0]:<36} {len(ours):>4} rows  facts {fast * 1000:7.1f} ms  "
                  f"GET {web * 1000:7.1f} ms  {naive_text}", flush=True)
    query = {"from": YEAR[0].isoformat(), "to": YEAR[1].isoformat()}
    for level in LEVELS:
        def http_call(level=level):
            r = client.get("/api/v1/hotspots", headers=head, query_string={"level": level, **query})
            assert r.status_code == 200
            return json.loads(r.data)

        def naive_call(level=level):
            with engine.connect() as conn:
                return conn.execute(text(_NAIVE_HOTSPOTS.format(level=level)), instants(YEAR)).all()

        web, collection = timed(http_call, runs)
        slow = None
        if naive_runs:
            slow, naive = timed(naive_call, naive_runs)
            ours = {f["properties"]["code"]: f["properties"]["count"] for f in collection["features"]
                    if f["properties"]["count"]}
            assert ours == dict(naive), f"hotspots by {level}: the facts and the history disagree"
        results.append((f"hotspots {level}, year", len(collection["features"]), None, web, slow))
        naive_text = f"naive {slow * 1000:8.1f} ms  ×{slow / web:6.1f}" if slow else ""
        print(f"  {results[-1][0]:<36} {len(collection['features']):>4} areas {'':>19}GET {web * 1000:7.1f} ms  "
              f"{naive_text}", flush=True)
    deps.close()
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tickets", type=int, default=1_000_000)
    p.add_argument("--seed", type=float, default=0.16)
    p.add_argument("--runs", type=int, default=5, help="runs of each fast query (median)")
    p.add_argument("--naive-runs", type=int, default=1, help="runs of each naive query (median); 0: skip them")
    p.add_argument("--reuse", action="store_true", help="measure on the database generated before")
    args = p.parse_args()
    base = load_settings()
    url = with_database(base.database_url, DATABASE)
    engine = make_engine(url)
    if not args.reuse:
        print(f"generating {args.tickets:,} tickets over 12 months in {DATABASE} ...", flush=True)
        drop_database(url)
        ensure_postgres(url, lambda _: None)
        upgrade(engine)
        generate(engine, args.tickets, args.seed)
    with engine.connect() as conn:
        sizes = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                 for t in ("tickets", "ticket_kpi", "ticket_history")}
    print(f"{sizes['tickets']:,} tickets, {sizes['ticket_kpi']:,} facts rows, {sizes['ticket_history']:,} history "
          f"entries; evaluated as of {NOW.isoformat()} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", flush=True)
    results = measure(engine, base.replace(database_url=url, secret_key="bench"), args.runs, args.naive_runs)
    worst = max(web for *_, web, _ in results)
    print(f"slowest GET: {worst * 1000:.1f} ms (target: under 1000 ms)")
    engine.dispose()


if __name__ == "__main__":
    main()
