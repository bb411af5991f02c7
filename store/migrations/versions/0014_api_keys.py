"""API keys for Open311 GeoReport v2 clients (contract §9): `yunguan apikeys add NAME [--channel C]`.

Only the key's SHA-256 is stored (the key itself is printed once, by the CLI); a revoked key keeps its row
(`revoked_at`), so its name stays taken and the record says when it stopped working. The key's channel is
the channel of the reports it posts: `public` by default, `hotline` or `grid` for a trusted integrator, never
`sensor` (sensors publish to Kafka directly). The CHECK mirrors dispatch.vocabulary.CHANNELS without `sensor`.

The application role (0010) may only read this table: a bug or an intruder in the web process cannot mint,
restore or delete a key; the CLI, which connects as the owner, does.

Revision ID: 0014_api_keys
Revises: 0013_ticket_kpi
Create Date: 2026-11-30
"""
from alembic import op

revision = "0014_api_keys"
down_revision = "0013_ticket_kpi"
branch_labels = None
depends_on = None

ROLE = "yunguan_app"  # store.roles.APP_ROLE, granted in 0010


def upgrade() -> None:
    op.execute("""
        CREATE TABLE api_keys (
            name varchar(64) PRIMARY KEY,
            key_sha256 varchar(64) NOT NULL,
            channel varchar(16) NOT NULL DEFAULT 'public',
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz,
            CONSTRAINT api_keys_key_sha256 UNIQUE (key_sha256),
            CONSTRAINT api_keys_channel CHECK (channel IN ('grid', 'hotline', 'public')),
            CONSTRAINT api_keys_name CHECK (name <> '')
        )
    """)
    op.execute(f"""
        DO $$BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
                REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON api_keys FROM {ROLE};
                GRANT SELECT ON api_keys TO {ROLE};
            END IF;
        END$$
    """)


def downgrade() -> None:
    op.execute("DROP TABLE api_keys")
