"""Who is calling: bearer tokens for programs and sockets, the session cookie for pages.

Tokens are signed (itsdangerous) and carry the user id; every use re-reads the account, so a
disabled account or a changed unit takes effect at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from flask import current_app, g, request, session
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from dispatch.vocabulary import STAFF_ROLES as STAFF_ROLES  # re-exported: the views' role lists
from store.users import User, get_user
from web.errors import ApiError

TOKEN_MAX_AGE_S = 12 * 3600


@dataclass(frozen=True)
class Tokens:
    secret_key: str

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt="yunguan-api-token")

    def issue(self, user: User) -> str:
        return self._serializer().dumps({"uid": user.id, "ep": user.token_epoch})

    def claims(self, token: str) -> tuple[int, int] | None:
        """(user id, token epoch) of a valid signature; the epoch must still match the account's."""
        try:
            data = self._serializer().loads(token, max_age=TOKEN_MAX_AGE_S)
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("uid"), int):
            return None
        return data["uid"], int(data.get("ep", 0))


def user_from_token(token: str | None) -> User | None:
    if not token:
        return None
    deps = current_app.extensions["yunguan"]
    claims = Tokens(deps.settings.secret_key).claims(token)
    if claims is None:
        return None
    with deps.engine.connect() as conn:
        user = get_user(conn, claims[0])
    return user if user and user.active and user.token_epoch == claims[1] else None


def current_user() -> User | None:
    """The caller, from a bearer token or the page session; cached for the request."""
    if "user" in g:
        return g.user
    user = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = user_from_token(header.removeprefix("Bearer ").strip())
        if user is None:
            raise ApiError(401, "invalid_token", "the bearer token is invalid, expired or its account is disabled")
    elif session.get("uid"):
        deps = current_app.extensions["yunguan"]
        with deps.engine.connect() as conn:
            user = get_user(conn, int(session["uid"]))
        if user is None or not user.active or user.token_epoch != session.get("ep", 0):
            session.clear()
            user = None
    g.user = user
    return user


def require_roles(*roles: str):
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                raise ApiError(401, "unauthenticated", "log in or send a bearer token from POST /api/v1/auth/token")
            if user.role not in roles:
                raise ApiError(403, "forbidden", f"role {user.role!r} may not do this; allowed: {', '.join(roles)}")
            return view(*args, **kwargs)

        return wrapped

    return decorator
