"""Liveness, readiness and metrics: what load balancers, Prometheus and operators poll (contract §4, §11).

`/readyz` is 503 with the reason while the database, the broker or intake (workers without progress,
streams.status) is not well, so a stalled intake is visible within a minute; the console shows the same.
The lifeline and notify consumers are judged from their heartbeats too and told as `warnings` (the console
shows them in a banner of their own) without a 503: the web and intake still work without them."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from streams.topics import broker_address, port_answers
from web import security
from web.api_models import Health, Readiness
from web.openapi import documented

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@documented(tags=["health"], auth="none", responses={200: Health})
def healthz():
    """Liveness: the process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@documented(tags=["health"], auth="none", responses={200: Readiness, 503: Readiness})
def readyz():
    """Readiness: the database, the broker and intake; 503 with the reason of each check that is not ok
    (contract §11). `checks` says each part's state in a sentence; `problems` gives the same as codes with
    their figures, so the console can say it in the operator's language; `warnings` tells the lifeline and
    notify consumers' problems in the same shape, never as a 503."""
    deps = current_app.extensions["yunguan"]
    checks: dict[str, str] = {}
    problems: dict[str, list[dict]] = {}

    def fail(part: str, text_: str, code: str, **params) -> None:
        checks[part] = text_
        problems[part] = [{"code": code, "params": params, "text": text_}]

    try:
        with deps.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the message says which
        fail("database", f"unavailable: {type(exc).__name__}", "database_unavailable", error=type(exc).__name__)
    host, port = broker_address(deps.settings.kafka_bootstrap)
    if not port_answers(host, port, timeout=1.0):
        fail("broker", f"unavailable at {host}:{port}", "broker_unavailable", address=f"{host}:{port}")
    elif deps.publisher.failing:  # a paused broker still accepts connections; its silence is what counts
        fail("broker", f"not acknowledging at {host}:{port} (the last report could not be queued)",
             "broker_silent", address=f"{host}:{port}")
    else:
        checks["broker"] = "ok"
    if checks["database"] == "ok":  # intake: are the workers making progress (streams.status)
        from streams.status import worker_problems

        try:
            _, found = worker_problems(deps.engine, deps.settings, deps.clock())
            checks["intake"] = "ok" if not found else "; ".join(found)
            if found:
                problems["intake"] = [p.as_dict() for p in found]
        except Exception as exc:  # noqa: BLE001 - e.g. the database went away between the two checks
            fail("intake", f"unknown: {type(exc).__name__}", "intake_unknown", error=type(exc).__name__)
    warnings: dict[str, list[dict]] = {}
    if checks["database"] == "ok":
        from store.heartbeats import LIFELINE, NOTIFY
        from streams.status import service_problems

        for service in (LIFELINE, NOTIFY):
            try:
                _, found = service_problems(deps.engine, deps.settings, service, deps.clock())
            except Exception:  # noqa: BLE001 - the database went away meanwhile: its own check says so next time
                continue
            if found:
                warnings[service.part] = [p.as_dict() for p in found]
    ready = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks, "problems": problems,
                    "warnings": warnings}), 200 if ready else 503


@bp.get("/metrics")
def metrics():
    """For Prometheus with the configured scrape token, or an admin (decision 0011; contract extension)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    security.check_scraper(current_app.extensions["yunguan"].settings)
    return generate_latest(), 200, {"Content-Type": CONTENT_TYPE_LATEST}
