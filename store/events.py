"""Ticket event v1 (contract §3): the one builder of the message, queued in the outbox in the caller's
transaction and relayed to `tickets.events` after the commit (streams.outbox)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

EVENT_SCHEMA = "ticket-event/1"

_EVENTS = text(
    "INSERT INTO outbox (topic, key, payload) SELECT CAST(:topic AS text), t.ticket_no, jsonb_build_object("
    "'schema', CAST(:schema AS text), 'ticket_no', t.ticket_no, 'event', CAST(:event AS text), 'at', CAST(:at AS text), 'status', t.status, "
    "'version', t.version, 'category', t.category, "
    "'assignee', CASE WHEN u.code IS NULL THEN NULL ELSE jsonb_build_object('code', u.code, 'name', u.name, "
    "'level', u.level) END, 'area', t.area, "
    "'location', CASE WHEN t.location IS NULL THEN NULL ELSE jsonb_build_object('lon', ST_X(t.location), "
    "'lat', ST_Y(t.location)) END, "
    "'deadline', to_char(t.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), "
    "'escalation_level', t.escalation_level, 'actor', CAST(:actor AS text), 'deadline_state', t.deadline_state, "
    "'report_count', t.report_count, 'assists', to_jsonb(t.assist_codes), "
    "'border_check', coalesce((t.loop->>'border_check')::boolean, false), 'priority', t.priority, "
    "'channel', (SELECT (array_agg(r.channel ORDER BY r.id))[1] FROM reports r WHERE r.ticket_id = t.id)) "
    "FROM tickets t LEFT JOIN units u ON u.code = t.assignee_code WHERE t.id = ANY(:ids) ORDER BY t.id"
)


def publish_events(conn: Connection, ticket_ids: list[int], event: str, at: datetime, actor: str, topic: str) -> None:
    """Queue ticket event v1 for these tickets as they now are, in the caller's transaction (the outbox);
    one statement however many tickets, the payload built by the database from the committed row."""
    if ticket_ids:
        conn.execute(_EVENTS, {"topic": topic, "schema": EVENT_SCHEMA, "event": event, "at": at.isoformat(),
                               "actor": actor, "ids": list(ticket_ids)})


def publish_event(conn: Connection, ticket_id: int, event: str, at: datetime, actor: str, topic: str) -> None:
    publish_events(conn, [ticket_id], event, at, actor, topic)
