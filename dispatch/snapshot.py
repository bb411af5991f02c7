"""A ticket's loop state to and from plain JSON, for the store's JSONB column (or tables) and for tests.

Status, version, category and assignee are columns of `tickets` already; the rest of the loop (turns,
assisting parts, disputes, pauses, the pending extension request) has no natural relational home yet, and
the domain must not know SQL. `dump`/`load` are exact inverses; instants are ISO 8601 with offset.
"""
from __future__ import annotations

import dataclasses
import functools
from datetime import datetime
from typing import Any

from dispatch.lifecycle import (
    Assignment,
    AssignmentEnd,
    Assist,
    ClockKind,
    Dispute,
    ExtensionRequest,
    Pause,
    Priority,
    TicketState,
)
from dispatch.model import Status

SCHEMA = "ticket-loop/1"


@functools.cache
def _names(cls: type) -> tuple[str, ...]:
    # dataclasses.fields() rebuilds its tuple on every call; the worker dumps one state per new ticket.
    return tuple(f.name for f in dataclasses.fields(cls))


def _plain(value: Any) -> Any:
    if value is None or type(value) in (int, float, bool):
        return value
    if isinstance(value, str):
        return str(value)  # a StrEnum member becomes its plain value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float):
        return value
    if isinstance(value, frozenset):
        return sorted(str(v) for v in value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value):
        return {name: _plain(getattr(value, name)) for name in _names(type(value))}
    raise TypeError(f"cannot dump {value!r}")


def dump(ticket: TicketState) -> dict[str, Any]:
    return {"schema": SCHEMA, **_plain(ticket)}


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _build(cls, data: dict[str, Any], **kinds) -> Any:
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        raw = data[f.name]
        convert = kinds.get(f.name)
        if convert is not None:
            kwargs[f.name] = None if raw is None else convert(raw)
        else:
            kwargs[f.name] = raw
    return cls(**kwargs)


def load(data: dict[str, Any]) -> TicketState:
    if data.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} snapshot: schema {data.get('schema')!r}")
    return _build(
        TicketState, data,
        status=Status, priority=Priority, suspended_from=Status,
        assignments=lambda rows: tuple(_build(
            Assignment, r, dispatched_at=_dt, clock_started=_dt, acknowledged_at=_dt, handled_at=_dt,
            ended_at=_dt, end=AssignmentEnd,
        ) for r in rows),
        assists=lambda rows: tuple(_build(
            Assist, r, added_at=_dt, acknowledged_at=_dt, handled_at=_dt,
        ) for r in rows),
        disputes=lambda rows: tuple(_build(Dispute, r, started=_dt, ended=_dt) for r in rows),
        pauses=lambda rows: tuple(_build(Pause, r, started=_dt, ended=_dt) for r in rows),
        extension_request=lambda r: _build(ExtensionRequest, r, at=_dt),
        warned=lambda values: frozenset(ClockKind(v) for v in values),
    )
