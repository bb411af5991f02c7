"""One error type for the web layer, rendered as the contract's error body in one place."""
from __future__ import annotations

import logging

import psycopg
from flask import Flask, jsonify, request
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from dispatch.errors import DispatchError, StaleVersion

log = logging.getLogger(__name__)

# A connection refused, terminated or timed out (and a deadlock, a serialization failure, a statement or lock
# timeout: psycopg files those under OperationalError too) says nothing about the request: retry it.
DATABASE_DOWN = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
                 psycopg.OperationalError, psycopg.InterfaceError)
# A value the database refused: the request's fault, but one that validation should have caught first.
DATABASE_REFUSED_VALUE = (sa_exc.DataError, psycopg.DataError)
RETRY_AFTER_S = 5


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers or {}

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        if request.path.startswith("/open311/"):  # the spec's error list (web/open311.py)
            return _open311(exc.status, exc.message, exc.headers)
        return jsonify(exc.body()), exc.status, exc.headers

    @app.errorhandler(DispatchError)
    def _dispatch_error(exc: DispatchError):
        error = {"code": exc.code, "message": exc.message}
        if exc.fields:
            error["fields"] = exc.fields
        if exc.allowed or exc.status in (403, 422):
            error["allowed"] = list(exc.allowed)
        if isinstance(exc, StaleVersion):
            error["current_version"] = exc.expected
        return jsonify({"error": error}), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith("/open311/"):
            return _open311(exc.code or 400, exc.description or exc.name, {})
        if request.path.startswith("/api/") or request.path in {"/healthz", "/readyz"}:
            code = (exc.name or "error").lower().replace(" ", "_")
            return jsonify({"error": {"code": code, "message": exc.description}}), exc.code
        return exc

    def _database_down(exc: Exception):
        log.warning("%s %s: database unavailable: %s", request.method, request.path, _first_line(exc))
        body = {"error": {"code": "database_unavailable",
                          "message": "the database is unavailable; retry later"}}
        return jsonify(body), 503, {"Retry-After": str(RETRY_AFTER_S)}

    def _database_refused_value(exc: Exception):
        log.error("BUG: %s %s reached the database with a value it refused (validate it in the view): %s",
                  request.method, request.path, _first_line(exc), exc_info=exc)
        return jsonify({"error": {"code": "invalid_value",
                                  "message": "a value in the request cannot be stored or compared"}}), 400

    for exc_class in DATABASE_DOWN:
        app.register_error_handler(exc_class, _database_down)
    for exc_class in DATABASE_REFUSED_VALUE:
        app.register_error_handler(exc_class, _database_refused_value)


def _first_line(exc: Exception) -> str:
    """The driver's message without the SQL and parameters SQLAlchemy appends (they may hold personal data)."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def _open311(status: int, message: str, headers: dict):
    from web.open311 import error_response  # imported late: web.open311 is a blueprint built on this app

    return error_response(status, message, headers)
