"""Operations: worker heartbeats and progress (filled by the operations work)

Revision ID: 0011_operations
Revises: 0010_audit_anchor
Create Date: 2026-11-30
"""
from alembic import op  # noqa: F401

revision = "0011_operations"
down_revision = "0010_audit_anchor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
