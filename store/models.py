"""The tables as SQLAlchemy 2 typed models: a readable map of the schema that `alembic check` holds to the
migrations (tests/test_models_match.py). The code queries with SQL text and Core; nothing creates tables
from these models — migrations do — so a model that differs from them is caught by that test, not by a query.

What autogenerate cannot compare is not declared here, so that nothing in this file can drift unseen:
CHECK constraints (each table names its own in a comment; their text is in the migration that made them,
the values they allow are the domain's enums in dispatch/), the PL/pgSQL function `geocode_candidates`
(0007), the application role's grants (0010). Partial and GiST/GIN indexes are declared, because
autogenerate compares index names and columns; their WHERE clauses and operator classes are copied from the
migrations for the reader (autogenerate does not compare those).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TZ = DateTime(timezone=True)
# Open tickets, as the partial indexes of 0004 and 0008 spell it (dispatch.model.OPEN_STATUSES in Python).
_OPEN = text("status NOT IN ('closed', 'rejected')")


class Base(DeclarativeBase):
    pass


class AreaRow(Base):
    """Administrative areas, versioned by validity dates (0006). CHECKs: areas_level, areas_valid_range."""

    __tablename__ = "areas"
    __table_args__ = (
        UniqueConstraint("code", "valid_from", name="areas_code_valid_from"),
        Index("ix_areas_level_valid", "level", "valid_from", "valid_to"),
        Index("ix_areas_geom", "geom", postgresql_using="gist"),
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
    """Responsible units (departments, street offices, command centres). CHECK: units_level."""

    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    area_code: Mapped[str | None] = mapped_column(String(32), index=True)


class CategoryRow(Base):
    """The category taxonomy with its time limits and standards (0004). CHECK: categories_kind."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    parent: Mapped[str | None] = mapped_column(ForeignKey("categories.code"))
    ack_limit_h: Mapped[float | None] = mapped_column()
    handle_limit_h: Mapped[float | None] = mapped_column()
    time_basis: Mapped[str | None] = mapped_column(String(8))
    urgent: Mapped[bool] = mapped_column(Boolean, server_default="false")
    unit_kind: Mapped[str | None] = mapped_column(String(32))
    register_standard: Mapped[str | None] = mapped_column(Text)
    close_standard: Mapped[str | None] = mapped_column(Text)
    merge_distance_m: Mapped[float | None] = mapped_column()
    merge_window_h: Mapped[float | None] = mapped_column()


class UserRow(Base):
    """Staff accounts; `token_epoch` ends old tokens (0004), `totp_*` is the second factor (0009).
    CHECK: users_role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    grid_code: Mapped[str | None] = mapped_column(String(32))
    supervisor: Mapped[bool] = mapped_column(Boolean, server_default="false")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    token_epoch: Mapped[int] = mapped_column(Integer, server_default="0")
    totp_secret: Mapped[str | None] = mapped_column(Text)  # sealed (store.sealing)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)


class LoginAttemptRow(Base):
    """Every login attempt, API or page (0009); the throttle counts failures here.
    CHECKs: login_attempts_outcome, login_attempts_via."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    username: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    address: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(8))
    outcome: Mapped[str] = mapped_column(String(24))


class TicketRow(Base):
    """A ticket and its loop state (0001, 0004). CHECKs: tickets_status, tickets_priority,
    tickets_version_positive."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_location", "location", postgresql_using="gist"),
        Index("ix_tickets_assist_codes", "assist_codes", postgresql_using="gin"),
        Index("ix_tickets_open_deadline", "deadline", postgresql_where=_OPEN),
        # btree_gist (0008) supplies the equality operator class for `category`.
        Index("ix_tickets_open_category_location", "category", "location", postgresql_using="gist",
              postgresql_where=_OPEN),
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
    deadline: Mapped[datetime | None] = mapped_column(TZ)
    escalation_level: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    loop: Mapped[dict | None] = mapped_column(JSONB)  # dispatch.lifecycle's snapshot of the loop state
    priority: Mapped[str] = mapped_column(String(8), server_default="normal")
    grid_code: Mapped[str | None] = mapped_column(String(32), index=True)
    assist_codes: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default="{}")
    deadline_state: Mapped[str | None] = mapped_column(String(8))
    report_count: Mapped[int] = mapped_column(Integer, server_default="1")
    history_head: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(TZ)


class ReportRow(Base):
    """One report as consumed, unique per (channel, report_id). CHECK: reports_channel."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("channel", "report_id", name="reports_channel_report_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    report_id: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(TZ)
    received_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    category: Mapped[str | None] = mapped_column(String(16))
    envelope: Mapped[dict] = mapped_column(JSONB)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    source_topic: Mapped[str] = mapped_column(Text)
    source_partition: Mapped[int] = mapped_column(Integer)
    source_offset: Mapped[int] = mapped_column(BigInteger)


class HistoryRow(Base):
    """A ticket's history, hash-chained per ticket (0004); the application role may only append (0010)."""

    __tablename__ = "ticket_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(TZ)
    actor: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    party: Mapped[str | None] = mapped_column(String(16))
    data: Mapped[dict | None] = mapped_column(JSONB)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class OutboxRow(Base):
    """Events written in the same transaction as the change they describe; a relay publishes them."""

    __tablename__ = "outbox"
    # The relay only ever looks at unsent rows; the index stays tiny.
    __table_args__ = (Index("ix_outbox_unsent", "id", postgresql_where=text("sent_at IS NULL")),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    topic: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(TZ)


class TicketDaySequence(Base):
    __tablename__ = "ticket_day_sequence"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class IntakeLogRow(Base):
    """Reports accepted over HTTP: the idempotency record for re-sends and the reconciliation source;
    `refused_at` marks a 503 so that a late copy is never ticketed (0011)."""

    __tablename__ = "intake_log"
    __table_args__ = (
        PrimaryKeyConstraint("channel", "report_id", name="intake_log_pkey"),
        Index("ix_intake_log_accepted_at", "accepted_at", postgresql_where=text("accepted_at IS NOT NULL")),
    )

    channel: Mapped[str] = mapped_column(String(16))
    report_id: Mapped[str] = mapped_column(String(64))
    body_sha256: Mapped[str] = mapped_column(String(64))
    envelope: Mapped[dict] = mapped_column(JSONB)
    first_seen_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    accepted_at: Mapped[datetime | None] = mapped_column(TZ)
    republished_at: Mapped[datetime | None] = mapped_column(TZ)
    refused_at: Mapped[datetime | None] = mapped_column(TZ)
    dead_at: Mapped[datetime | None] = mapped_column(TZ)  # the worker dead-lettered it (0018)
    dead_reason: Mapped[str | None] = mapped_column(Text)


class DutyRow(Base):
    """The responsibility matrix (0005): `unit` is a unit code or a pattern (street_office, district:<kind>)."""

    __tablename__ = "duties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    unit: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(16), server_default="")
    area: Mapped[str | None] = mapped_column(String(32))
    zone: Mapped[str | None] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, server_default="0")


class ZoneRow(Base):
    """Special zones (park, campus, railway, trunk road …) that a duty may be limited to (0005)."""

    __tablename__ = "zones"
    __table_args__ = (Index("ix_zones_geom", "geom", postgresql_using="gist"),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False))


class PlaceRow(Base):
    """The gazetteer for geocoding (0005, 0007): roads, communities, landmarks, with their trigram sets."""

    __tablename__ = "places"
    __table_args__ = (
        Index("ix_places_geom", "geom", postgresql_using="gist"),
        Index("ix_places_name", "name"),
        Index("ix_places_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"},
              postgresql_with={"fastupdate": "off"}),
        Index("ix_places_trgm", "trgm", postgresql_using="gin", postgresql_with={"fastupdate": "off"}),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    geom: Mapped[Any] = mapped_column(Geometry("GEOMETRY", srid=4326, spatial_index=False))
    trgm: Mapped[list[str] | None] = mapped_column(ARRAY(Text), Computed("show_trgm(name)", persisted=True))


class WorkerHeartbeatRow(Base):
    """What each intake worker last said about its progress (0011). CHECK: worker_heartbeats_state_check."""

    __tablename__ = "worker_heartbeats"
    __table_args__ = (Index("ix_worker_heartbeats_group", "group_id", "beat_at"),)

    worker_id: Mapped[str] = mapped_column(Text, primary_key=True)
    group_id: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(Text)
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(TZ)
    beat_at: Mapped[datetime] = mapped_column(TZ)
    state: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    partitions: Mapped[list] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    lag: Mapped[int | None] = mapped_column(BigInteger)
    assigned_at: Mapped[datetime | None] = mapped_column(TZ)
    committed_at: Mapped[datetime | None] = mapped_column(TZ)
    stuck_since: Mapped[datetime | None] = mapped_column(TZ)
    messages: Mapped[int] = mapped_column(BigInteger, server_default="0")
    dead_letters: Mapped[int] = mapped_column(BigInteger, server_default="0")


class DlqReplayRow(Base):
    """Which dead letters `yunguan dlq replay` re-published, and where to (0011)."""

    __tablename__ = "dlq_replays"

    dlq_topic: Mapped[str] = mapped_column(Text, primary_key=True)
    dlq_partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    dlq_offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    replayed_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    topic: Mapped[str] = mapped_column(Text)
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)


class TicketKpiRow(Base):
    """One row of evaluation facts per ticket, written with every change of it (0013, store/kpi.py).
    CHECK: ticket_kpi_handled_split (handled = on time or late, never both)."""

    __tablename__ = "ticket_kpi"
    __table_args__ = (
        Index("ix_ticket_kpi_first_dispatched", "first_dispatched_at"),
        Index("ix_ticket_kpi_unit", "lead_unit", "first_dispatched_at"),
        Index("ix_ticket_kpi_category", "category", "first_dispatched_at"),
        Index("ix_ticket_kpi_district", "district_code", "first_dispatched_at"),
        Index("ix_ticket_kpi_street", "street_code", "first_dispatched_at"),
        Index("ix_ticket_kpi_community", "community_code", "first_dispatched_at"),
        Index("ix_ticket_kpi_grid", "grid_code", "first_dispatched_at"),
        Index("ix_ticket_kpi_created", "created_at"),
        Index("ix_ticket_kpi_closed", "closed_at", postgresql_where=text("closed_at IS NOT NULL")),
        Index("ix_ticket_kpi_handle_due", "handle_due", postgresql_where=text("handle_due IS NOT NULL")),
        Index("ix_ticket_kpi_handled_due", "handled_due", postgresql_where=text("handled_late")),
    )

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(TZ)
    channel: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(16))
    district_code: Mapped[str | None] = mapped_column(String(32))
    street_code: Mapped[str | None] = mapped_column(String(32))
    community_code: Mapped[str | None] = mapped_column(String(32))
    grid_code: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(16))
    first_dispatched_at: Mapped[datetime | None] = mapped_column(TZ)
    lead_unit: Mapped[str | None] = mapped_column(String(32))
    acknowledged_on_time: Mapped[bool] = mapped_column(Boolean, server_default="false")
    handled: Mapped[bool] = mapped_column(Boolean, server_default="false")
    handled_on_time: Mapped[bool] = mapped_column(Boolean, server_default="false")
    handled_late: Mapped[bool] = mapped_column(Boolean, server_default="false")
    handled_due: Mapped[datetime | None] = mapped_column(TZ)
    reworked: Mapped[bool] = mapped_column(Boolean, server_default="false")
    returned: Mapped[bool] = mapped_column(Boolean, server_default="false")
    extended: Mapped[bool] = mapped_column(Boolean, server_default="false")
    closed_at: Mapped[datetime | None] = mapped_column(TZ)
    ack_due: Mapped[datetime | None] = mapped_column(TZ)
    handle_due: Mapped[datetime | None] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class ApiKeyRow(Base):
    """Open311 clients' API keys, by name, only the key's SHA-256 stored (0014, store/apikeys.py); the
    application role may only read them. CHECKs: api_keys_channel (grid, hotline, public), api_keys_name."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("key_sha256", name="api_keys_key_sha256"),)

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_sha256: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16), server_default="public")
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(TZ)


class WebhookRow(Base):
    """Webhooks of integrators and units (0016, store/deliveries.py): made and removed by the CLI; the
    application role may only read them. CHECK: webhooks_url (http or https)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(128))
    events: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    unit_code: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class DeliveryRow(Base):
    """One notification to one target for one ticket event, sent with retries (0016, streams/notify.py).
    CHECKs: deliveries_channel (webhook, email, sms), deliveries_state (pending, delivered, dead)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_key", "target_key", name="deliveries_event_target"),
        Index("ix_deliveries_due", "next_at", postgresql_where=text("state = 'pending'")),
        Index("ix_deliveries_hook", "hook_id"),
        Index("ix_deliveries_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_key: Mapped[str] = mapped_column(Text)
    ticket_no: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(8))
    target_key: Mapped[str] = mapped_column(Text)
    target: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    hook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id", ondelete="SET NULL"))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class DeliveryAttemptRow(Base):
    """Every try of a delivery: when, whether it worked, the receiver's status and the error (0016)."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, server_default="0")


# City lifeline monitoring (0015, contract §10). CHECKs: device_kinds_offline_after, device_thresholds_level
# (1–3), device_thresholds_direction (above, below), device_thresholds_hysteresis, devices_device_id,
# device_tickets_alarm (threshold, offline). `sensor_readings` is partitioned by range of `at` (one partition
# per UTC day, made by the function lifeline_ensure_partition; the env's hook skips partitions).


class DeviceKindRow(Base):
    __tablename__ = "device_kinds"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    offline_after_s: Mapped[float] = mapped_column(Double)
    category: Mapped[str | None] = mapped_column(ForeignKey("categories.code"))
    offline_category: Mapped[str | None] = mapped_column(ForeignKey("categories.code"))


class DeviceThresholdRow(Base):
    __tablename__ = "device_thresholds"
    __table_args__ = (UniqueConstraint("kind", "metric", "level", name="device_thresholds_kind_metric_level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(ForeignKey("device_kinds.kind", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(64))
    level: Mapped[int] = mapped_column(SmallInteger)
    direction: Mapped[str] = mapped_column(String(8))
    value: Mapped[float] = mapped_column(Double)
    raise_count: Mapped[int | None] = mapped_column(Integer)
    raise_seconds: Mapped[float | None] = mapped_column(Double)
    clear_count: Mapped[int | None] = mapped_column(Integer)
    clear_seconds: Mapped[float | None] = mapped_column(Double)
    hysteresis: Mapped[float] = mapped_column(Double, server_default=text("0"))


class DeviceRow(Base):
    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_location", "location", postgresql_using="gist"),)

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str | None] = mapped_column(Text)
    network: Mapped[str | None] = mapped_column(Text)
    location: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    district_code: Mapped[str | None] = mapped_column(String(32))
    street_code: Mapped[str | None] = mapped_column(String(32))
    community_code: Mapped[str | None] = mapped_column(String(32))
    grid_code: Mapped[str | None] = mapped_column(String(32))
    area: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    routing: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    registered_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class DeviceMetricStateRow(Base):
    __tablename__ = "device_metric_state"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id", ondelete="CASCADE"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    state: Mapped[dict] = mapped_column(JSONB)
    last_at: Mapped[datetime] = mapped_column(TZ)


class DeviceStatusRow(Base):
    __tablename__ = "device_status"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id", ondelete="CASCADE"), primary_key=True)
    last_at: Mapped[datetime | None] = mapped_column(TZ)
    level: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    offline: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    offline_since: Mapped[datetime | None] = mapped_column(TZ)


class DeviceTicketRow(Base):
    __tablename__ = "device_tickets"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id", ondelete="CASCADE"), primary_key=True)
    alarm: Mapped[str] = mapped_column(String(16), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    level: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    opened_at: Mapped[datetime] = mapped_column(TZ)


class SensorReadingRow(Base):
    __tablename__ = "sensor_readings"
    __table_args__ = (
        Index("ix_sensor_readings_at", "at", postgresql_using="brin"),
        {"postgresql_partition_by": "RANGE (at)"},
    )

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(TZ, primary_key=True)
    value: Mapped[float] = mapped_column(Double)


# Data exchange (0017, store/exchange.py, docs/exchange.md). `exchange_changes` is written by two triggers on
# `tickets` (function exchange_note_changes), not by our code. CHECK: exchange_cursor_single (one row, id 1).


class ExchangeChangeRow(Base):
    """One (transaction id, ticket) that inserted or updated a ticket: what a push reads."""

    __tablename__ = "exchange_changes"
    __table_args__ = (
        PrimaryKeyConstraint("xid", "ticket_id", name="exchange_changes_pkey"),
        Index("ix_exchange_changes_ticket", "ticket_id", "xid"),
    )

    xid: Mapped[int] = mapped_column(BigInteger)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))


class ExchangeCursorRow(Base):
    """The acknowledged position of `yunguan exchange push`: the last change sent and acknowledged."""

    __tablename__ = "exchange_cursor"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("1"))
    xid: Mapped[int] = mapped_column(BigInteger)
    ticket_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    # The horizon the change log was last compacted to (store.exchange.compact reads only what came after).
    compacted_below: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class ExchangePushRow(Base):
    """Every POST of a batch to the exchange endpoint (each attempt): its window, outcome and error."""

    __tablename__ = "exchange_pushes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(TZ, server_default=func.now(), index=True)
    endpoint: Mapped[str] = mapped_column(Text)
    cursor_from: Mapped[str] = mapped_column(Text)
    cursor_to: Mapped[str | None] = mapped_column(Text)
    cases: Mapped[int] = mapped_column(Integer, server_default="0")
    attempt: Mapped[int] = mapped_column(Integer, server_default="1")
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, server_default="0")
