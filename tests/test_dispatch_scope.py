"""Who may see a ticket: one rule (dispatch.actors.Scope) behind the API's queries, the sockets' rooms and the
domain's parties."""
from __future__ import annotations

import itertools

import pytest

from dispatch.actors import Actor, Role, Scope, party_of, scope_of

TICKETS = [  # (lead, assists, grid)
    ("U1", (), "G1"), ("U2", ("U1",), "G2"), ("U3", (), None), (None, (), "G1"), (None, ("U3",), None),
]
ACTORS = [Actor("a", Role.ADMIN), Actor("o", Role.OPERATOR), Actor("s", Role.OPERATOR, supervisor=True),
          Actor("h", Role.HOTLINE), Actor("x", Role.SYSTEM), Actor("d1", Role.DEPARTMENT, unit="U1"),
          Actor("d3", Role.DEPARTMENT, unit="U3"), Actor("dn", Role.DEPARTMENT), Actor("g1", Role.GRID, grid="G1"),
          Actor("gn", Role.GRID)]


@pytest.mark.parametrize("actor, ticket", list(itertools.product(ACTORS, TICKETS)))
def test_the_domain_s_parties_follow_the_scope(actor, ticket):
    lead, assists, grid = ticket
    covered = scope_of(actor.role, actor.unit, actor.grid).covers(lead, assists, grid)
    assert covered == (party_of(actor, lead, assists, grid) is not None)


def test_scopes_and_rooms_by_role():
    assert scope_of("admin") == scope_of("operator") == scope_of("hotline") == Scope(everything=True)
    assert scope_of("department", unit="U1").covers("U2", ("U1",), None)  # 协办 sees what it helps with
    assert not scope_of("department", unit="U1").covers("U2", (), "G1")
    assert not scope_of("department").covers(None, (), None)
    assert scope_of("grid", grid="G1").covers("U9", (), "G1") and not scope_of("grid", grid="G1").covers("U9", (), "G2")
    assert scope_of("admin").rooms() == ["all"]
    assert scope_of("department", unit="U1").rooms() == ["unit:U1"]
    assert scope_of("grid", grid="G1").rooms() == ["grid:G1"]
    assert scope_of("department").rooms() == []
