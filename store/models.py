"""The tables, as SQLAlchemy 2 typed models. Constraints live in the database; migrations create them."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CHANNELS = ("grid", "hotline", "public", "sensor")
ROLES = ("admin", "operator", "department", "grid", "hotline")
STATUSES = (
    "pending", "registered", "dispatched", "acknowledged", "handled", "verified", "closed",
    "returned", "rejected", "suspended", "reopened",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    pass


class AreaRow(Base):
    __tablename__ = "areas"
    __table_args__ = (
        CheckConstraint(_in("level", ("district", "street", "community", "grid")), name="areas_level"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="areas_valid_range"),
        UniqueConstraint("code", "valid_from", name="areas_code_valid_from"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_code: Mapped[str | None] = mapped_column(String(32), index=True)
    valid_from: Mapped[date] = mapped_column(Date, server_default=func.current_date())
    valid_to: Mapped[date | None] = mapped_column(Date)
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False))


class UnitRow(Base):
    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint(_in("level", ("city", "district", "street")), name="units_level"),
    )

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    area_code: Mapped[str | None] = mapped_column(String(32), index=True)


class CategoryRow(Base):
    __tablename__ = "categories"
    __table_args__ = (CheckConstraint(_in("kind", ("component", "event")), name="categories_kind"),)

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    parent: Mapped[str | None] = mapped_column(ForeignKey("categories.code"))
    ack_limit_h: Mapped[float | None] = mapped_column()
    handle_limit_h: Mapped[float | None] = mapped_column()


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="users_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    grid_code: Mapped[str | None] = mapped_column(String(32))
    supervisor: Mapped[bool] = mapped_column(Boolean, server_default="false")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TicketRow(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="tickets_status"),
        CheckConstraint("version >= 1", name="tickets_version_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    category: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    location: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False), nullable=True)
    district_code: Mapped[str | None] = mapped_column(String(32), index=True)
    area: Mapped[dict] = mapped_column(JSONB)
    assignee_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"), index=True)
    routing: Mapped[dict] = mapped_column(JSONB)
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalation_level: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ReportRow(Base):
    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("channel", "report_id", name="reports_channel_report_id"),
        CheckConstraint(_in("channel", CHANNELS), name="reports_channel"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    report_id: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    category: Mapped[str | None] = mapped_column(String(16))
    envelope: Mapped[dict] = mapped_column(JSONB)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    source_topic: Mapped[str] = mapped_column(Text)
    source_partition: Mapped[int] = mapped_column(Integer)
    source_offset: Mapped[int] = mapped_column(BigInteger)


class HistoryRow(Base):
    __tablename__ = "ticket_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class OutboxRow(Base):
    """Events written in the same transaction as the change they describe; a relay publishes them."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    topic: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TicketDaySequence(Base):
    __tablename__ = "ticket_day_sequence"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class IntakeLogRow(Base):
    """Reports accepted over HTTP: the idempotency record for re-sends and the reconciliation source."""

    __tablename__ = "intake_log"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_sha256: Mapped[str] = mapped_column(String(64))
    envelope: Mapped[dict] = mapped_column(JSONB)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    republished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
