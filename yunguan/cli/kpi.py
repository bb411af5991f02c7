"""The evaluation's facts table: `yunguan kpi rebuild`."""
from __future__ import annotations

import json
import time

from config import Settings
from yunguan.cli.common import say, wiring


def cmd_kpi_rebuild(settings: Settings, args) -> int:
    """Recompute the facts of every ticket (after migration 0013, or to repair them); prints
    `{"tickets", "seconds"}`. Safe while the platform runs."""
    from application.evaluate import rebuild_facts

    deps = wiring(settings)
    started = time.monotonic()
    try:
        n = rebuild_facts(deps.engine, deps.loop(), batch=args.batch)
    finally:
        deps.close()
    print(json.dumps({"tickets": n, "seconds": round(time.monotonic() - started, 2)}))
    say(f"kpi: facts rebuilt for {n} ticket(s)", err=True)
    return 0
