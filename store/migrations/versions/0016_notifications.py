"""Notifications (issue 17, contract §9 webhooks): webhooks, deliveries and every delivery attempt.

`webhooks`: made and removed by the CLI (`yunguan webhooks add URL [--events E,...] [--unit CODE]`, as the
owner); the application role may only read them (it needs the secret to sign). The secret is kept in clear:
an HMAC needs the key itself (docs/notifications.md).
`deliveries`: one row per (event, target) — the unique key makes the consumer of tickets.events idempotent —
queued by `yunguan notify`, sent with retries and back-off until delivered or dead. `address` is the e-mail
address or phone number a message goes to (personal data: only read to send; lists show `target`, masked).
`delivery_attempts`: every try, its outcome and error.

Revision ID: 0016_notifications
Revises: 0015_lifeline
Create Date: 2026-11-30
"""
from alembic import op

revision = "0016_notifications"
down_revision = "0015_lifeline"
branch_labels = None
depends_on = None

ROLE = "yunguan_app"  # store.roles.APP_ROLE, granted in 0010


def upgrade() -> None:
    op.execute("""
        CREATE TABLE webhooks (
            id serial PRIMARY KEY,
            url text NOT NULL,
            secret varchar(128) NOT NULL,
            events text[] NOT NULL DEFAULT '{}',
            unit_code varchar(32),
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT webhooks_url CHECK (url ~ '^https?://')
        )
    """)
    op.execute("""
        CREATE TABLE deliveries (
            id bigserial PRIMARY KEY,
            event_key text NOT NULL,
            ticket_no varchar(32) NOT NULL,
            event varchar(32) NOT NULL,
            channel varchar(8) NOT NULL,
            target_key text NOT NULL,
            target text NOT NULL,
            address text,
            hook_id integer REFERENCES webhooks (id) ON DELETE SET NULL,
            subject text,
            body text NOT NULL,
            state varchar(12) NOT NULL DEFAULT 'pending',
            attempts integer NOT NULL DEFAULT 0,
            next_at timestamptz NOT NULL DEFAULT now(),
            last_error text,
            delivered_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT deliveries_event_target UNIQUE (event_key, target_key),
            CONSTRAINT deliveries_channel CHECK (channel IN ('webhook', 'email', 'sms')),
            CONSTRAINT deliveries_state CHECK (state IN ('pending', 'delivered', 'dead'))
        )
    """)
    op.execute("CREATE INDEX ix_deliveries_due ON deliveries (next_at) WHERE state = 'pending'")
    op.execute("CREATE INDEX ix_deliveries_hook ON deliveries (hook_id)")
    op.execute("CREATE INDEX ix_deliveries_created ON deliveries (created_at)")
    op.execute("""
        CREATE TABLE delivery_attempts (
            id bigserial PRIMARY KEY,
            delivery_id bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
            at timestamptz NOT NULL DEFAULT now(),
            ok boolean NOT NULL,
            status_code integer,
            error text,
            duration_ms integer NOT NULL DEFAULT 0
        )
    """)
    op.execute("CREATE INDEX ix_delivery_attempts_delivery_id ON delivery_attempts (delivery_id)")
    op.execute(f"""
        DO $$BEGIN
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
                REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON webhooks FROM {ROLE};
                GRANT SELECT ON webhooks TO {ROLE};
            END IF;
        END$$
    """)


def downgrade() -> None:
    op.execute("DROP TABLE delivery_attempts")
    op.execute("DROP TABLE deliveries")
    op.execute("DROP TABLE webhooks")
