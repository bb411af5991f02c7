"""HTML pages: login and the command-centre console. Data reaches them only through the API."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from store.users import authenticate
from web import uploads
from web.auth import Tokens, current_user

bp = Blueprint("pages", __name__)

CONSOLE_ROLES = ("admin", "operator", "hotline")


@bp.get("/")
def index():
    return redirect(url_for("pages.console"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        deps = current_app.extensions["yunguan"]
        with deps.engine.connect() as conn:
            user = authenticate(conn, request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            error = "用户名或密码错误 / Wrong username or password"
        else:
            session.clear()
            session["uid"] = user.id
            session["ep"] = user.token_epoch
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("pages.console"))
    return render_template("login.html", error=error), 401 if error else 200


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


@bp.get("/console")
def console():
    user = current_user()
    if user is None:
        return redirect(url_for("pages.login", next="/console"))
    if user.role not in CONSOLE_ROLES:
        return render_template("forbidden.html", user=user), 403
    token = Tokens(current_app.extensions["yunguan"].settings.secret_key).issue(user)
    return render_template("console.html", user=user, token=token)


def _page_for(role: str, template: str, path: str, **extra):
    user = current_user()
    if user is None:
        return redirect(url_for("pages.login", next=path))
    if user.role != role:
        return render_template("forbidden.html", user=user), 403
    token = Tokens(current_app.extensions["yunguan"].settings.secret_key).issue(user)
    return render_template(template, user=user, token=token, **extra)


@bp.get("/unit")
def unit():
    """A department's workbench: its queue by deadline; acknowledge, handle, return, extension, parts."""
    user = current_user()
    name = None
    if user is not None and user.unit_code:
        from sqlalchemy import text

        with current_app.extensions["yunguan"].engine.connect() as conn:
            name = conn.execute(text("SELECT name FROM units WHERE code = :c"), {"c": user.unit_code}).scalar()
    return _page_for("department", "unit.html", "/unit", unit_name=name or "")


@bp.get("/grid")
def grid():
    """The grid worker's phone page: report with geolocation and photos; verification tasks in the cell."""
    return _page_for("grid", "grid.html", "/grid")


@bp.get("/report")
def report():
    """Residents' form: no account; the API rate-limits it per client."""
    return render_template("report.html")


@bp.get("/track")
def track():
    return render_template("track.html", q=request.args.get("q", "")[:64])


@bp.get("/media/<sha256>")
def media(sha256: str):
    """A stored photo, for staff only (bearer token or page session): photos show faces and number plates."""
    from flask import abort, send_file

    from web.auth import STAFF_ROLES

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
