"""Who connects as whom: the schema owner migrates, the application runs as `yunguan_app`.

The owner (`database_url`) may do anything; the application role (`app_database_url`) may read and write
what the closed loop needs, but never UPDATE, DELETE or TRUNCATE `ticket_history` nor DELETE `tickets` or
`reports` (migration 0010 grants exactly that). A bug or an intruder in the web or worker process therefore
cannot rewrite history through the application's connection (docs/decisions/0012-tamper-evidence.md).
"""
from __future__ import annotations

import hashlib
import hmac

from sqlalchemy.engine import make_url

# The grantee of migration 0010. A deployment that wants another login name makes it a member of this role.
APP_ROLE = "yunguan_app"


def derived_password(owner_password: str) -> str:
    """The application role's password when none is configured: derived one way from the owner's, so the
    application's URL does not reveal the owner's password, and every process derives the same one."""
    return hmac.new(owner_password.encode(), b"yunguan_app login", hashlib.sha256).hexdigest()[:32]


def app_url(database_url: str, configured: str = "") -> str:
    """The runtime processes' URL: `configured` if given, else the owner's URL with the user yunguan_app."""
    if configured:
        return configured
    owner = make_url(database_url)
    url = owner.set(username=APP_ROLE, password=derived_password(owner.password) if owner.password else None)
    return url.render_as_string(hide_password=False)


def app_role_statements(role: str, password: str | None) -> list[tuple[str, dict]]:
    """SQL (run by the owner) that gives `role` a login with `password`: yunguan_app itself gets the
    password; another name becomes a login member of yunguan_app. Idempotent, safe against a concurrent run
    (another database on the same cluster creating the role at the same moment)."""
    quoted = '"' + role.replace('"', '""') + '"'
    statements: list[tuple[str, dict]] = [(
        "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + role.replace("'", "''") + "') THEN "
        f"CREATE ROLE {quoted} LOGIN; END IF; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$", {})]
    statements.append((f"ALTER ROLE {quoted} LOGIN", {}))
    if password:
        # ALTER ROLE takes no bind parameters; the literal is quoted the standard way.
        statements.append((f"ALTER ROLE {quoted} PASSWORD '" + password.replace("'", "''") + "'", {}))
    if role != APP_ROLE:
        statements.append((f'GRANT "{APP_ROLE}" TO {quoted}', {}))
    return statements
