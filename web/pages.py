"""HTML pages: login and the command-centre console. Data reaches them only through the API."""
from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_wtf.csrf import generate_csrf

from dispatch.vocabulary import CITY_WIDE_ROLES, HOME_PAGE, STAFF_ROLES
from store import logins
from store.users import get_user
from web import security, texts, uploads
from web.assets import LANG_COOKIE, boot_json, entry_tags, page_lang
from web.auth import Tokens, current_user
from web.errors import ApiError

bp = Blueprint("pages", __name__)

CONSOLE_ROLES = CITY_WIDE_ROLES  # the console shows every ticket: only roles that may see every ticket
SCREEN_ROLES = ("admin", "operator")  # the wall screen shows the evaluation, which is theirs (contract §8)
MONITOR_ROLES = ("admin", "operator")  # lifeline monitoring: the command centre's duty officers
EVALUATION_ROLES = ("admin", "operator")  # 综合评价 belongs to the command centre (contract §8), as its API


@bp.context_processor
def _vocabulary():
    return {"entry_tags": entry_tags, **texts.template_globals()}


@bp.get("/lang/<lang>")
def choose_lang(lang: str):
    """The language switch of server-rendered pages (the built pages switch in place and set the same
    cookie): remember the choice for a year and go back where the reader was, on this site only."""
    chosen = "en" if lang.lower().startswith("en") else "zh-CN"
    target = request.args.get("next", "")
    response = redirect(target if local_path(target) else url_for("pages.login"))
    response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="Lax", path="/")
    return response


# Page titles in the page's language (the pages' own catalogues take over once their script runs).
TITLES = {
    "console": ("指挥中心", "Command centre"), "unit": ("处置单位工作台", "Department workbench"),
    "grid": ("网格员", "Grid worker"), "report": ("市民上报", "Report a problem"), "track": ("进度查询", "Track a case"),
    "screen": ("指挥大屏", "Wall screen"), "login": ("登录", "Log in"), "monitor": ("城市生命线监测", "Lifeline monitoring"),
    "evaluation": ("综合评价", "Evaluation"),
}


def render_app(page: str, user=None, token: str | None = None, status: int = 200, **extra):
    """A page of the built front end (frontend/src/pages/<page>): app.html with its boot document."""
    lang = page_lang()
    zh, en = TITLES.get(page, ("云管", "Yunguan"))
    title = f"{en} · Yunguan" if lang == "en" else f"{zh} · 云管"
    csrf = generate_csrf() if user is not None else None
    boot = boot_json(page, user, token, csrf, **extra)
    return render_template("app.html", page=page, title=title, lang=lang, boot=boot, csrf=csrf), status


@bp.get("/")
def index():
    user = current_user()
    return redirect(home_of(user.role) if user is not None else url_for("pages.login"))


PENDING_S = 300  # how long the code form waits after the right password


ROLE_PAGES = frozenset(HOME_PAGE.values())  # the pages that belong to roles; every other page is everyone's


def home_of(role: str) -> str:
    """The role's own page (dispatch.vocabulary.HOME_PAGE); every account role has one."""
    return HOME_PAGE.get(role, "/track")


def local_path(target: str) -> bool:
    """A path of this site: not `//host` or `/\\host` (browsers read both as another host), no scheme, no
    control characters. Redirects after login and after a language switch follow only these."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or \
            any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def landing(role: str, target: str) -> str:
    """Where a login goes: `next` when it is a path of this site that the role may open, else the role's page.
    A role page of another role would only answer with a redirect, and a foreign or ambiguous target (`//host`,
    `/\\host`, which browsers read as another host, a scheme, control characters) is never followed."""
    if not local_path(target):
        return home_of(role)
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or (parts.path in ROLE_PAGES and parts.path != home_of(role)):
        return home_of(role)
    return target


def _signed_in(user):
    session.clear()
    session["uid"] = user.id
    session["ep"] = user.token_epoch
    return redirect(landing(user.role, request.args.get("next", "")))


def _elsewhere(user):
    """A logged-in account on another role's page: its own page (302), or the forbidden page if it has none."""
    if user.role in HOME_PAGE:
        return redirect(home_of(user.role))
    return render_template("forbidden.html", user=user), 403


def _pending_user(deps):
    """The account whose password was right and whose code is awaited (the second step), if still fresh."""
    uid, at = session.get("otp_uid"), session.get("otp_at", 0)
    if not isinstance(uid, int) or not isinstance(at, int | float) or time.time() - at > PENDING_S:
        return None
    with deps.engine.connect() as conn:
        user = get_user(conn, uid)
    return user if user and user.active and user.token_epoch == session.get("otp_ep") else None


def _refused(result, step: str):
    """The login form again, with the reason; the same words for unknown name, wrong password, disabled."""
    messages = {  # keys of web/texts.py, said in the reader's language
        "throttled": (429, "login.throttled"),
        "bad_otp": (401, "login.bad_otp"),
        "otp_required": (401, "login.otp_required"),
        "otp_not_enrolled": (403, "login.otp_not_enrolled"),
    }
    status, error = messages.get(result.outcome, (401, "login.wrong"))
    headers = {"Retry-After": str(result.retry_after_s)} if result.retry_after_s else {}
    return render_template("login.html", error=error, step=step), status, headers


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Name and password; then, for accounts with a second factor, a code form (decision 0011). Every
    attempt goes through store.logins: throttled and recorded like the API's."""
    deps = current_app.extensions["yunguan"]
    if request.method == "GET":
        session.pop("otp_uid", None)
        return render_template("login.html", error=None, step="password")
    where = logins.Where(security.client_address(), "page")
    pending = _pending_user(deps) if "otp" in request.form else None
    if "otp" in request.form and pending is None:
        return render_template("login.html", error="login.expired",
                               step="password"), 401
    try:
        if pending is not None:
            otp = security.login_text("otp", request.form.get("otp", "").strip(), 16, required=False)
            with deps.engine.begin() as conn:
                result = logins.log_in_with_code(conn, pending, otp, where, deps.clock(), security.login_policy(),
                                                 enrolled=logins.totp_enrolled(conn, pending.id))
        else:
            username = security.login_text("username", request.form.get("username", ""), 64)
            password = security.login_text("password", request.form.get("password", ""), 1024)
            with deps.engine.begin() as conn:
                result = logins.log_in(conn, username, password, None, where, deps.clock(),
                                       security.login_policy())
    except ApiError:
        return render_template("login.html", error="login.wrong",
                               step="password"), 400
    if result.ok:
        return _signed_in(result.user)
    if result.outcome == "otp_required" and pending is None:  # the right password: now the code
        session["otp_uid"], session["otp_ep"], session["otp_at"] = result.user.id, result.user.token_epoch, time.time()
        return render_template("login.html", error=None, step="code")
    if pending is not None and result.outcome in ("otp_required", "bad_otp"):
        return _refused(result, "code")
    session.pop("otp_uid", None)
    return _refused(result, "password")


@bp.post("/logout")
def logout():
    """Logging out ends this account's page session, tokens and open console sockets everywhere."""
    user = current_user()
    if user is not None:
        from store.users import revoke_tokens

        with current_app.extensions["yunguan"].engine.begin() as conn:
            revoke_tokens(conn, user.id)
    session.clear()
    return redirect(url_for("pages.login"))


def _role_page(page: str, roles, extra=None):
    """A signed-in role's page: the login first (coming back here), another role's home page, or the page
    with a fresh token for its API calls and socket. `extra(user)`: what else the page's boot document needs."""
    user = current_user()
    if user is None:
        return redirect(url_for("pages.login", next=request.path))
    if user.role not in roles:
        return _elsewhere(user)
    token = Tokens(current_app.extensions["yunguan"].settings.secret_key).issue(user)
    return render_app(page, user, token, **(extra(user) if extra else {}))


@bp.get("/console")
def console():
    return _role_page("console", CONSOLE_ROLES)


@bp.get("/unit")
def unit():
    """A department's workbench: its queue by deadline; acknowledge, handle, return, extension, parts."""
    return _role_page("unit", ("department",), lambda user: {"unit_name": _unit_name(user.unit_code)})


def _unit_name(code: str | None) -> str:
    if not code:
        return ""
    from sqlalchemy import text

    with current_app.extensions["yunguan"].engine.connect() as conn:
        return conn.execute(text("SELECT name FROM units WHERE code = :c"), {"c": code}).scalar() or ""


def _photo_limits() -> dict:
    settings = current_app.extensions["yunguan"].settings
    return {"max_photos": settings.upload_max_files, "max_photo_bytes": settings.upload_max_bytes}


@bp.get("/grid")
def grid():
    """The grid worker's phone page (installable, works offline): report with the device's position and photos;
    verification tasks in the own grid cell; the reports this phone sent."""
    return _role_page("grid", ("grid",), lambda user: {"grid": user.grid_code or "", **_photo_limits()})


@bp.get("/report")
def report():
    """Residents' form (installable, works offline): no account; the API rate-limits it per client."""
    return render_app("report", **_photo_limits())


@bp.get("/track")
def track():
    return render_app("track", q=request.args.get("q", "")[:64])


@bp.get("/media/<sha256>")
def media(sha256: str):
    """A stored photo, for staff only (bearer token or page session): photos show faces and number plates."""
    from flask import abort, send_file

    user = current_user()
    if user is None:
        abort(401)
    if user.role not in STAFF_ROLES:
        abort(403)
    found = uploads.find(current_app.extensions["yunguan"].settings.media_path, sha256)
    if found is None:
        abort(404)
    path, media_type = found
    response = send_file(path, mimetype=media_type, max_age=86400, conditional=True)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.get("/screen")
def screen():
    """指挥大屏, the command centre's wall screen (operators and admin): live counts and the period's figures."""
    return _role_page("screen", SCREEN_ROLES)


@bp.get("/monitor")
def monitor():
    """城市生命线监测 (operators and admin): the lifeline devices on the map by status, the alarm list and a
    device's readings with its thresholds (docs/lifeline.md, "Monitoring view")."""
    return _role_page("monitor", MONITOR_ROLES)


@bp.get("/evaluation")
def evaluation():
    """综合评价 (operators and admin): a breakdown's table for a period, every figure linked to its cases and
    every case to its history, exports, hotspots and trends (docs/evaluation.md, "The evaluation page")."""
    return _role_page("evaluation", EVALUATION_ROLES)


REPORT_WEIGHT_NAMES = {"on_time": "按期处置率", "close": "结案率", "ack": "及时签收率", "overdue": "超期率",
                       "rework": "返工率", "return": "退单率", "extension": "延期率"}


@bp.get("/evaluation/report")
def evaluation_report():
    """综合评价月报 for print (A4), `?month=YYYY-MM` (default: this month): server-rendered from the same
    tables as the API, so it prints without scripts and its numbers are the API's."""
    from application.evaluate import Policy
    from web import evaluation_report as report

    user = current_user()
    if user is None:
        return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
    if user.role not in EVALUATION_ROLES:
        return _elsewhere(user)
    deps = current_app.extensions["yunguan"]
    now, tz = deps.clock(), deps.settings.timezone
    try:
        first, end = report.month_period(request.args.get("month"), tz, now)
    except report.BadMonth:
        raise ApiError(400, "invalid_query", "month: must be YYYY-MM", {"month": "must be YYYY-MM"}) from None
    with deps.engine.connect() as conn:
        data = report.build(conn, first, end, now=now.astimezone(ZoneInfo(tz)), timezone=tz,
                            policy=Policy.from_settings(deps.settings))
    prev_month = (first - timedelta(days=1)).strftime("%Y-%m")
    return render_template("evaluation_report.html", report=data, percent=report.percent, tz=tz,
                           title=f"{first.year}年{first.month}月城市运行管理综合评价月报",
                           month=first.strftime("%Y-%m"), prev_month=prev_month, next_month=end.strftime("%Y-%m"),
                           weight_names=REPORT_WEIGHT_NAMES)
