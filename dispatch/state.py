"""The ticket domain's values: a ticket's loop state, the command that changes it, and the history record a
change leaves. Pure data; `dispatch.lifecycle` decides, `dispatch.guards` refuses, `dispatch.effects` changes.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from dispatch.actors import Party
from dispatch.model import Status
from dispatch.transitions import Action, HistoryAction

# The escalation ladder's top rung (1 street, 2 district command centre, 3 city command centre).
MAX_ESCALATION_LEVEL = 3


class Priority(StrEnum):
    """`urgent` (加急) halves a category's limits and counts them in natural hours; see dispatch.deadlines."""

    NORMAL = "normal"
    URGENT = "urgent"


class ClockKind(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    HANDLE = "handle"


class AssignmentEnd(StrEnum):
    RETURNED = "returned"  # the unit sent it back (退回)
    REASSIGNED = "reassigned"  # the command centre moved it (改派)
    REOPENED = "reopened"  # its handling failed verification; a rework turn follows
    MERGED = "merged"  # the ticket was merged into another (合并) and ended; the other ticket carries on


@dataclass(frozen=True)
class Assignment:
    """One unit's turn as lead. `dispatched_at` starts its acknowledge clock; `clock_started` its handle
    clock, which is earlier than `dispatched_at` when the unit had returned this ticket before (the
    anti-推诿 rule: a wrongful return buys no time). A rework turn starts at the failed verification and
    needs no new acknowledgement."""

    unit: str
    dispatched_at: datetime
    clock_started: datetime
    rework: bool = False
    acknowledged_at: datetime | None = None
    handled_at: datetime | None = None
    ended_at: datetime | None = None
    end: AssignmentEnd | None = None


@dataclass(frozen=True)
class Assist:
    """An assisting unit's part (协办). `superseded`: the lead declared the whole handled first."""

    unit: str
    added_at: datetime
    acknowledged_at: datetime | None = None
    handled_at: datetime | None = None
    superseded: bool = False


@dataclass(frozen=True)
class Dispute:
    """Time between a return and the next dispatch (or rejection): shown, and charged as the rules say."""

    unit: str
    reason: str
    started: datetime
    ended: datetime | None = None
    arbitrated: bool = False


@dataclass(frozen=True)
class Pause:
    """An approved extension: the clock stops from `started` until `ended` (resume, handle or reassign).
    `minutes` is the planned length in the ticket's time basis; None is 挂账 (parked until taken up)."""

    started: datetime
    minutes: float | None
    reason: str
    ended: datetime | None = None


@dataclass(frozen=True)
class ExtensionRequest:
    minutes: float | None
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class TicketState:
    """Everything the loop decides on. `version` starts at 1 and grows by one with every change."""

    ticket_no: str
    status: Status
    version: int
    category: str | None = None
    priority: Priority = Priority.NORMAL
    grid: str | None = None
    assignments: tuple[Assignment, ...] = ()
    assists: tuple[Assist, ...] = ()
    disputes: tuple[Dispute, ...] = ()
    pauses: tuple[Pause, ...] = ()
    extension_request: ExtensionRequest | None = None
    suspended_from: Status | None = None
    returns: int = 0
    arbitrated: bool = False
    reopen_count: int = 0
    escalation_level: int = 0
    warned: frozenset[ClockKind] = frozenset()
    preregistered: bool = False
    # Routed within the border watch distance of a district border (属地不符 risk): the command centre
    # confirms the area with one click, or reassigns; either settles it.
    border_check: bool = False

    @property
    def current(self) -> Assignment | None:
        """The lead unit's running turn, if a unit holds the ticket (none while pending or returned)."""
        if self.assignments and self.assignments[-1].ended_at is None:
            return self.assignments[-1]
        return None

    @property
    def lead(self) -> str | None:
        current = self.current
        return current.unit if current else None

    @property
    def assist_units(self) -> tuple[str, ...]:
        return tuple(a.unit for a in self.assists)

    @property
    def open_pause(self) -> Pause | None:
        if self.pauses and self.pauses[-1].ended is None:
            return self.pauses[-1]
        return None

    @property
    def open_dispute(self) -> Dispute | None:
        if self.disputes and self.disputes[-1].ended is None:
            return self.disputes[-1]
        return None


@dataclass(frozen=True)
class Position:
    """Where an operator places a ticket (定位), in WGS-84, with what routing decided there (application.routing,
    the same decision as intake): the grid cell and district, the unit it suggests, the rule and method, and
    whether the point lies near a district border. `district` None: the point is outside the city's areas.
    `previous`: the ticket's point before (None: it had none), for the history."""

    lon: float
    lat: float
    district: str | None = None
    grid: str | None = None
    assignee: str | None = None
    rule: str | None = None
    method: str | None = None
    near_border: bool = False
    previous: tuple[float, float] | None = None


@dataclass(frozen=True)
class Command:
    """One request to change a ticket, as the API receives it (`POST …/actions`)."""

    action: Action | str
    version: int
    note: str | None = None
    to_unit: str | None = None  # dispatch, reassign, add_assist
    category: str | None = None  # preregister, register: the 小类 code
    minutes: float | None = None  # request/approve_extension: length in the ticket's time basis
    park: bool = False  # request/approve_extension: 挂账, no planned end
    level: int | None = None  # escalate: the rung to reach (default: one up)
    clock: ClockKind | None = None  # warn: the clock that turned yellow
    position: Position | None = None  # locate: the point, placed and routed by the application
    into: str | None = None  # merge_into: the number of the open ticket this one is merged into


@dataclass(frozen=True)
class Record:
    """One append-only history row: who (name, role, party), what, from and to which status, why, when,
    and the action's particulars in `data` (unit, duration, level, arbitration, ...)."""

    at: datetime
    actor: str
    role: str
    party: Party
    action: Action | HistoryAction
    from_status: Status | None
    to_status: Status
    note: str | None = None
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Outcome:
    ticket: TicketState
    record: Record


@dataclass(frozen=True)
class Opening:
    """How the intake rules open a ticket (`dispatch.intake.decide`): `pending` for an operator, with why
    (one note), or registered and dispatched at once, with why each (two notes: register, dispatch)."""

    status: Status
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Opened:
    """A ticket's first state (version 1) and the history records of its opening, in order."""

    ticket: TicketState
    records: tuple[Record, ...]
