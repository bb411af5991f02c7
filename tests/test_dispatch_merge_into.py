"""合并 (merge_into) in the pure domain: the duplicate ends 不予立案 with its turn ended, the target keeps its
status and gets a `merge` line naming the duplicate; refusals name the field `into`."""
from __future__ import annotations

import dataclasses

import pytest

from dispatch.errors import InvalidCommand, OutOfScope, RoleNotAllowed, StaleVersion, TransitionNotAllowed
from dispatch.lifecycle import Command, absorb, allowed_actions, apply
from dispatch.model import Status
from dispatch.state import AssignmentEnd
from tests.test_dispatch_lifecycle import DUTY, FIXTURES, HOTLINE, OPERATOR, STRANGER, T0, U1

A = FIXTURES[Status.ACKNOWLEDGED]
B = FIXTURES[Status.PENDING]


def _b():
    return dataclasses.replace(B, ticket_no="CC20261123-00002")


def test_merge_into_ends_the_duplicate_and_the_target_names_it():
    target = _b()
    assert "merge_into" in allowed_actions(A, OPERATOR)
    out = apply(A, Command("merge_into", A.version, into=target.ticket_no), OPERATOR, T0)
    assert out.ticket.status is Status.REJECTED and out.ticket.version == A.version + 1
    assert out.ticket.current is None and out.ticket.assignments[-1].end is AssignmentEnd.MERGED
    assert out.record.action == "merge_into" and out.record.data["into"] == target.ticket_no
    gained = absorb(target, out, OPERATOR, T0, reports=2)
    assert gained.ticket.status is target.status and gained.ticket.version == target.version + 1
    assert gained.record.action == "merge" and gained.record.actor == "op"
    assert dict(gained.record.data) == {"from_ticket": A.ticket_no, "reports": 2}
    assert A.ticket_no in gained.record.note


@pytest.mark.parametrize("into, why", [(None, "needs"), ("", "needs"), (A.ticket_no, "itself")])
def test_a_missing_or_same_target_is_refused_naming_into(into, why):
    with pytest.raises(InvalidCommand) as caught:
        apply(A, Command("merge_into", A.version, into=into), OPERATOR, T0)
    assert caught.value.status == 422 and why in caught.value.fields["into"]


def test_a_final_target_is_refused_naming_into():
    out = apply(A, Command("merge_into", A.version, into="X"), OPERATOR, T0)
    for final in (FIXTURES[Status.CLOSED], FIXTURES[Status.REJECTED]):
        with pytest.raises(InvalidCommand) as caught:
            absorb(final, out, OPERATOR, T0, reports=1)
        assert "final" in caught.value.fields["into"]


def test_who_may_merge_and_from_what():
    with pytest.raises(RoleNotAllowed):  # the lead unit is in scope, but merging is the command centre's
        apply(A, Command("merge_into", A.version, into="X"), U1, T0)
    with pytest.raises(OutOfScope):
        apply(A, Command("merge_into", A.version, into="X"), STRANGER, T0)
    with pytest.raises(RoleNotAllowed):
        apply(A, Command("merge_into", A.version, into="X"), HOTLINE, T0)
    with pytest.raises(TransitionNotAllowed):  # a final ticket cannot be merged any more
        closed = FIXTURES[Status.CLOSED]
        apply(closed, Command("merge_into", closed.version, into="X"), DUTY, T0)
    with pytest.raises(StaleVersion):
        apply(A, Command("merge_into", A.version - 1, into="X"), OPERATOR, T0)
    out = apply(A, Command("merge_into", A.version, into="X"), OPERATOR, T0)
    with pytest.raises(InvalidCommand) as caught:  # a department cannot be the target's actor either
        absorb(_b(), out, STRANGER, T0, reports=1)
    assert "may act on" in caught.value.fields["into"]
