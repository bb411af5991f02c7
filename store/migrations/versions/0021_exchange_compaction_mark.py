"""`exchange push` compacts the change log after each push (store.exchange.compact). It scanned the whole log
every time (about 1 s at a million rows); `exchange_cursor.compacted_below` remembers the horizon it last
compacted to, so the next compaction reads only the changes made since.

Revision ID: 0021_exchange_compaction_mark
Revises: 0020_totp_sealed
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0021_exchange_compaction_mark"
down_revision = "0020_totp_sealed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("exchange_cursor", sa.Column("compacted_below", sa.BigInteger, nullable=False,
                                               server_default=sa.text("0")))


def downgrade() -> None:
    op.drop_column("exchange_cursor", "compacted_below")
