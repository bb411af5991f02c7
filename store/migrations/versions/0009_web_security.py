"""Web security: login attempts, second factor (filled by the web-security work)

Revision ID: 0009_web_security
Revises: 0008_merge_index
Create Date: 2026-11-30
"""
from alembic import op  # noqa: F401

revision = "0009_web_security"
down_revision = "0008_merge_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
