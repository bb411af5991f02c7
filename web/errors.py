"""One error type for the web layer, rendered as the contract's error body in one place."""
from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from dispatch.errors import DispatchError, StaleVersion


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return jsonify(exc.body()), exc.status

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
        if request.path.startswith("/api/") or request.path in {"/healthz", "/readyz"}:
            code = (exc.name or "error").lower().replace(" ", "_")
            return jsonify({"error": {"code": code, "message": exc.description}}), exc.code
        return exc
