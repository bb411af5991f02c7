"""The raw readings' key columns compare bytes (COLLATE "C"): every reading stored is a B-tree insert into
(device_id, metric, at), and under a linguistic collation (en_US.UTF-8, zh_CN.UTF-8) each comparison is a
strcoll call. Device ids and metric names are identifiers, not words; byte order is what they need (and, for
UTF-8, code point order: what C.UTF-8 gives already). The indexes are rebuilt; the table is not rewritten.

Revision ID: 0019_readings_c_collation
Revises: 0018_intake_dead
Create Date: 2026-11-30
"""
from alembic import op

revision = "0019_readings_c_collation"
down_revision = "0018_intake_dead"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute('ALTER TABLE sensor_readings ALTER COLUMN device_id TYPE varchar(64) COLLATE "C", '
               'ALTER COLUMN metric TYPE varchar(64) COLLATE "C"')


def downgrade() -> None:
    op.execute('ALTER TABLE sensor_readings ALTER COLUMN device_id TYPE varchar(64) COLLATE "default", '
               'ALTER COLUMN metric TYPE varchar(64) COLLATE "default"')
