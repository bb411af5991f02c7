"""Web security: a record of login attempts, and a TOTP second factor per account.

`login_attempts` keeps who tried (the username as typed, and the account when it exists), from where, when,
and how it ended; the web's login throttle counts the failures in it, so the limit holds across web
processes and restarts, and an operator can read who was attacked from where (decision 0011). The username
is kept as text, not only as a foreign key, because attempts on unknown names are the ones worth seeing.

`users.totp_secret` is the base32 secret of an enrolled second factor (NULL: none);
`users.totp_last_step` is the last 30-second time step a code was accepted for, so a code cannot be used twice.

Revision ID: 0009_web_security
Revises: 0008_merge_index
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_web_security"
down_revision = "0008_merge_index"
branch_labels = None
depends_on = None

OUTCOMES = ("ok", "unknown_user", "bad_password", "disabled", "otp_required", "bad_otp", "otp_not_enrolled",
            "throttled")


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("via", sa.String(8), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.CheckConstraint("outcome IN (" + ", ".join(f"'{o}'" for o in OUTCOMES) + ")", name="login_attempts_outcome"),
        sa.CheckConstraint("via IN ('api', 'page')", name="login_attempts_via"),
    )
    # The throttle's two questions: recent failures of this name, recent failures from this address.
    op.create_index("ix_login_attempts_username_at", "login_attempts", ["username", "at"])
    op.create_index("ix_login_attempts_address_at", "login_attempts", ["address", "at"])
    op.add_column("users", sa.Column("totp_secret", sa.String(64)))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger))


def downgrade() -> None:
    op.drop_column("users", "totp_last_step")
    op.drop_column("users", "totp_secret")
    op.drop_table("login_attempts")
