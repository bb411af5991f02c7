"""综合评价 v1: one row of facts per ticket (`ticket_kpi`), written with every change of the ticket

The evaluation (contract §8), its case lists, hotspots and trends are GROUP BY queries over this table instead
of replays of `ticket_history` per request (docs/evaluation.md). A row holds what `dispatch.kpi.facts` derives
from the loop state, the ticket's opening instant, category, area codes per level and closing instant, and
the channel of its first report. `overdue` depends on the time of evaluation, so the running handle
clock's deadline is kept (`handle_due`) and the flag is decided in SQL at query time.

The table starts empty: `yunguan kpi rebuild` computes the rows of tickets written before this revision
(and may be run again at any time; it replaces every row).

Revision ID: 0013_ticket_kpi
Revises: 0012_domain_rules
Create Date: 2026-11-30
"""
from alembic import op

revision = "0013_ticket_kpi"
down_revision = "0012_domain_rules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE ticket_kpi (
            ticket_id bigint PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL,
            channel varchar(16),
            category varchar(16),
            district_code varchar(32),
            street_code varchar(32),
            community_code varchar(32),
            grid_code varchar(32),
            status varchar(16),
            first_dispatched_at timestamptz,
            lead_unit varchar(32),
            acknowledged_on_time boolean NOT NULL DEFAULT false,
            handled boolean NOT NULL DEFAULT false,
            handled_on_time boolean NOT NULL DEFAULT false,
            handled_late boolean NOT NULL DEFAULT false,
            handled_due timestamptz,
            reworked boolean NOT NULL DEFAULT false,
            returned boolean NOT NULL DEFAULT false,
            extended boolean NOT NULL DEFAULT false,
            closed_at timestamptz,
            ack_due timestamptz,
            handle_due timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT ticket_kpi_handled_split CHECK (NOT (handled_on_time AND handled_late)
                                                       AND (handled = (handled_on_time OR handled_late)))
        )
    """)
    # The population of a period, and of one unit's or category's row (case lists); hotspots and intake
    # trends by opening day; closure and missed-deadline trends.
    op.execute("CREATE INDEX ix_ticket_kpi_first_dispatched ON ticket_kpi (first_dispatched_at)")
    op.execute("CREATE INDEX ix_ticket_kpi_unit ON ticket_kpi (lead_unit, first_dispatched_at)")
    op.execute("CREATE INDEX ix_ticket_kpi_category ON ticket_kpi (category, first_dispatched_at)")
    for level in ("district", "street", "community", "grid"):
        op.execute(f"CREATE INDEX ix_ticket_kpi_{level} ON ticket_kpi ({level}_code, first_dispatched_at)")
    op.execute("CREATE INDEX ix_ticket_kpi_created ON ticket_kpi (created_at)")
    op.execute("CREATE INDEX ix_ticket_kpi_closed ON ticket_kpi (closed_at) WHERE closed_at IS NOT NULL")
    op.execute("CREATE INDEX ix_ticket_kpi_handle_due ON ticket_kpi (handle_due) WHERE handle_due IS NOT NULL")
    op.execute("CREATE INDEX ix_ticket_kpi_handled_due ON ticket_kpi (handled_due) WHERE handled_late")


def downgrade() -> None:
    op.execute("DROP TABLE ticket_kpi")
