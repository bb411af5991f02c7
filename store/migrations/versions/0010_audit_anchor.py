"""Tamper evidence: the application role `yunguan_app`, which cannot rewrite history.

The web, worker and deadline processes connect as `yunguan_app` (store/roles.py); migrations and the admin
loaders keep the owner's URL. The role may read every table and write the closed loop's tables, but it may
not UPDATE, DELETE or TRUNCATE `ticket_history`, nor DELETE (or TRUNCATE) `tickets` and `reports`, and it
only reads `alembic_version` and PostGIS's tables and views. Tables and sequences that later migrations
create (as the owner) get the same DML grants through ALTER DEFAULT PRIVILEGES, so a new table works for
the application without a grant of its own; one that must be protected revokes like this one does.

Roles are shared by every database of the cluster: the role is created only if missing (tolerating another
database's migration doing it at the same moment) and never dropped by the downgrade, which only takes this
database's grants away. Creating it needs CREATEROLE; where the owner lacks it, a DBA runs
`CREATE ROLE yunguan_app LOGIN` first. Its password is set by `yunguan up` / `yunguan db upgrade`.

Revision ID: 0010_audit_anchor
Revises: 0009_web_security
Create Date: 2026-11-30
"""
from alembic import op

revision = "0010_audit_anchor"
down_revision = "0009_web_security"
branch_labels = None
depends_on = None

ROLE = "yunguan_app"


def upgrade() -> None:
    op.execute(
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN CREATE ROLE {ROLE} LOGIN; "
        "END IF; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ROLE}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version, spatial_ref_sys, geometry_columns, "
               f"geography_columns FROM {ROLE}")
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON ticket_history FROM {ROLE}")
    op.execute(f"REVOKE DELETE, TRUNCATE ON tickets, reports FROM {ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {ROLE}")


def downgrade() -> None:
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {ROLE}")
