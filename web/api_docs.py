"""The OpenAPI 3.1 document of the native JSON API (`GET /api/v1/openapi.json`) and its reading page
(`GET /api/docs`, server-rendered from the same document, no scripts, no CDN). Both are open to anyone: they
describe the interface and hold no data. Decision 0018."""
from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version

from flask import Blueprint, current_app, jsonify, render_template

from web.api import bp
from web.api_models import Error
from web.openapi import Media, build_document, documented

docs_bp = Blueprint("api_docs", __name__)

TITLE = "Yunguan API"
SCHEMA_DIALECT_KEYS = ("type", "format", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "minLength",
                       "maxLength", "pattern", "minItems", "maxItems", "default")


def _version() -> str:
    try:
        return version("yunguan")
    except PackageNotFoundError:
        return "0"


def document() -> dict:
    """Built once per app from the registry and the URL map (the rules do not change while it serves)."""
    cached = current_app.extensions.get("yunguan_openapi")
    if cached is None:
        cached = build_document(current_app, title=TITLE, version=_version(), error_model=Error)
        current_app.extensions["yunguan_openapi"] = cached
    return cached


@bp.get("/openapi.json")
@documented(tags=["documentation"], auth="none",
            responses={200: Media("application/json", {"type": "object", "required": ["openapi", "paths"]},
                                  description="this document")})
def openapi_document():
    """This OpenAPI 3.1 document, generated from the models that validate the requests."""
    return jsonify(document())


# --- the reading page ----------------------------------------------------------------------------------------

def _resolve(schema: dict, components: dict) -> dict:
    ref = schema.get("$ref", "")
    return components.get(ref.rsplit("/", 1)[-1], {}) if ref else schema


def _type_of(schema: dict, components: dict) -> str:
    """A one-line reading of a schema: `string (date-time)`, `integer 1–500`, `one of a | b`, `Ticket`."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            kinds = [_type_of(s, components) for s in schema[key] if s.get("type") != "null"]
            nullable = any(s.get("type") == "null" for s in schema[key])
            return " | ".join(kinds) + (" (or null)" if nullable else "")
    if "enum" in schema:
        return "one of " + " | ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return f"= {schema['const']}"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type_of(schema.get('items', {}), components)}"
    text = str(kind) + (f" ({schema['format']})" if "format" in schema else "")
    low = schema.get("minimum", schema.get("exclusiveMinimum", schema.get("minLength")))
    high = schema.get("maximum", schema.get("maxLength"))
    if low is not None or high is not None:
        text += f" {'' if low is None else low}–{'' if high is None else high}"
    if "pattern" in schema:
        text += f" /{schema['pattern']}/"
    return text


def _fields(schema: dict, components: dict) -> list[dict]:
    schema = _resolve(schema, components)
    required = set(schema.get("required", ()))
    return [{"name": name, "type": _type_of(prop, components), "required": name in required,
             "description": prop.get("description", ""), "default": prop.get("default")}
            for name, prop in schema.get("properties", {}).items()]


def _curl(path: str, method: str, op: dict, components: dict) -> str:
    lines = [f"curl -s -X {method.upper()} \"$YUNGUAN{path}"]
    required = [p for p in op.get("parameters", ()) if p["in"] == "query" and p["required"]]
    if required:
        lines[0] += "?" + "&".join(f"{p['name']}=…" for p in required)
    lines[0] += '"'
    if any(s for s in op.get("security", []) if s):
        lines.append('  -H "Authorization: Bearer $TOKEN"')
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        sample = {f["name"]: "…" for f in _fields(content["application/json"]["schema"], components) if f["required"]}
        lines.append("  -H 'Content-Type: application/json' -d '" + json.dumps(sample, ensure_ascii=False) + "'")
    elif "multipart/form-data" in content:
        props = content["multipart/form-data"]["schema"].get("properties", {})
        lines += [f"  -F '{name}=@photo.jpg'" if name == "photos" else f"  -F '{name}=…'" for name in props]
    return " \\\n".join(lines)


def _operations(doc: dict) -> list[tuple[str, list[dict]]]:
    components = doc["components"]["schemas"]
    groups: dict[str, list[dict]] = {t["name"]: [] for t in doc.get("tags", [])}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {})
            entry = {
                "id": op["operationId"], "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "roles": op.get("x-roles"),
                "auth": "bearer" if any(s for s in op.get("security", []) if s) and {} not in op.get("security", [])
                else ("optional bearer" if op.get("security") else "none"),
                "parameters": [{"name": p["name"], "in": p["in"], "required": p["required"],
                                "type": _type_of(p["schema"], components), "description": p.get("description", "")}
                               for p in op.get("parameters", ())],
                "bodies": [{"media_type": mt, "fields": _fields(c["schema"], components),
                            "type": _type_of(c["schema"], components)} for mt, c in body.items()],
                "responses": [{"status": status, "description": r.get("description", ""),
                               "media": [{"media_type": mt, "type": _type_of(c["schema"], components)}
                                         for mt, c in r.get("content", {}).items()]}
                              for status, r in op["responses"].items()],
                "curl": _curl(path, method, op, components),
            }
            for tag in op.get("tags") or ["other"]:
                groups.setdefault(tag, []).append(entry)
    return [(tag, ops) for tag, ops in groups.items() if ops]


def _models(doc: dict) -> list[tuple[str, str, list[dict]]]:
    components = doc["components"]["schemas"]
    return [(name, schema.get("description", ""), _fields(schema, components))
            for name, schema in components.items() if schema.get("properties")]


@docs_bp.get("/api/docs")
def api_docs():
    """Anyone may read it: the interface, no data."""
    doc = document()
    return render_template("api_docs.html", doc=doc, groups=_operations(doc), models=_models(doc))
