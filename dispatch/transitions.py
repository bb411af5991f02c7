"""The closed loop as one table: (from-status, action, party) → to-status.

Read it top to bottom as the loop 立案 → 派遣 → 签收 → 处置 → 核查 → 结案 with its side doors. Rules that
depend on more than the status (a second return needs arbitration, an arbitration is final, an extension
needs a request) are guards in `dispatch.guards`; everything a role may ever do is here, so the web
layer, the console's buttons and the tests all read the same rows. docs/decisions/0005 explains the choices.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from dispatch.actors import Party
from dispatch.model import OPEN_STATUSES, Status


class Action(StrEnum):
    """Contract §5 actions, plus seven extensions marked below (the contract allows additions)."""

    REGISTER = "register"  # 立案
    REJECT = "reject"  # 不予立案
    DISPATCH = "dispatch"  # 派遣 (also re-dispatch after a return, and the arbitration after a second return)
    ACKNOWLEDGE = "acknowledge"  # 签收
    RETURN = "return"  # 退回
    HANDLE = "handle"  # 处置反馈
    VERIFY = "verify"  # 核查通过
    FAIL_VERIFY = "fail_verify"  # 核查不通过 → 返工
    CLOSE = "close"  # 结案
    ESCALATE = "escalate"  # 督办 one rung up the ladder
    REQUEST_EXTENSION = "request_extension"  # 申请延期 / 挂账
    APPROVE_EXTENSION = "approve_extension"  # 批准延期 / 挂账: the clock stops
    REASSIGN = "reassign"  # 改派 without a return
    ADD_ASSIST = "add_assist"  # 增加协办单位
    COMMENT = "comment"  # 备注, 催办, 回访
    # Extensions to the contract's list:
    PREREGISTER = "preregister"  # 受理 / 预立案: the 受理员 classifies and completes a pending ticket
    DENY_EXTENSION = "deny_extension"  # 不批准延期: the request is closed, the clock never stopped
    RESUME = "resume"  # 恢复: an extension ran out (system) or the case is taken up again
    WARN = "warn"  # 黄灯预警, sent once per clock by the deadline pass
    SPLIT = "split"  # 拆分: an operator takes a wrongly merged report out into a ticket of its own
    CONFIRM_AREA = "confirm_area"  # 属地确认: an operator confirms the area of a ticket routed near a border
    LOCATE = "locate"  # 定位: the command centre places a ticket on the map (an address-only report); re-routed
    MERGE_INTO = "merge_into"  # 合并: an operator merges a duplicate ticket into another open one; it ends rejected


class HistoryAction(StrEnum):
    """History lines that no one sends as a command: the worker writes them (`dispatch.lifecycle.open_ticket`
    and `merge`), so they have no row in the table."""

    CREATE = "create"  # a ticket opened `pending` for an operator
    MERGE = "merge"  # a report about the same thing attached to an open ticket (by the worker, or by an
    # operator's 合并 of a duplicate ticket: the target's line names the ticket its reports came from)


class Previous:
    """Marker for rows whose target is the status the ticket had before it was suspended."""

    def __repr__(self) -> str:
        return "PREVIOUS"


PREVIOUS = Previous()


@dataclass(frozen=True)
class Transition:
    source: Status
    action: Action
    target: Status | Previous
    parties: frozenset[Party]


CENTRE = frozenset({Party.SUPERVISOR, Party.ADMIN})  # decisions of the command centre (值班长)
DESK = CENTRE | {Party.OPERATOR}  # any command-centre operator, 受理员 included
VERIFIERS = DESK | {Party.GRID}  # the grid worker of the cell, or an operator, verifies
EVERYONE = DESK | {Party.HOTLINE, Party.LEAD, Party.ASSIST, Party.GRID, Party.SYSTEM}  # scope still applies
WORKING = (Status.DISPATCHED, Status.ACKNOWLEDGED, Status.REOPENED)  # a unit's clock is running
WITH_UNIT = (*WORKING, Status.SUSPENDED)  # a unit holds the ticket


def _rows() -> Iterator[Transition]:
    S, A, P = Status, Action, Party  # short names: the table reads as a table

    def row(source: Status, action: Action, target: Status | Previous | None, parties) -> Transition:
        return Transition(source, action, source if target is None else target, frozenset(parties))

    # 受理 and 立案: the operator queue.
    yield row(S.PENDING, A.PREREGISTER, None, DESK)
    yield row(S.PENDING, A.REGISTER, S.REGISTERED, CENTRE | {P.SYSTEM})
    yield row(S.PENDING, A.REJECT, S.REJECTED, CENTRE)
    # 派遣.
    yield row(S.REGISTERED, A.DISPATCH, S.DISPATCHED, CENTRE | {P.SYSTEM})
    # The lead unit: 签收, 退回, 处置, 延期.
    yield row(S.DISPATCHED, A.ACKNOWLEDGE, S.ACKNOWLEDGED, {P.LEAD})
    yield row(S.DISPATCHED, A.RETURN, S.RETURNED, {P.LEAD})
    yield row(S.ACKNOWLEDGED, A.RETURN, S.RETURNED, {P.LEAD})
    for source in (S.ACKNOWLEDGED, S.REOPENED, S.SUSPENDED):
        yield row(source, A.HANDLE, S.HANDLED, {P.LEAD})
    for source in (S.ACKNOWLEDGED, S.REOPENED):
        yield row(source, A.REQUEST_EXTENSION, None, {P.LEAD})
        yield row(source, A.APPROVE_EXTENSION, S.SUSPENDED, CENTRE)
        yield row(source, A.DENY_EXTENSION, None, CENTRE)
    yield row(S.SUSPENDED, A.RESUME, PREVIOUS, CENTRE | {P.LEAD, P.SYSTEM})
    # Assisting units report their own part; the ticket's status does not move (the lead decides).
    for source in WITH_UNIT:
        yield row(source, A.ACKNOWLEDGE, None, {P.ASSIST})
        yield row(source, A.HANDLE, None, {P.ASSIST})
    # The command centre steers a ticket that a unit holds.
    for source in WITH_UNIT:
        yield row(source, A.REASSIGN, S.DISPATCHED, CENTRE)
        yield row(source, A.ADD_ASSIST, None, CENTRE)
    for source in WORKING:
        yield row(source, A.ESCALATE, None, CENTRE | {P.SYSTEM})
        yield row(source, A.WARN, None, {P.SYSTEM})
    # 退回: back in the queue; the first re-dispatch is routine, the second is the 值班长's arbitration (guard).
    yield row(S.RETURNED, A.DISPATCH, S.DISPATCHED, DESK)
    yield row(S.RETURNED, A.REJECT, S.REJECTED, CENTRE)
    # 核查 and 结案.
    yield row(S.HANDLED, A.VERIFY, S.VERIFIED, VERIFIERS)
    yield row(S.HANDLED, A.FAIL_VERIFY, S.REOPENED, VERIFIERS)
    yield row(S.VERIFIED, A.CLOSE, S.CLOSED, CENTRE)
    # Comments everywhere, by anyone in scope; splits, area confirmation and placing on the map while it is open
    # (定位 is the command centre's, the 12345 call-taker's too: an address-only report is theirs to place).
    for source in Status:
        yield row(source, A.COMMENT, None, EVERYONE)
        if source in OPEN_STATUSES:
            yield row(source, A.SPLIT, None, DESK)
            yield row(source, A.CONFIRM_AREA, None, DESK)
            yield row(source, A.LOCATE, None, DESK | {P.HOTLINE})
            # 合并: a duplicate ticket's reports move to another open ticket; the duplicate ends 不予立案
            # (docs/decisions/0013: no new final status, the contract's statuses stay as they are).
            yield row(source, A.MERGE_INTO, S.REJECTED, DESK)


TRANSITIONS: tuple[Transition, ...] = tuple(_rows())


def _index(rows: tuple[Transition, ...]) -> dict[tuple[Status, Action, Party], Transition]:
    """One row per (status, action, party): two rows granting the same thing would make the table ambiguous."""
    index: dict[tuple[Status, Action, Party], Transition] = {}
    for t in rows:
        for p in t.parties:
            if (t.source, t.action, p) in index:
                raise ValueError(f"duplicate transition row for {t.source} {t.action} {p}")
            index[(t.source, t.action, p)] = t
    return index


_BY_KEY = _index(TRANSITIONS)


def find(source: Status, action: Action, party: Party) -> Transition | None:
    """The row that lets `party` do `action` in `source`, if any."""
    return _BY_KEY.get((source, action, party))


def permission(party: Party) -> str:
    """The permission a party stands for: lead and assisting unit are both department staff, told apart by
    the ticket (who leads), not by what their account may do."""
    return "department" if party in (Party.LEAD, Party.ASSIST) else str(party)


def others_may(source: Status, action: Action, party: Party) -> bool:
    """Whether `action` in `source` is granted to some other permission than this party's, and to none of
    its own: the refusal is then about the role (403), otherwise about the ticket's state (422)."""
    granted = {permission(p) for t in TRANSITIONS if t.source == source and t.action == action for p in t.parties}
    return bool(granted) and permission(party) not in granted


def actions_for(source: Status, party: Party) -> tuple[Action, ...]:
    """What the table lets this party do in this status, in the enum's order (before guards)."""
    return tuple(a for a in Action if (source, a, party) in _BY_KEY)
