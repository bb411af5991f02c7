"""Data exchange (issue 17, contract §9): the change log a push reads, its cursor and every push attempt.

`exchange_changes`: one row per (transaction, ticket) that inserted or updated a ticket, written by two
statement-level triggers on `tickets` (transition tables: one INSERT per statement, however many rows). `xid`
is the writing transaction's 64-bit id (`pg_current_xact_id()`, as bigint). A push reads only changes whose
transaction ended before every transaction still running began (`xid < pg_snapshot_xmin(...)`), so a change
that commits late can never fall behind a cursor already moved past it — a sequence number (history id,
outbox id) can: ids are taken at insert, rows appear at commit (docs/decisions/0019-data-exchange.md).
The existing tickets are logged once here, so the first push sends every case.
`exchange_cursor`: the one acknowledged position, (xid, ticket_id) of the last change sent and acknowledged.
`exchange_pushes`: every POST of a batch (every attempt), its outcome and error, for operators.

Revision ID: 0017_exchange
Revises: 0016_notifications
Create Date: 2026-11-30
"""
from alembic import op

revision = "0017_exchange"
down_revision = "0016_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE exchange_changes (
            xid bigint NOT NULL,
            ticket_id bigint NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
            CONSTRAINT exchange_changes_pkey PRIMARY KEY (xid, ticket_id)
        )
    """)
    # "Has this ticket changed again later?" — the push skips all but a ticket's last change in its window.
    op.execute("CREATE INDEX ix_exchange_changes_ticket ON exchange_changes (ticket_id, xid)")
    op.execute("""
        CREATE FUNCTION exchange_note_changes() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO exchange_changes (xid, ticket_id)
            SELECT pg_current_xact_id()::text::bigint, c.id FROM changed c
            ON CONFLICT DO NOTHING;
            RETURN NULL;
        END$$
    """)
    # A trigger with transition tables may have one event only: one for INSERT, one for UPDATE.
    op.execute("CREATE TRIGGER exchange_ticket_inserted AFTER INSERT ON tickets REFERENCING NEW TABLE AS changed "
               "FOR EACH STATEMENT EXECUTE FUNCTION exchange_note_changes()")
    op.execute("CREATE TRIGGER exchange_ticket_updated AFTER UPDATE ON tickets REFERENCING NEW TABLE AS changed "
               "FOR EACH STATEMENT EXECUTE FUNCTION exchange_note_changes()")
    op.execute("INSERT INTO exchange_changes (xid, ticket_id) "
               "SELECT pg_current_xact_id()::text::bigint, id FROM tickets")
    op.execute("""
        CREATE TABLE exchange_cursor (
            id smallint PRIMARY KEY DEFAULT 1,
            xid bigint NOT NULL,
            ticket_id bigint NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT exchange_cursor_single CHECK (id = 1)
        )
    """)
    op.execute("""
        CREATE TABLE exchange_pushes (
            id bigserial PRIMARY KEY,
            run varchar(32) NOT NULL,
            at timestamptz NOT NULL DEFAULT now(),
            endpoint text NOT NULL,
            cursor_from text NOT NULL,
            cursor_to text,
            cases integer NOT NULL DEFAULT 0,
            attempt integer NOT NULL DEFAULT 1,
            ok boolean NOT NULL,
            status_code integer,
            error text,
            duration_ms integer NOT NULL DEFAULT 0
        )
    """)
    op.execute("CREATE INDEX ix_exchange_pushes_at ON exchange_pushes (at)")


def downgrade() -> None:
    op.execute("DROP TABLE exchange_pushes")
    op.execute("DROP TABLE exchange_cursor")
    op.execute("DROP TRIGGER exchange_ticket_updated ON tickets")
    op.execute("DROP TRIGGER exchange_ticket_inserted ON tickets")
    op.execute("DROP FUNCTION exchange_note_changes()")
    op.execute("DROP TABLE exchange_changes")
