"""One source for the native JSON API's input rules and its OpenAPI 3.1 document (decision 0018).

A view declares what it takes and answers with `@documented(...)`: the pydantic models of its query and JSON
body, the roles that may call it, its responses. The decorator checks the caller's role, validates the request
with those models before the view runs (a pydantic error becomes the contract's error body, `fields` naming
the parameter or the JSON path) and leaves the parsed values in `flask.g.query` / `flask.g.body`. The same
registry, joined with the Flask URL map, builds `GET /api/v1/openapi.json`: the schemas are the models'
`model_json_schema()` (JSON Schema 2020-12, OpenAPI 3.1's dialect), so the document cannot drift from what
the views accept.
"""
from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field
from functools import wraps

from flask import Flask, g, request
from pydantic import BaseModel, ValidationError

from web.auth import require_roles
from web.errors import ApiError

OPENAPI_VERSION = "3.1.0"
REF_PREFIX = "#/components/schemas/"


@dataclass(frozen=True)
class Media:
    """A response or request body that is not one JSON model: a file download, GeoJSON, multipart."""

    media_type: str
    schema: dict = field(default_factory=dict)
    model: type[BaseModel] | None = None
    description: str = ""


@dataclass(frozen=True)
class Operation:
    summary: str
    description: str
    tags: tuple[str, ...]
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    body_required: bool
    body_error: tuple[int, str]
    form: Media | None
    validate_body: bool
    responses: dict[int, type[BaseModel] | Media | None]
    roles: tuple[str, ...] | None
    auth: str  # "none", "optional" (anonymous or bearer), "required"
    headers: dict[int, dict[str, str]]


REGISTRY: dict[str, Operation] = {}


def documented(*, tags: typing.Sequence[str], responses: dict[int, type[BaseModel] | Media | None],
               query: type[BaseModel] | None = None, body: type[BaseModel] | None = None,
               body_required: bool = True, body_error: tuple[int, str] = (422, "invalid_body"),
               validate_body: bool = True, form: Media | None = None, roles: typing.Sequence[str] | None = None,
               auth: str | None = None, headers: dict[int, dict[str, str]] | None = None, summary: str | None = None):
    """Register the view's operation and validate its input with the same models.

    `roles`: the caller must be logged in with one of them (401/403, as web.auth.require_roles, checked before
    the input: a stranger learns nothing about the parameters). `validate_body=False` documents a body that
    another layer validates with the same model (the report envelope: application.accept)."""
    def decorator(view):
        doc = (view.__doc__ or "").strip()
        first = doc.split("\n\n", 1)[0].replace("\n", " ") if doc else view.__name__.replace("_", " ")
        if view.__name__ in REGISTRY:
            raise ValueError(f"two documented views are called {view.__name__}")
        REGISTRY[view.__name__] = Operation(
            summary=summary or (first if len(first) <= 120 else first[:117] + "…"), description=doc,
            tags=tuple(tags), query=query, body=body, body_required=body_required, body_error=body_error,
            form=form, validate_body=validate_body, responses=dict(responses),
            roles=tuple(roles) if roles else None, auth=auth or ("required" if roles else "optional"),
            headers=headers or {})

        @wraps(view)
        def validating(*args, **kwargs):
            if query is not None:
                g.query = parse_query(query)
            if body is not None and validate_body and request.mimetype != "multipart/form-data":
                g.body = parse_body(body, body_error)
            return view(*args, **kwargs)

        return require_roles(*roles)(validating) if roles else validating

    return decorator


# --- validation --------------------------------------------------------------------------------------------

def _field_name(loc: tuple) -> str:
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif not str(part).startswith(("function-", "json-or-python", "lax-or-strict")):
            name += ("." if name else "") + str(part)
    return name or "(body)"


def _message(err: dict) -> str:
    return str(err["msg"]).removeprefix("Value error, ")


def errors_as_fields(exc: ValidationError, *, top_level: bool = True) -> dict[str, str]:
    """{field: message}, named as the views' hand checks did: the query parameter or the body's top-level
    field alone (`status` also for the second of `status=a&status=b`, `location` for a bad `location.crs`;
    the message says more). `top_level=False` names the whole path (`location.crs`)."""
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        name = str(loc[0]) if top_level and loc else _field_name(loc)
        detail = _field_name(loc[1:]) if top_level and len(loc) > 1 else ""
        fields.setdefault(name, f"{detail}: {_message(err)}" if detail and detail != "(body)" else _message(err))
    return fields


def _is_list(annotation) -> bool:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return True
    return any(_is_list(a) for a in typing.get_args(annotation) if a is not type(None)) if origin else False


def parse_query(model: type[BaseModel]) -> BaseModel:
    """The query string through `model`: an empty value is an absent one (`?unit=` means no filter), a
    parameter declared as a list takes every occurrence (`status=a&status=b`). A failure is 400
    `invalid_query` naming each parameter."""
    data: dict[str, object] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if _is_list(info.annotation):
            values = [v for v in request.args.getlist(key) if v != ""]
            if values:
                data[key] = values
        else:
            value = request.args.get(key)
            if value not in (None, ""):
                data[key] = value
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = errors_as_fields(exc)
        first = next(iter(fields.items()))
        raise ApiError(400, "invalid_query", f"{first[0]}: {first[1]}", fields) from None


def parse_body(model: type[BaseModel], error: tuple[int, str]) -> BaseModel:
    """The JSON body through `model` (request hygiene has parsed and checked it already): not a JSON object
    is 400 `bad_json`; a value the model refuses is `error` (status, code) naming the field."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object (Content-Type: application/json)")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = errors_as_fields(exc)
        first = next(iter(fields.items()))
        raise ApiError(error[0], error[1], f"{first[0]}: {first[1]}", fields) from None


# --- the document ------------------------------------------------------------------------------------------

_RULE_ARG = re.compile(r"<(?:([a-z_]+)(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
_CONVERTER_SCHEMAS = {None: {"type": "string", "minLength": 1}, "string": {"type": "string", "minLength": 1},
                      "int": {"type": "integer", "minimum": 0}, "path": {"type": "string", "minLength": 1}}
_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 400: "Invalid request (the error names the field)",
                401: "Not logged in, or the token is invalid", 403: "The caller's role may not do this",
                404: "Not found (or not in the caller's scope)", 409: "The ticket changed meanwhile (version)",
                413: "The body is too large", 415: "Unsupported media type",
                422: "A value the operation refuses (the error names the field)",
                429: "Too many requests; retry after Retry-After",
                503: "A backing service is unavailable; retry after Retry-After"}


class _Schemas:
    """Component schemas collected from every model; pydantic's `$defs` become components."""

    def __init__(self) -> None:
        self.components: dict[str, dict] = {}

    def ref(self, model: type[BaseModel], mode: str = "validation") -> dict:
        schema = model.model_json_schema(ref_template=REF_PREFIX + "{model}", mode=mode)
        for name, sub in schema.pop("$defs", {}).items():
            self.components.setdefault(name, sub)
        name = model.__name__
        self.components.setdefault(name, schema)
        return {"$ref": REF_PREFIX + name}


def _path_of(rule: str) -> str:
    return _RULE_ARG.sub(lambda m: "{" + m.group(2) + "}", rule)


def _path_parameters(rule: str) -> list[dict]:
    return [{"name": m.group(2), "in": "path", "required": True,
             "schema": dict(_CONVERTER_SCHEMAS.get(m.group(1), _CONVERTER_SCHEMAS[None]))}
            for m in _RULE_ARG.finditer(rule)]


def _query_parameters(model: type[BaseModel], schemas: _Schemas) -> list[dict]:
    schema = model.model_json_schema(ref_template=REF_PREFIX + "{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas.components.setdefault(name, sub)
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if prop.get("type") == "array":
            param.update(style="form", explode=True)
        if description:
            param["description"] = description
        params.append(param)
    return params


def _response(status: int, spec, schemas: _Schemas, headers: dict[str, str]) -> dict:
    out: dict = {"description": _STATUS_TEXT.get(status, "")}
    if isinstance(spec, Media):
        schema = schemas.ref(spec.model, "serialization") if spec.model else spec.schema
        out["content"] = {spec.media_type: {"schema": schema}}
        out["description"] = spec.description or out["description"]
    elif spec is not None:
        out["content"] = {"application/json": {"schema": schemas.ref(spec, "serialization")}}
    if headers:
        out["headers"] = {name: {"description": text, "schema": {"type": "string"}} for name, text in headers.items()}
    return out


def build_document(app: Flask, *, title: str, version: str, error_model: type[BaseModel]) -> dict:
    """The OpenAPI 3.1 document of every documented rule of `app` (URL map order)."""
    schemas = _Schemas()
    paths: dict[str, dict] = {}
    tags: dict[str, None] = {}
    for rule in app.url_map.iter_rules():
        name = rule.endpoint.rsplit(".", 1)[-1]
        op = REGISTRY.get(name)
        if op is None or rule.endpoint.split(".")[0] not in ("api", "health"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict = {"operationId": name, "summary": op.summary, "tags": list(op.tags)}
            if op.description and op.description != op.summary:
                operation["description"] = op.description
            params = _path_parameters(rule.rule)
            if op.query is not None:
                params += _query_parameters(op.query, schemas)
            if params:
                operation["parameters"] = params
            content = {}
            if op.body is not None:
                content["application/json"] = {"schema": schemas.ref(op.body)}
            if op.form is not None:
                schema = schemas.ref(op.form.model) if op.form.model else op.form.schema
                content[op.form.media_type] = {"schema": schema}
            if content:
                operation["requestBody"] = {"required": op.body_required, "content": content}
            responses = {}
            for status, spec in sorted(op.responses.items()):
                if spec is error_model:
                    spec = error_model
                responses[str(status)] = _response(status, spec, schemas, op.headers.get(status, {}))
            operation["responses"] = responses
            if op.auth == "required":
                operation["security"] = [{"bearer": []}]
                operation["x-roles"] = list(op.roles or ())
            elif op.auth == "optional":
                operation["security"] = [{}, {"bearer": []}]
            else:
                operation["security"] = []
            for tag in op.tags:
                tags[tag] = None
            paths.setdefault(_path_of(rule.rule), {})[method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version,
                 "description": "The native JSON API of Yunguan. Get a token with POST /api/v1/auth/token and send "
                                "it as `Authorization: Bearer <token>`. Every error has the body "
                                "`{\"error\": {\"code\", \"message\", \"fields\"}}`; `fields` names each offending "
                                "parameter or JSON path."},
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "servers": [{"url": "/"}],
        "tags": [{"name": t} for t in tags],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A token from POST /api/v1/auth/token (12 hours)."}},
        },
    }


def undocumented_rules(app: Flask, prefix: str = "/api/v1") -> list[str]:
    """Rules under `prefix` whose view is not registered: the test keeps this empty."""
    return sorted(r.rule for r in app.url_map.iter_rules()
                  if r.rule.startswith(prefix) and r.endpoint.rsplit(".", 1)[-1] not in REGISTRY)
