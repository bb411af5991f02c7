"""考核: the department table for a period, from the domain's formulas (dispatch.evaluation)."""
from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy.engine import Connection

from dispatch.deadlines import rule_for
from dispatch.evaluation import evaluate, ticket_facts
from store.loop import LoopContext, created_between, unit_names


def evaluation(conn: Connection, ctx: LoopContext, since: datetime, until: datetime, now: datetime) -> list[dict]:
    """考核: the department table for tickets created in [since, until), as of `now`, ranked."""
    facts = []
    for state in created_between(conn, since, until):
        limits = ctx.limits(state)
        if limits is not None:
            facts.append(ticket_facts(state, limits, rule_for(limits, ctx.working), now))
    names = unit_names(conn)
    out = []
    for s in evaluate(facts):
        d = dataclasses.asdict(s)
        d["dispute_hours"] = round(d.pop("dispute").total_seconds() / 3600, 2)
        d["name"] = names.get(s.unit)
        out.append(d)
    return out
