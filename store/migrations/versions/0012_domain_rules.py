"""Domain rules: leaf categories, urgent priority — no schema change needed (docs/decisions/0013)

`tickets.priority` and its CHECK (`normal`/`urgent`) exist since 0004; the rules live in dispatch/intake.py.
A CHECK that `tickets.category` is a six-digit 小类 was left out on purpose: even NOT VALID it would apply
to every later UPDATE of a legacy ticket with a non-小类 category and fail the next action on it. The
revision stays in the chain so that 0011 -> 0012 is one line of history.

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
