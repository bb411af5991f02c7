"""The wall screen's live figures over HTTP (`GET /api/v1/screen`, operators and admin): open, pending,
urgent, overdue and due-soon tickets now, opened and closed today, and the same per district. The period
figures of the screen (rankings, rates, trends, hotspots) are the evaluation's endpoints."""
from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from flask import jsonify

from dispatch.vocabulary import Role
from gis.areas import city_today
from store import screen
from web import api_models as m
from web.api import _deps, bp
from web.api_models import Error
from web.openapi import documented


@bp.get("/screen")
@documented(tags=["screen"], roles=(str(Role.ADMIN), str(Role.OPERATOR)),
            responses={200: m.ScreenFigures, 401: Error, 403: Error, 503: Error})
def screen_figures():
    """The wall screen's live figures: open, pending, urgent, overdue and due-soon tickets now, opened and
    closed today, and the same per district."""
    deps = _deps()
    now = deps.clock()
    tz = ZoneInfo(deps.settings.timezone)
    day_start = datetime.combine(city_today(deps.settings.timezone, now), time(0), tz)
    with deps.engine.connect() as conn:
        figures = screen.live_figures(conn, now, day_start)
    return jsonify({"at": now.isoformat(), "day": day_start.date().isoformat(), **figures})
