"""TOTP secrets are sealed at rest (store.sealing): a Fernet token with its prefix is about 150 characters,
more than the 64 the column had. The column becomes text; the secrets themselves are sealed by `yunguan up`
right after it migrates (the migration has no key to seal them with).

Revision ID: 0020_totp_sealed
Revises: 0019_readings_c_collation
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0020_totp_sealed"
down_revision = "0019_readings_c_collation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("users", "totp_secret", type_=sa.Text, existing_type=sa.String(64))


def downgrade() -> None:
    # Sealed secrets do not fit back: a downgrade drops them (their owners enrol again).
    op.execute("UPDATE users SET totp_secret = NULL, totp_last_step = NULL WHERE length(totp_secret) > 64")
    op.alter_column("users", "totp_secret", type_=sa.String(64), existing_type=sa.Text)
