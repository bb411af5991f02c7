"""Tamper evidence: application role, history checkpoints (filled by the audit work)

Revision ID: 0010_audit_anchor
Revises: 0009_web_security
Create Date: 2026-11-30
"""
from alembic import op  # noqa: F401

revision = "0010_audit_anchor"
down_revision = "0009_web_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
