"""Who acts on a ticket: an account's role, and the party it plays towards one particular ticket.

The transition table speaks of parties, not roles, because the same department account is the lead unit
on one ticket, an assisting unit on another and a stranger to the rest; and the same operator account is a
受理员 or a 值班长 depending on its supervisor flag. Deriving the party from (actor, ticket) in one function
is what makes unit scope a property of the table rather than scattered `if`s.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Account roles, as in the contract (§1), plus `system` for the worker and the escalation pass."""

    ADMIN = "admin"
    OPERATOR = "operator"
    DEPARTMENT = "department"
    GRID = "grid"
    HOTLINE = "hotline"
    SYSTEM = "system"


class Party(StrEnum):
    """The part an actor plays on one ticket; the transition table grants actions to these."""

    ADMIN = "admin"
    OPERATOR = "operator"  # 受理员: receives and pre-registers
    SUPERVISOR = "supervisor"  # 值班长: an operator with the supervisor flag; registers, dispatches, closes
    LEAD = "lead"  # staff of the ticket's lead (responsible) unit
    ASSIST = "assist"  # staff of one of the ticket's assisting units (协同)
    GRID = "grid"  # the grid worker (监督员) of the ticket's grid cell
    HOTLINE = "hotline"  # 12345 call-takers: follow-up calls become comments
    SYSTEM = "system"  # the worker and the deadline pass


@dataclass(frozen=True)
class Actor:
    """An authenticated account as the domain needs it; `name` is what history records."""

    name: str
    role: Role
    supervisor: bool = False
    unit: str | None = None
    grid: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", Role(self.role))


SYSTEM = Actor("system", Role.SYSTEM)


@dataclass(frozen=True)
class Scope:
    """Which tickets an account may see — the one statement of the rule; the API's queries, the console's
    Socket.IO rooms and the domain's parties (`party_of`) all follow it. Command-centre roles, the hotline and
    the system see every ticket; a department the tickets its unit leads or assists; a grid worker those of its
    cell; anyone else none."""

    everything: bool = False
    unit: str | None = None
    grid: str | None = None

    def covers(self, lead: str | None, assists: Collection[str], grid: str | None) -> bool:
        return self.everything or (self.unit is not None and (self.unit == lead or self.unit in assists)) or \
            (self.grid is not None and self.grid == grid)

    def rooms(self) -> list[str]:
        """The Socket.IO rooms of an account with this scope (web.sockets sends each event to the rooms of the
        tickets it concerns: `all`, `unit:<lead or assist>`, `grid:<cell>`)."""
        if self.everything:
            return ["all"]
        return [*([f"unit:{self.unit}"] if self.unit else []), *([f"grid:{self.grid}"] if self.grid else [])]


def scope_of(role: Role | str, unit: str | None = None, grid: str | None = None) -> Scope:
    role = Role(role)
    if role in (Role.ADMIN, Role.OPERATOR, Role.HOTLINE, Role.SYSTEM):
        return Scope(everything=True)
    if role is Role.DEPARTMENT:
        return Scope(unit=unit)
    if role is Role.GRID:
        return Scope(grid=grid)
    return Scope()


def party_of(actor: Actor, lead: str | None, assists: Collection[str], grid: str | None) -> Party | None:
    """The actor's party on a ticket with this lead unit, these assisting units and this grid cell;
    None when the ticket is out of the actor's scope (a department not involved, a grid worker of another
    cell). Command-centre roles, the hotline and the system see every ticket."""
    match actor.role:
        case Role.ADMIN:
            return Party.ADMIN
        case Role.OPERATOR:
            return Party.SUPERVISOR if actor.supervisor else Party.OPERATOR
        case Role.HOTLINE:
            return Party.HOTLINE
        case Role.SYSTEM:
            return Party.SYSTEM
    if not scope_of(actor.role, actor.unit, actor.grid).covers(lead, assists, grid):
        return None  # out of scope
    match actor.role:
        case Role.DEPARTMENT:
            return Party.LEAD if actor.unit == lead else Party.ASSIST
        case Role.GRID:
            return Party.GRID
    return None
