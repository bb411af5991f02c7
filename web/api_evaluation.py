"""综合评价 over HTTP (contract §8): the evaluation table, the cases behind a figure, XLSX and CSV exports,
hotspots (GeoJSON) and the wall screen's daily trends. Registered on web.api's blueprint; thin like it:
parse and check the query (a 400 names the field), call application.evaluate, render."""
from __future__ import annotations

import csv
import io
from datetime import date

import orjson
from flask import Response, g

from application import evaluate
from dispatch.kpi import BREAKDOWNS, COUNTS, RATES, WEIGHT_RATES
from dispatch.vocabulary import Role
from web import api_models as m
from web.api import _deps, bp
from web.api_models import Error
from web.errors import ApiError
from web.openapi import Media, documented

EVALUATORS = (str(Role.ADMIN), str(Role.OPERATOR))
AREA_LEVELS = ("grid", "community", "street", "district")
MAX_TREND_DAYS = 400
MAX_CSV_CASES = 100_000
ERRORS = {400: Error, 401: Error, 403: Error, 503: Error}
CSV = Media("text/csv", {"type": "string", "contentMediaType": "text/csv"}, description="UTF-8 CSV with a header row")
XLSX = Media("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             {"type": "string", "contentMediaType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
             description="an XLSX workbook")


def _json(body: dict) -> Response:
    """orjson: a year's table by grid cell is 792 rows of 20 figures, and Flask's encoder took a fifth of the
    answer's time (bench/evaluation.py)."""
    return Response(orjson.dumps(body), mimetype="application/json")


def _bad(field: str, why: str) -> ApiError:
    return ApiError(400, "invalid_query", f"{field}: {why}", {field: why})


def _period() -> tuple[date, date]:
    """`from` and `to` (exclusive) of the validated query (web.api_models.PeriodQuery), both defaulting to the
    current month in the city's time zone."""
    deps = _deps()
    first, next_first = evaluate.current_month(deps.settings.timezone, deps.clock())
    query: m.PeriodQuery = g.query
    start, end = query.from_ or first, query.to or next_first
    if end <= start:
        raise _bad("to", "must be after from (to is exclusive)")
    return start, end


def _by() -> str:
    return g.query.by  # one of BREAKDOWNS, default unit (web.api_models.EvaluationQuery)


def _policy() -> evaluate.Policy:
    return evaluate.Policy.from_settings(_deps().settings)


def _table(by: str, start: date, end: date) -> dict:
    deps = _deps()
    with deps.engine.connect() as conn:
        return evaluate.evaluation(conn, by, start, end, now=deps.clock(), timezone=deps.settings.timezone,
                                   policy=_policy())


@bp.get("/evaluation")
@documented(tags=["evaluation"], roles=EVALUATORS, query=m.EvaluationQuery, responses={200: m.EvaluationTable, **ERRORS})
def evaluation():
    """The table of one breakdown (`by`, default unit) for the tickets first dispatched in [from, to)."""
    start, end = _period()
    return _json(_table(_by(), start, end))


@bp.get("/evaluation/cases")
@documented(tags=["evaluation"], roles=EVALUATORS, query=m.CasesQuery, responses={200: m.CasesPage, **ERRORS})
def evaluation_cases():
    """A page of the tickets behind one count (`count`) of one row (`key`; `none` for the row without a
    key); `total` is the figure of the table."""
    by, (start, end) = _by(), _period()
    key, count = _key(by), g.query.count
    after = g.query.cursor
    deps = _deps()
    with deps.engine.connect() as conn:
        return _json(evaluate.cases(conn, by, key, count, start, end, now=deps.clock(),
                                      timezone=deps.settings.timezone, limit=g.query.limit,
                                      after=after))


def _key(by: str) -> str:
    """The row's code (stripped, 1 to 32 characters: the model's rules) if the breakdown has such a row."""
    key = g.query.key
    with _deps().engine.connect() as conn:
        if not evaluate.known_key(conn, by, key):
            raise _bad("key", f"no {by} with this code")
    return key


# --- exports -------------------------------------------------------------------------------------------------

def _header() -> list[str]:
    return ["code", "name", *COUNTS, *RATES, "score", "rank"]


def _line(row: dict) -> list:
    return [row["key"]["code"], row["key"]["name"], *(row["counts"][c] for c in COUNTS),
            *(row["rates"][r] for r in RATES), row["score"], row["rank"]]


def _filename(stem: str, start: date, end: date, ext: str) -> dict:
    return {"Content-Disposition": f'attachment; filename="{stem}-{start.isoformat()}-{end.isoformat()}.{ext}"'}


@bp.get("/evaluation.csv")
@documented(tags=["evaluation"], roles=EVALUATORS, query=m.EvaluationQuery, responses={200: CSV, **ERRORS})
def evaluation_csv():
    """The rows of one breakdown as CSV (UTF-8), the columns of the table."""
    by, (start, end) = _by(), _period()
    table = _table(by, start, end)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_header())
    for row in table["rows"]:
        writer.writerow(["" if v is None else v for v in _line(row)])
    return Response(out.getvalue(), mimetype="text/csv", headers=_filename(f"evaluation-{by}", start, end, "csv"))


@bp.get("/evaluation/cases.csv")
@documented(tags=["evaluation"], roles=EVALUATORS, query=m.CasesCsvQuery, responses={200: CSV, **ERRORS})
def evaluation_cases_csv():
    """Every ticket behind one count of one row, as CSV (at most 100,000)."""
    by, (start, end) = _by(), _period()
    key, count = _key(by), g.query.count
    deps = _deps()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ticket_no", "status", "category", "lead_unit", "first_dispatched_at", "deadline", "address"])
    after, written = None, 0
    with deps.engine.connect() as conn:
        while written < MAX_CSV_CASES:
            page = evaluate.cases(conn, by, key, count, start, end, now=deps.clock(), timezone=deps.settings.timezone,
                                  limit=500, after=after)
            for t in page["items"]:
                writer.writerow([t["ticket_no"], t["status"], t["category"] or "", t["lead_unit"] or "",
                                 t["first_dispatched_at"] or "", t["deadline"] or "", t["address"] or ""])
            written += len(page["items"])
            if page["next_cursor"] is None:
                break
            after = int(page["next_cursor"])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers=_filename(f"cases-{by}-{key}-{count}", start, end, "csv"))


@bp.get("/evaluation.xlsx")
@documented(tags=["evaluation"], roles=EVALUATORS, query=m.XlsxQuery, responses={200: XLSX, **ERRORS})
def evaluation_xlsx():
    """A workbook: one sheet per breakdown (the one asked for with `by` first), and the formulas with the
    weights on a sheet of their own."""
    first = g.query.by  # None: the sheets in their usual order
    start, end = _period()
    order = [first, *(b for b in BREAKDOWNS if b != first)] if first else list(BREAKDOWNS)
    tables = {by: _table(by, start, end) for by in order}
    body = _workbook(tables, start, end)
    return Response(body, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers=_filename("evaluation", start, end, "xlsx"))


SHEET_TITLES = {"unit": "单位 unit", "district": "区 district", "street": "街道 street",
                "community": "社区 community", "grid": "网格 grid", "category": "类别 category"}


def _workbook(tables: dict[str, dict], start: date, end: date) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    for by, table in tables.items():
        ws = wb.create_sheet(SHEET_TITLES[by])
        ws.append(_header())
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in table["rows"]:
            ws.append(_line(row))
        ws.freeze_panes = "C2"
        for letter in "AB":
            ws.column_dimensions[letter].width = 24
    any_table = next(iter(tables.values()))
    ws = wb.create_sheet("公式 formulas")
    ws.append(["period", f"{start.isoformat()} – {end.isoformat()} (to exclusive, city time)"])
    ws.append(["evaluated at", any_table["evaluated_at"]])
    ws.append([])
    ws.append(["name", "definition"])
    from dispatch.kpi import COUNTS as MEANINGS

    for name, meaning in MEANINGS.items():
        ws.append([name, meaning])
    for name, formula in any_table["formulas"].items():
        ws.append([name, formula])
    ws.append([])
    ws.append(["weight", "rate", "value"])
    for name, value in any_table["weights"].items():
        ws.append([name, WEIGHT_RATES[name], value])
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 100
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- hotspots and trends -------------------------------------------------------------------------------------

@bp.get("/hotspots")
@documented(tags=["evaluation"], roles=EVALUATORS, query=m.HotspotsQuery,
            responses={200: Media("application/geo+json", model=m.FeatureCollection), **ERRORS})
def hotspots():
    """Tickets opened in the period per area of `level` (default grid), optionally of one category (any level
    of the taxonomy), as a GeoJSON FeatureCollection with properties {code, name, count}."""
    query: m.HotspotsQuery = g.query
    level, (start, end) = query.level, _period()
    category = (query.category or "").strip() or None
    simplify = query.simplify_m
    deps = _deps()
    with deps.engine.connect() as conn:
        if category is not None and not evaluate.known_category(conn, category):
            raise _bad("category", "no category with this code")
        body = evaluate.hotspots(conn, level, start, end, now=deps.clock(), timezone=deps.settings.timezone,
                                 category=category, simplify_m=min(max(simplify, 0.0), 500.0))
    return Response(body, mimetype="application/geo+json")


@bp.get("/trends")
@documented(tags=["evaluation"], roles=EVALUATORS, query=m.PeriodQuery, responses={200: m.JsonObject, **ERRORS})
def trends():
    """Per day of [from, to): tickets opened per channel, first dispatches, closures, deadlines missed."""
    start, end = _period()
    if (end - start).days > MAX_TREND_DAYS:
        raise _bad("to", f"at most {MAX_TREND_DAYS} days after from")
    deps = _deps()
    with deps.engine.connect() as conn:
        return _json(evaluate.trends(conn, start, end, now=deps.clock(), timezone=deps.settings.timezone))
