"""The built front end (frontend/, Vite) inside Flask's pages: which script and style files an entry needs,
from Vite's manifest, and the boot document every page starts from (user, token, vocabulary, settings).

The build output is committed in web/static/app and `make test` rebuilds it and compares (decision 0017), so
serving needs no Node.js. The manifest is read once per process (a rebuild means a restart, as any deploy)."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from flask import current_app, request, url_for
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup, escape

from dispatch import vocabulary

APP_DIR = Path(__file__).parent / "static" / "app"
MANIFEST = APP_DIR / "manifest.json"  # not .vite/: a wheel's package data skips hidden folders
LANG_COOKIE = "yunguan_lang"


@cache
def manifest() -> dict:
    try:
        return json.loads(MANIFEST.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def _chunk(entry: str) -> tuple[str, dict]:
    key = f"src/pages/{entry}/main.ts"
    found = manifest().get(key)
    if found is None:
        raise LookupError(f"the front end has no built entry {key}: run `npm run build` in frontend/")
    return key, found


def entry_tags(entry: str) -> Markup:
    """<link rel=stylesheet> for every CSS file the entry and its imports need, <link rel=modulepreload> for
    its imports, and its <script type=module>."""
    key, chunk = _chunk(entry)
    css: list[str] = []
    preload: list[str] = []
    seen: set[str] = set()

    def walk(k: str, c: dict, top: bool) -> None:
        if k in seen:
            return
        seen.add(k)
        css.extend(f for f in c.get("css", []) if f not in css)
        if not top:
            preload.append(c["file"])
        for imported in c.get("imports", []):
            walk(imported, manifest()[imported], False)

    walk(key, chunk, True)
    static = lambda f: escape(url_for("static", filename=f"app/{f}"))  # noqa: E731
    tags = [f'<link rel="stylesheet" href="{static(f)}">' for f in css]
    tags += [f'<link rel="modulepreload" href="{static(f)}">' for f in preload]
    tags.append(f'<script type="module" src="{static(chunk["file"])}"></script>')
    return Markup("\n".join(tags))


def page_lang() -> str:
    """The page's language: the reader's choice (cookie set by the pages' switch), else zh-CN."""
    chosen = (request.cookies.get(LANG_COOKIE) or "").lower()
    return "en" if chosen.startswith("en") else "zh-CN"


@cache
def _vocabulary_document() -> dict:
    return vocabulary.document()


def boot_json(page: str, user=None, token: str | None = None, csrf: str | None = None, **extra) -> Markup:
    """The boot document (frontend/src/shared/boot.ts), safe inside <script> (Jinja's tojson escaping)."""
    settings = current_app.extensions["yunguan"].settings
    doc = {
        "page": page,
        "user": None if user is None else {
            "username": user.username, "role": user.role, "unit": user.unit_code,
            "unit_name": extra.pop("unit_name", None),
        },
        "token": token,
        "csrf": csrf,
        "settings": {
            "timezone": settings.timezone,
            "tile_url": settings.tile_url or "",
            "tile_attribution": settings.tile_attribution or "",
            "lang": page_lang(),
        },
        "vocabulary": _vocabulary_document(),
        "extra": extra,
    }
    body = htmlsafe_json_dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return Markup(f'<script type="application/json" id="yunguan-boot">{body}</script>')
