"""Domain rules: leaf categories, urgent priority (filled by the domain-rules work)

Revision ID: 0012_domain_rules
Revises: 0011_operations
Create Date: 2026-11-30
"""
from alembic import op  # noqa: F401

revision = "0012_domain_rules"
down_revision = "0011_operations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
