"""Exchange change-log compaction: `store.exchange.compact` (reads only the changes since its mark) against
compacting the whole log (the statement it replaced), on the same log in the same run.

    .venv/bin/python bench/compaction.py              # 1,000,000 rows, 1,000 new changes: about a minute
    .venv/bin/python bench/compaction.py --rows 200000 --new 500

The log is made in a database of its own (bench/_stage.py) as `exchange push` leaves it: one row per ticket,
compacted up to a mark, then `--new` changes of existing tickets above it. Each way runs in a transaction that
is rolled back, three times; the best time of each is printed with their ratio. Both must drop the same rows.
"""
from __future__ import annotations

import argparse
import sys
import time

from _stage import Stage  # bench/'s shared set-up: the script's folder is on sys.path
from sqlalchemy import text

from config import load_settings
from store.exchange import compact

WHOLE_LOG = text(
    "DELETE FROM exchange_changes c WHERE c.xid < :below AND EXISTS (SELECT 1 FROM exchange_changes l "
    "WHERE l.ticket_id = c.ticket_id AND l.xid > c.xid AND l.xid < :below)")


def timed(engine, run) -> tuple[float, int]:
    best, dropped = float("inf"), None
    for _ in range(3):
        with engine.connect() as conn, conn.begin() as txn:
            started = time.perf_counter()
            n = run(conn)
            best = min(best, time.perf_counter() - started)
            txn.rollback()
        assert dropped in (None, n)
        dropped = n
    return best, dropped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="tickets in the log (one row each)")
    parser.add_argument("--new", type=int, default=1_000, help="changes since the last compaction")
    args = parser.parse_args()
    with Stage(load_settings(), "yunguan_bench_compaction", bootstrap="127.0.0.1:9") as stage:
        with stage.engine.begin() as conn:
            # The bench's own database: the log without its tickets (the foreign key would need them).
            conn.execute(text("ALTER TABLE exchange_changes DROP CONSTRAINT IF EXISTS exchange_changes_ticket_id_fkey"))
            conn.execute(text("INSERT INTO exchange_changes (xid, ticket_id) SELECT g, g FROM generate_series(1, :n) g"),
                         {"n": args.rows})
            conn.execute(text("INSERT INTO exchange_changes (xid, ticket_id) SELECT :n + g, (g * 7919) % :n + 1 "
                              "FROM generate_series(1, :k) g"), {"n": args.rows, "k": args.new})
            conn.execute(text("INSERT INTO exchange_cursor (id, xid, ticket_id, compacted_below) "
                              "VALUES (1, 0, 0, :mark)"), {"mark": args.rows + 1})
        with stage.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE exchange_changes"))
        below = args.rows + args.new + 1
        whole, dropped_whole = timed(stage.engine, lambda c: c.execute(WHOLE_LOG, {"below": below}).rowcount)
        marked, dropped_marked = timed(stage.engine, lambda c: compact(c, below))
    assert dropped_whole == dropped_marked, (dropped_whole, dropped_marked)
    print(f"log of {args.rows + args.new:,} rows, {args.new:,} changes since the mark, {dropped_marked:,} dropped")
    print(f"compact (since the mark): {marked * 1000:8.1f} ms")
    print(f"whole log (baseline)    : {whole * 1000:8.1f} ms")
    print(f"ratio                   : {whole / marked:8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
