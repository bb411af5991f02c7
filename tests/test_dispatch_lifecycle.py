"""The ticket state machine: every (status, action, party) against a hand-written spec, and the loop's rules."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.actors import SYSTEM, Actor, Party, Role
from dispatch.errors import (
    InvalidCommand,
    OutOfScope,
    RoleNotAllowed,
    StaleVersion,
    TransitionNotAllowed,
)
from dispatch.lifecycle import (
    AssignmentEnd,
    ClockKind,
    Command,
    Opening,
    Position,
    TicketState,
    allowed_actions,
    apply,
    merge,
    open_ticket,
    opened,
)
from dispatch.model import Status
from dispatch.snapshot import dump, load
from dispatch.transitions import PREVIOUS, TRANSITIONS, Action

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)

ADMIN = Actor("root", Role.ADMIN)
OPERATOR = Actor("op", Role.OPERATOR)
DUTY = Actor("duty", Role.OPERATOR, supervisor=True)
U1 = Actor("u1-staff", Role.DEPARTMENT, unit="U1")
U2 = Actor("u2-staff", Role.DEPARTMENT, unit="U2")  # assisting, part not yet acknowledged
U3 = Actor("u3-staff", Role.DEPARTMENT, unit="U3")  # assisting, part acknowledged
STRANGER = Actor("u7-staff", Role.DEPARTMENT, unit="U7")
GRID = Actor("g1", Role.GRID, grid="G1")
OTHER_GRID = Actor("g2", Role.GRID, grid="G2")
HOTLINE = Actor("hl", Role.HOTLINE)

# The loop as the decision record states it, written independently of dispatch/transitions.py.
# status, action, parties, target ("=" keeps the status).
SPEC_TEXT = """
pending       preregister        op sup adm                    =
pending       register           sup adm sys                   registered
pending       reject             sup adm                       rejected
registered    dispatch           sup adm sys                   dispatched
dispatched    acknowledge        lead                          acknowledged
dispatched    return             lead                          returned
acknowledged  return             lead                          returned
acknowledged  handle             lead                          handled
reopened      handle             lead                          handled
suspended     handle             lead                          handled
acknowledged  request_extension  lead                          =
reopened      request_extension  lead                          =
acknowledged  approve_extension  sup adm                       suspended
reopened      approve_extension  sup adm                       suspended
acknowledged  deny_extension     sup adm                       =
reopened      deny_extension     sup adm                       =
suspended     resume             sup adm lead sys              PREVIOUS
returned      dispatch           op sup adm                    dispatched
returned      reject             sup adm                       rejected
handled       verify             op sup adm grid               verified
handled       fail_verify        op sup adm grid               reopened
verified      close              sup adm                       closed
"""
ABBREV = {"op": Party.OPERATOR, "sup": Party.SUPERVISOR, "adm": Party.ADMIN, "lead": Party.LEAD,
          "assist": Party.ASSIST, "grid": Party.GRID, "hot": Party.HOTLINE, "sys": Party.SYSTEM}


def _spec() -> dict[tuple[Status, Action, Party], object]:
    spec: dict[tuple[Status, Action, Party], object] = {}

    def add(status, action, parties, target):
        for p in parties:
            assert (status, action, p) not in spec
            spec[(status, action, p)] = status if target == "=" else (PREVIOUS if target == "PREVIOUS" else Status(target))

    for line in SPEC_TEXT.strip().splitlines():
        status, action, *parties, target = line.split()
        add(Status(status), Action(action), [ABBREV[p] for p in parties], target)
    with_unit = [Status.DISPATCHED, Status.ACKNOWLEDGED, Status.REOPENED, Status.SUSPENDED]
    for status in with_unit:
        add(status, Action.ACKNOWLEDGE, [Party.ASSIST], "=")
        add(status, Action.HANDLE, [Party.ASSIST], "=")
        add(status, Action.REASSIGN, [Party.SUPERVISOR, Party.ADMIN], "dispatched")
        add(status, Action.ADD_ASSIST, [Party.SUPERVISOR, Party.ADMIN], "=")
    for status in with_unit[:3]:
        add(status, Action.ESCALATE, [Party.SUPERVISOR, Party.ADMIN, Party.SYSTEM], "=")
        add(status, Action.WARN, [Party.SYSTEM], "=")
    for status in Status:
        add(status, Action.COMMENT, list(Party), "=")
        if status not in (Status.CLOSED, Status.REJECTED):
            add(status, Action.SPLIT, [Party.OPERATOR, Party.SUPERVISOR, Party.ADMIN], "=")
            add(status, Action.CONFIRM_AREA, [Party.OPERATOR, Party.SUPERVISOR, Party.ADMIN], "=")
            add(status, Action.LOCATE, [Party.OPERATOR, Party.SUPERVISOR, Party.ADMIN, Party.HOTLINE], "=")
            add(status, Action.MERGE_INTO, [Party.OPERATOR, Party.SUPERVISOR, Party.ADMIN], "rejected")
    return spec


SPEC = _spec()


def test_the_table_is_exactly_the_spec():
    table = {(t.source, t.action, p): t.target for t in TRANSITIONS for p in t.parties}
    assert table == SPEC


# --- fixtures: one ticket per status, reached by driving the loop itself -------------------------------

class Loop:
    """Drives a ticket through `apply`, one minute per step, keeping the history."""

    def __init__(self, ticket: TicketState | None = None, at: datetime = T0):
        self.ticket = ticket or TicketState("CC20261123-00001", Status.PENDING, 1, category="020102", grid="G1")
        self.at = at
        self.history = []

    def do(self, actor: Actor, action: Action | str, **fields) -> TicketState:
        self.at += fields.pop("after", timedelta(minutes=1))
        fields.setdefault("note", "理由")
        outcome = apply(self.ticket, Command(action, self.ticket.version, **fields), actor, self.at)
        assert outcome.ticket.version == self.ticket.version + 1
        assert outcome.record.from_status == self.ticket.status
        assert outcome.record.to_status == outcome.ticket.status
        self.ticket = outcome.ticket
        self.history.append(outcome.record)
        return self.ticket

    def copy(self) -> Loop:
        other = Loop(self.ticket, self.at)
        other.history = list(self.history)
        return other


def _with_parts(loop: Loop) -> Loop:
    loop.do(DUTY, "add_assist", to_unit="U2")
    loop.do(DUTY, "add_assist", to_unit="U3")
    loop.do(U3, "acknowledge")
    return loop


def fixtures() -> dict[Status, TicketState]:
    out = {}
    loop = Loop()
    out[Status.PENDING] = loop.ticket
    rejected = loop.copy()
    rejected.do(DUTY, "reject")
    out[Status.REJECTED] = rejected.ticket
    loop.do(DUTY, "register")
    out[Status.REGISTERED] = loop.ticket
    loop.do(DUTY, "dispatch", to_unit="U1")
    returned = loop.copy()
    returned.do(U1, "return")
    out[Status.RETURNED] = returned.ticket
    _with_parts(loop)
    out[Status.DISPATCHED] = loop.ticket
    loop.do(U1, "acknowledge")
    out[Status.ACKNOWLEDGED] = loop.ticket
    suspended = loop.copy()
    suspended.do(U1, "request_extension", minutes=120)
    suspended.do(DUTY, "approve_extension")
    out[Status.SUSPENDED] = suspended.ticket
    loop.do(U1, "handle")
    out[Status.HANDLED] = loop.ticket
    reopened = loop.copy()
    reopened.do(GRID, "fail_verify")
    _with_parts(reopened)
    out[Status.REOPENED] = reopened.ticket
    loop.do(GRID, "verify")
    out[Status.VERIFIED] = loop.ticket
    loop.do(DUTY, "close")
    out[Status.CLOSED] = loop.ticket
    assert {t.status for t in out.values()} == set(Status)
    return out


FIXTURES = fixtures()
ACTORS = {Party.ADMIN: ADMIN, Party.OPERATOR: OPERATOR, Party.SUPERVISOR: DUTY, Party.LEAD: U1,
          Party.GRID: GRID, Party.HOTLINE: HOTLINE, Party.SYSTEM: SYSTEM}


def _actor(party: Party, action: Action) -> Actor:
    if party is Party.ASSIST:
        return U3 if action is Action.HANDLE else U2
    return ACTORS[party]


def _ticket_for(status: Status, action: Action) -> TicketState:
    ticket = FIXTURES[status]
    if action is Action.DENY_EXTENSION and status in (Status.ACKNOWLEDGED, Status.REOPENED):  # needs a request
        ticket = apply(ticket, Command("request_extension", ticket.version, note="材料未到", minutes=60), U1,
                       T0 + timedelta(days=1)).ticket
    if action is Action.CONFIRM_AREA:  # only a ticket routed near a border has an area to confirm
        ticket = dataclasses.replace(ticket, border_check=True)
    return ticket


def _command(action: Action, ticket: TicketState) -> Command:
    return Command(action, ticket.version, note="理由", to_unit="U9", category="020102", minutes=60,
                   clock=ClockKind.ACKNOWLEDGE, position=Position(125.44, 43.71, district="D1", grid="G1"),
                   into="CC-OTHER")


def _in_scope(ticket: TicketState, party: Party, actor: Actor) -> bool:
    if party is Party.LEAD:
        return ticket.lead == actor.unit
    if party is Party.ASSIST:
        return actor.unit in ticket.assist_units
    return True


def _permission(party: Party) -> str:
    return "department" if party in (Party.LEAD, Party.ASSIST) else party


@pytest.mark.parametrize("status", list(Status))
def test_every_status_action_party_against_the_spec(status):
    """1,760 combinations: allowed ones reach the spec's status; the rest fail with the right error."""
    now = T0 + timedelta(days=2)
    for action in Action:
        granted = {_permission(p) for p in Party if (status, action, p) in SPEC}
        for party in Party:
            actor = _actor(party, action)
            ticket = _ticket_for(status, action)
            command = _command(action, ticket)
            where = f"{status} {action} {party}"
            if not _in_scope(ticket, party, actor):
                with pytest.raises(OutOfScope):
                    apply(ticket, command, actor, now)
                continue
            if (status, action, party) in SPEC:
                outcome = apply(ticket, command, actor, now)
                expected = SPEC[(status, action, party)]
                if expected is PREVIOUS:
                    expected = ticket.suspended_from
                assert outcome.ticket.status == expected, where
                assert outcome.ticket.version == ticket.version + 1, where
                assert outcome.record.action == action and outcome.record.party == party, where
                assert action in allowed_actions(ticket, actor), where
            else:
                # 403 when only other roles may; 422 when the state is wrong (lead vs assist is the ticket's doing)
                error = RoleNotAllowed if granted and _permission(party) not in granted else TransitionNotAllowed
                with pytest.raises(error) as caught:
                    apply(ticket, command, actor, now)
                assert action not in allowed_actions(ticket, actor), where
                assert set(caught.value.allowed) == {str(a) for a in allowed_actions(ticket, actor)}, where


# --- the rules around the table -------------------------------------------------------------------------

def test_stale_version_is_refused_and_changes_nothing():
    ticket = FIXTURES[Status.DISPATCHED]
    with pytest.raises(StaleVersion) as caught:
        apply(ticket, Command("acknowledge", ticket.version - 1), U1, T0)
    assert caught.value.status == 409
    assert (caught.value.expected, caught.value.given) == (ticket.version, ticket.version - 1)


def test_scope_is_checked_before_the_version():
    ticket = FIXTURES[Status.DISPATCHED]
    with pytest.raises(OutOfScope) as caught:
        apply(ticket, Command("acknowledge", 999), STRANGER, T0)
    assert caught.value.status == 403
    assert allowed_actions(ticket, STRANGER) == ()


def test_grid_worker_verifies_only_in_their_own_cell():
    ticket = FIXTURES[Status.HANDLED]
    with pytest.raises(OutOfScope):
        apply(ticket, Command("verify", ticket.version), OTHER_GRID, T0)
    assert apply(ticket, Command("verify", ticket.version), GRID, T0).ticket.status is Status.VERIFIED
    assert apply(ticket, Command("verify", ticket.version), OPERATOR, T0).ticket.status is Status.VERIFIED


def test_role_refusal_names_what_the_actor_may_do():
    ticket = FIXTURES[Status.VERIFIED]
    with pytest.raises(RoleNotAllowed) as caught:
        apply(ticket, Command("close", ticket.version), OPERATOR, T0)
    assert caught.value.status == 403
    assert set(caught.value.allowed) == {"comment", "split", "locate", "merge_into"}


def test_handle_before_acknowledge_is_a_422_naming_the_allowed_actions():
    ticket = FIXTURES[Status.DISPATCHED]
    with pytest.raises(TransitionNotAllowed) as caught:
        apply(ticket, Command("handle", ticket.version), U1, T0)
    assert caught.value.status == 422
    assert set(caught.value.allowed) == {"acknowledge", "return", "comment"}


def test_unknown_action_is_invalid():
    ticket = FIXTURES[Status.DISPATCHED]
    with pytest.raises(InvalidCommand) as caught:
        apply(ticket, Command("teleport", ticket.version), DUTY, T0)
    assert caught.value.fields == {"action": "unknown"}


@pytest.mark.parametrize(("status", "actor", "action", "field"), [
    (Status.DISPATCHED, U1, "return", "note"),
    (Status.PENDING, DUTY, "reject", "note"),
    (Status.HANDLED, GRID, "fail_verify", "note"),
    (Status.REGISTERED, DUTY, "dispatch", "to_unit"),
    (Status.ACKNOWLEDGED, DUTY, "add_assist", "to_unit"),
    (Status.ACKNOWLEDGED, U1, "request_extension", "minutes"),
    (Status.ACKNOWLEDGED, DUTY, "approve_extension", "minutes"),
    (Status.DISPATCHED, SYSTEM, "warn", "clock"),
])
def test_commands_missing_what_the_action_needs(status, actor, action, field):
    ticket = FIXTURES[status]
    with pytest.raises(InvalidCommand) as caught:
        apply(ticket, Command(action, ticket.version, note=None if field == "note" else "理由"), actor, T0)
    assert field in caught.value.fields


def test_register_needs_a_category():
    ticket = dataclasses.replace(FIXTURES[Status.PENDING], category=None)
    with pytest.raises(InvalidCommand) as caught:
        apply(ticket, Command("register", ticket.version), DUTY, T0)
    assert "category" in caught.value.fields
    loop = Loop(ticket)
    loop.do(OPERATOR, "preregister", category="020502")  # 受理员 classifies
    assert loop.ticket.preregistered and loop.ticket.status is Status.PENDING
    with pytest.raises(RoleNotAllowed):
        loop.do(OPERATOR, "register")  # only the 值班长 registers
    assert loop.do(DUTY, "register").category == "020502"


def test_happy_loop_history_and_versions():
    loop = Loop()
    for actor, action, fields in [
        (DUTY, "register", {}), (DUTY, "dispatch", {"to_unit": "U1"}), (U1, "acknowledge", {}),
        (U1, "handle", {}), (GRID, "verify", {}), (DUTY, "close", {}),
    ]:
        loop.do(actor, action, **fields)
    assert loop.ticket.status is Status.CLOSED and loop.ticket.version == 7
    assert [(r.action, r.from_status, r.to_status) for r in loop.history] == [
        ("register", "pending", "registered"), ("dispatch", "registered", "dispatched"),
        ("acknowledge", "dispatched", "acknowledged"), ("handle", "acknowledged", "handled"),
        ("verify", "handled", "verified"), ("close", "verified", "closed"),
    ]
    ats = [r.at for r in loop.history]
    assert ats == sorted(ats)
    first = loop.history[1]
    assert (first.actor, first.role, first.party, first.data["to_unit"]) == ("duty", "operator", Party.SUPERVISOR, "U1")
    assert (first.action, first.from_status, first.to_status, first.note) == (
        "dispatch", Status.REGISTERED, Status.DISPATCHED, "理由")


def test_first_return_is_routine_second_needs_final_arbitration():
    loop = Loop()
    loop.do(DUTY, "register")
    loop.do(DUTY, "dispatch", to_unit="U1")
    loop.do(U1, "return", note="不属于本单位职责", after=timedelta(minutes=30))
    assert loop.ticket.status is Status.RETURNED and loop.ticket.returns == 1
    assert loop.ticket.open_dispute.unit == "U1"
    loop.do(OPERATOR, "dispatch", to_unit="U2", after=timedelta(minutes=20))  # 受理员 corrects the route
    assert loop.ticket.disputes[0].ended is not None and not loop.ticket.disputes[0].arbitrated
    loop.do(U2, "return", note="应由U1处置")
    with pytest.raises(RoleNotAllowed) as caught:
        loop.do(OPERATOR, "dispatch", to_unit="U1")
    assert "dispatch" not in caught.value.allowed
    with pytest.raises(InvalidCommand) as missing:
        loop.do(DUTY, "dispatch", to_unit="U1", note="")
    assert "note" in missing.value.fields
    loop.do(DUTY, "dispatch", to_unit="U1", note="权责清单第12条：U1负责")
    assert loop.ticket.arbitrated
    assert loop.ticket.disputes[-1].arbitrated
    assert loop.history[-1].data["arbitration"] is True
    with pytest.raises(TransitionNotAllowed) as final:
        loop.do(U1, "return", note="再次退回")
    assert "return" not in final.value.allowed
    loop.do(U1, "acknowledge")
    with pytest.raises(TransitionNotAllowed):
        loop.do(U1, "return", note="再次退回")
    assert loop.do(U1, "handle").status is Status.HANDLED


def test_a_unit_that_returned_keeps_its_clock_start():
    loop = Loop()
    loop.do(DUTY, "register")
    loop.do(DUTY, "dispatch", to_unit="U1")
    first_dispatch = loop.at
    loop.do(U1, "return", after=timedelta(hours=2))
    loop.do(OPERATOR, "dispatch", to_unit="U1", after=timedelta(hours=1))
    turn = loop.ticket.current
    assert turn.dispatched_at == loop.at and turn.clock_started == first_dispatch
    assert loop.history[-1].data["clock_started"] == first_dispatch.isoformat()
    loop.do(DUTY, "reassign", to_unit="U2", note="改派")
    assert loop.ticket.current.clock_started == loop.at  # a unit that never returned it starts afresh
    assert [a.end for a in loop.ticket.assignments] == [AssignmentEnd.RETURNED, AssignmentEnd.REASSIGNED, None]


def test_joint_handling_parts_and_the_leads_decision():
    loop = Loop()
    loop.do(DUTY, "register")
    loop.do(DUTY, "dispatch", to_unit="U1")
    loop.do(DUTY, "add_assist", to_unit="U2")
    loop.do(DUTY, "add_assist", to_unit="U3")
    with pytest.raises(InvalidCommand):
        loop.do(DUTY, "add_assist", to_unit="U2")
    with pytest.raises(InvalidCommand):
        loop.do(DUTY, "add_assist", to_unit="U1")
    with pytest.raises(TransitionNotAllowed):
        loop.do(U2, "handle")  # its part must be acknowledged first
    loop.do(U2, "acknowledge")
    loop.do(U2, "handle")
    assert loop.ticket.status is Status.DISPATCHED  # parts never move the ticket
    with pytest.raises(TransitionNotAllowed):
        loop.do(U2, "handle")
    loop.do(U1, "acknowledge")
    loop.do(U1, "handle")
    assert loop.ticket.status is Status.HANDLED
    assert loop.history[-1].data["outstanding_parts"] == "U3"
    parts = {a.unit: a for a in loop.ticket.assists}
    assert parts["U2"].handled_at is not None and not parts["U2"].superseded
    assert parts["U3"].superseded
    loop.do(U3, "comment", note="我单位部分已安排")  # still in scope
    loop.do(GRID, "fail_verify", note="仍有积水")
    with pytest.raises(TransitionNotAllowed):
        loop.do(U3, "acknowledge")  # superseded parts stay closed on rework
    loop.do(DUTY, "add_assist", to_unit="U3")  # unless the centre asks again
    loop.do(U3, "acknowledge")


def test_failed_verification_reopens_for_rework_and_is_counted():
    loop = Loop()
    for actor, action, fields in [(DUTY, "register", {}), (DUTY, "dispatch", {"to_unit": "U1"}),
                                  (U1, "acknowledge", {}), (U1, "handle", {})]:
        loop.do(actor, action, **fields)
    loop.do(GRID, "fail_verify", note="垃圾未清运完毕")
    ticket = loop.ticket
    assert ticket.status is Status.REOPENED and ticket.reopen_count == 1
    assert ticket.assignments[0].end is AssignmentEnd.REOPENED
    rework = ticket.current
    assert rework.rework and rework.unit == "U1" and rework.clock_started == loop.at
    assert rework.acknowledged_at == loop.at  # no second 签收
    with pytest.raises(TransitionNotAllowed):
        loop.do(U1, "return", note="不归我们")
    loop.do(U1, "handle")
    loop.do(GRID, "verify")
    assert loop.do(DUTY, "close").status is Status.CLOSED


def test_extension_stops_the_clock_then_resumes_to_where_it_was():
    loop = Loop()
    for actor, action, fields in [(DUTY, "register", {}), (DUTY, "dispatch", {"to_unit": "U1"}),
                                  (U1, "acknowledge", {})]:
        loop.do(actor, action, **fields)
    loop.do(U1, "request_extension", minutes=240, note="需协调产权单位")
    with pytest.raises(TransitionNotAllowed):
        loop.do(U1, "request_extension", minutes=60, note="again")
    loop.do(DUTY, "approve_extension", note="")
    ticket = loop.ticket
    assert ticket.status is Status.SUSPENDED and ticket.suspended_from is Status.ACKNOWLEDGED
    assert ticket.open_pause.minutes == 240 and ticket.open_pause.reason == "需协调产权单位"
    assert ticket.extension_request is None
    loop.do(SYSTEM, "resume", note=None)
    assert loop.ticket.status is Status.ACKNOWLEDGED and loop.ticket.pauses[-1].ended == loop.at
    loop.do(U1, "request_extension", minutes=60, note="再等一天")
    loop.do(DUTY, "deny_extension", note="理由不充分")
    assert loop.ticket.status is Status.ACKNOWLEDGED and loop.ticket.extension_request is None
    with pytest.raises(TransitionNotAllowed):
        loop.do(DUTY, "deny_extension", note="nothing to deny")
    with pytest.raises(InvalidCommand) as caught:
        loop.do(DUTY, "approve_extension", park=True, note="")
    assert "note" in caught.value.fields
    loop.do(DUTY, "approve_extension", park=True, note="涉及拆迁，挂账")
    assert loop.ticket.open_pause.minutes is None
    loop.do(U1, "handle")
    assert loop.ticket.open_pause is None and loop.ticket.status is Status.HANDLED


def test_escalation_climbs_one_rung_at_a_time_up_to_the_city():
    loop = Loop()
    loop.do(DUTY, "register")
    loop.do(DUTY, "dispatch", to_unit="U1")
    loop.do(SYSTEM, "escalate", note="超时")
    loop.do(DUTY, "escalate", note="值班长督办", level=3)
    assert loop.ticket.escalation_level == 3
    with pytest.raises(TransitionNotAllowed):
        loop.do(SYSTEM, "escalate", note="again")
    with pytest.raises(InvalidCommand):
        apply(FIXTURES[Status.DISPATCHED], Command("escalate", FIXTURES[Status.DISPATCHED].version, level=5),
              SYSTEM, T0)
    loop.do(DUTY, "reassign", to_unit="U2", note="改派")
    assert loop.ticket.escalation_level == 0  # a new unit, a new clock, a new ladder


def test_warning_is_recorded_once_per_clock():
    loop = Loop(FIXTURES[Status.DISPATCHED])
    loop.do(SYSTEM, "warn", clock=ClockKind.ACKNOWLEDGE, note=None)
    assert loop.ticket.warned == {ClockKind.ACKNOWLEDGE}
    with pytest.raises(InvalidCommand):
        loop.do(SYSTEM, "warn", clock=ClockKind.ACKNOWLEDGE, note=None)


def test_snapshot_round_trip_keeps_every_field():
    loop = Loop()
    loop.do(DUTY, "register")
    loop.do(DUTY, "dispatch", to_unit="U1")
    loop.do(U1, "return", note="非本单位")
    loop.do(OPERATOR, "dispatch", to_unit="U1")
    _with_parts(loop)
    loop.do(U1, "acknowledge")
    loop.do(SYSTEM, "warn", clock=ClockKind.HANDLE, note=None)
    loop.do(U1, "request_extension", minutes=30)
    loop.do(DUTY, "approve_extension")
    loop.do(U1, "handle")
    loop.do(GRID, "fail_verify")
    loop.do(U1, "request_extension", park=True, note="挂账申请")
    import json
    data = json.loads(json.dumps(dump(loop.ticket)))
    assert load(data) == loop.ticket
    with pytest.raises(ValueError):
        load({"schema": "other"})


def test_a_ticket_opened_by_auto_dispatch_starts_its_clocks_at_once():
    ticket = opened("CC1", Status.DISPATCHED, T0, category="020102", grid="G1", assignee="U1")
    assert ticket.version == 1 and ticket.lead == "U1" and ticket.current.clock_started == T0
    assert apply(ticket, Command("acknowledge", 1), U1, T0).ticket.status is Status.ACKNOWLEDGED
    assert opened("CC2", Status.PENDING, T0).lead is None
    with pytest.raises(ValueError):
        opened("CC3", Status.DISPATCHED, T0)


def test_a_near_border_ticket_is_confirmed_once_and_reassigning_settles_it_too():
    ticket = opened("T-B", Status.DISPATCHED, T0, category="020102", assignee="U1", border_check=True)
    assert Action.CONFIRM_AREA in allowed_actions(ticket, OPERATOR)
    assert Action.CONFIRM_AREA not in allowed_actions(ticket, U1)
    confirmed = apply(ticket, Command("confirm_area", 1), OPERATOR, T0).ticket
    assert confirmed.border_check is False and confirmed.status is Status.DISPATCHED and confirmed.lead == "U1"
    with pytest.raises(TransitionNotAllowed):
        apply(confirmed, Command("confirm_area", 2), OPERATOR, T0)
    moved = apply(ticket, Command("reassign", 1, note="属地为邻区", to_unit="U2"), DUTY, T0).ticket
    assert moved.border_check is False and Action.CONFIRM_AREA not in allowed_actions(moved, OPERATOR)
    assert load(dump(ticket)).border_check is True
    assert opened("T-C", Status.PENDING, T0).border_check is False


def test_notes_are_stored_trimmed():
    loop = Loop(FIXTURES[Status.DISPATCHED])
    loop.do(HOTLINE, "comment", note="  市民再次来电催办  ")
    assert loop.history[-1].note == "市民再次来电催办"
    loop.do(U1, "acknowledge", note="   ")
    assert loop.history[-1].note is None


# --- opening, merging, placing on the map: changes of the domain like every other -----------------------

def test_opening_a_dispatched_ticket_is_two_system_records_and_a_running_clock():
    opened_ = open_ticket("CC9", Opening(Status.DISPATCHED, ("auto: known category", "auto: routed by contains to U1")),
                          T0, category="020102", grid="G1", assignee="U1", border_check=True)
    assert opened_.ticket == opened("CC9", Status.DISPATCHED, T0, category="020102", grid="G1", assignee="U1",
                                    border_check=True)
    assert [(r.action, r.from_status, r.to_status, r.party, r.actor, r.at) for r in opened_.records] == [
        ("register", None, Status.REGISTERED, Party.SYSTEM, "system", T0),
        ("dispatch", Status.REGISTERED, Status.DISPATCHED, Party.SYSTEM, "system", T0),
    ]
    assert opened_.records[1].note == "auto: routed by contains to U1" and dict(opened_.records[1].data) == {}
    # the next command continues from the opened state
    assert apply(opened_.ticket, Command("acknowledge", 1), U1, T0).ticket.status is Status.ACKNOWLEDGED


def test_opening_a_pending_ticket_is_one_create_record_and_other_statuses_are_refused():
    pending = open_ticket("CC8", Opening(Status.PENDING, ("category unknown",)), T0)
    assert pending.ticket.status is Status.PENDING and pending.ticket.lead is None
    [record] = pending.records
    assert (record.action, record.from_status, record.to_status, record.note) == (
        "create", None, Status.PENDING, "category unknown")
    with pytest.raises(ValueError):
        open_ticket("CC7", Opening(Status.REGISTERED, ("x",)), T0)
    with pytest.raises(ValueError):  # two notes for a dispatch, one for a pending ticket
        open_ticket("CC6", Opening(Status.DISPATCHED, ("only one",)), T0, assignee="U1")


def test_a_merge_keeps_the_status_names_the_report_and_only_open_tickets_take_one():
    record = merge(Status.ACKNOWLEDGED, T0, channel="hotline", report_id="h-1", distance_m=12.345,
                   reason="same category within 50 m")
    assert (record.action, record.from_status, record.to_status, record.party) == (
        "merge", Status.ACKNOWLEDGED, Status.ACKNOWLEDGED, Party.SYSTEM)
    assert dict(record.data) == {"channel": "hotline", "report_id": "h-1", "distance_m": 12.3}
    for final in (Status.CLOSED, Status.REJECTED):
        with pytest.raises(TransitionNotAllowed):
            merge(final, T0, channel="grid", report_id="g-1", distance_m=1.0, reason="same")


HERE = Position(125.44, 43.71, district="D2", grid="G2", assignee="U2", rule="matrix", method="contains",
                previous=(125.30, 43.80))


def test_locate_moves_the_ticket_into_its_new_cell_and_keeps_status_and_unit():
    pending = FIXTURES[Status.PENDING]
    outcome = apply(pending, Command("locate", pending.version, position=HERE), HOTLINE, T0)
    assert outcome.ticket.status is Status.PENDING and outcome.ticket.grid == "G2"
    assert outcome.record.action == "locate" and outcome.record.party == Party.HOTLINE
    assert outcome.record.data["from"] == {"lon": 125.30, "lat": 43.80}
    assert outcome.record.data["to"] == {"lon": 125.44, "lat": 43.71}
    assert outcome.record.data["suggested_unit"] == "U2"
    held = FIXTURES[Status.ACKNOWLEDGED]
    moved = apply(held, Command("locate", held.version, position=dataclasses.replace(HERE, near_border=True)),
                  DUTY, T0).ticket
    assert moved.status is Status.ACKNOWLEDGED and moved.lead == held.lead and moved.border_check is True
    # the grid worker of the old cell no longer sees it; the new cell's does
    assert allowed_actions(moved, GRID) == () and allowed_actions(moved, Actor("g2", Role.GRID, grid="G2"))


def test_locate_needs_a_point_inside_the_city_and_an_open_ticket():
    ticket = FIXTURES[Status.PENDING]
    with pytest.raises(InvalidCommand) as missing:
        apply(ticket, Command("locate", ticket.version), OPERATOR, T0)
    assert "location" in missing.value.fields
    with pytest.raises(InvalidCommand) as outside:
        apply(ticket, Command("locate", ticket.version, position=Position(100.0, 30.0)), OPERATOR, T0)
    assert "outside" in outside.value.fields["location"]
    closed = FIXTURES[Status.CLOSED]
    with pytest.raises(TransitionNotAllowed):
        apply(closed, Command("locate", closed.version, position=HERE), DUTY, T0)
    with pytest.raises(OutOfScope):  # a department is out of scope of a pending ticket
        apply(ticket, Command("locate", ticket.version, position=HERE), U1, T0)
    held = FIXTURES[Status.DISPATCHED]
    with pytest.raises(RoleNotAllowed):  # the lead unit may not move its ticket
        apply(held, Command("locate", held.version, position=HERE), U1, T0)


def test_a_person_escalating_must_say_why_and_names_a_rung_on_the_ladder():
    ticket = FIXTURES[Status.DISPATCHED]
    with pytest.raises(InvalidCommand) as caught:
        apply(ticket, Command("escalate", ticket.version, level=2), DUTY, T0)
    assert set(caught.value.fields) == {"note"}
    for level in (0, 4):
        with pytest.raises(InvalidCommand) as caught:
            apply(ticket, Command("escalate", ticket.version, note="督办", level=level), DUTY, T0)
        assert "level" in caught.value.fields
    assert apply(ticket, Command("escalate", ticket.version, note="督办", level=2), DUTY, T0).ticket.escalation_level == 2
    # the deadline pass writes its own note; without one it is still allowed
    assert apply(ticket, Command("escalate", ticket.version), SYSTEM, T0).ticket.escalation_level == 1
