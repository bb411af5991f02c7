"""The phone pages as installable apps that open offline (issue 15): the web app manifests, the service worker
(built from frontend/src/sw/sw.ts into static/app/sw.js, served from the site's root so that its scope covers
/grid, /report and /track) and the list of files it keeps for offline use (from Vite's manifest)."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, send_file, url_for

from web import assets

bp = Blueprint("pwa", __name__)

# The pages the service worker keeps (their shells: the HTML with its boot document) and whose built files it
# stores. /grid needs a login: it is stored when a grid worker opens it, not beforehand.
OFFLINE_PAGES = ("grid", "report", "track")
APPS = {
    "grid": {"name": "云管 · 网格员", "short_name": "网格员", "start_url": "/grid"},
    "report": {"name": "云管 · 市民上报", "short_name": "市民上报", "start_url": "/report"},
}


def entry_files(entry: str) -> list[str]:
    """Every built file a page's entry loads: its script, the chunks it imports, their styles and assets."""
    manifest = assets.manifest()
    out: list[str] = []
    seen: set[str] = set()

    def walk(key: str) -> None:
        if key in seen or key not in manifest:
            return
        seen.add(key)
        chunk = manifest[key]
        for f in [chunk["file"], *chunk.get("css", []), *chunk.get("assets", [])]:
            if f not in out:
                out.append(f)
        for imported in chunk.get("imports", []):
            walk(imported)

    walk(f"src/pages/{entry}/main.ts")
    return out


@bp.get("/manifest/<app>.webmanifest")
def manifest(app: str):
    found = APPS.get(app)
    if found is None:
        abort(404)
    body = {
        **found,
        "id": found["start_url"],
        "scope": "/",
        "display": "standalone",
        "lang": "zh-CN",
        "background_color": "#f4f6f9",
        "theme_color": "#1f5fa8",
        "icons": [
            {"src": url_for("static", filename="icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": url_for("static", filename="icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {"src": url_for("static", filename="favicon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    response.cache_control.no_cache = True
    return response


@bp.get("/sw.js")
def service_worker():
    """At the root, so its scope may be "/"; never cached by HTTP, so a new build is found at once."""
    path = assets.APP_DIR / "sw.js"
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype="text/javascript", max_age=0)
    response.cache_control.no_cache = True
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/offline-files.json")
def offline_files():
    """What the service worker stores on install: the page shells and every file their entries load."""
    files: list[str] = []
    for page in OFFLINE_PAGES:
        for f in entry_files(page):
            url = url_for("static", filename=f"app/{f}")
            if url not in files:
                files.append(url)
    files += [url_for("static", filename=f) for f in ("favicon.svg", "icons/icon-192.png")]
    response = jsonify({"pages": [f"/{p}" for p in OFFLINE_PAGES], "files": files})
    response.cache_control.no_cache = True
    return response
