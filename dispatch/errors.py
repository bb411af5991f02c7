"""The domain's errors, each with a stable code and the HTTP status the web layer maps it to.

The web layer turns any `DispatchError` into the contract's body `{"error": {"code", "message", "fields"?}}`
in one place; the CLI prints `message`. `allowed` (where present) is what the same actor may do instead,
so a 403/422 answer can name the allowed actions as issue 5 asks.
"""
from __future__ import annotations


class DispatchError(Exception):
    """Base of every refusal the ticket domain makes."""

    code = "dispatch_error"
    status = 422

    def __init__(self, message: str, *, allowed: tuple[str, ...] = (), fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.allowed = allowed
        self.fields = fields or {}


class StaleVersion(DispatchError):
    """The client acted on an old copy of the ticket: it must reload and decide again (HTTP 409)."""

    code = "stale_version"
    status = 409

    def __init__(self, expected: int, given: int):
        super().__init__(f"ticket is at version {expected}, the request was made on version {given}")
        self.expected = expected
        self.given = given


class OutOfScope(DispatchError):
    """The ticket is not this actor's: another unit's, another grid's (HTTP 403)."""

    code = "out_of_scope"
    status = 403


class RoleNotAllowed(DispatchError):
    """The action exists in this state, but not for this actor's role (HTTP 403)."""

    code = "role_not_allowed"
    status = 403


class TransitionNotAllowed(DispatchError):
    """Nobody can do this now, or a rule of the loop forbids it (HTTP 422)."""

    code = "transition_not_allowed"
    status = 422


class InvalidCommand(DispatchError):
    """The action is allowed but the request lacks what it needs: a reason, a unit, a duration (HTTP 422)."""

    code = "invalid_command"
    status = 422


class CalendarUnknown(DispatchError):
    """Working time was asked for a day the holiday calendar does not know and the policy says not to guess."""

    code = "calendar_unknown"
    status = 500


class TaxonomyError(ValueError):
    """A category table is malformed; the message lists every problem with its line, so a city's replacement
    table can be fixed in one go."""

    def __init__(self, problems: list[str]):
        super().__init__(f"category table has {len(problems)} problem(s):\n  " + "\n  ".join(problems))
        self.problems = problems


class IntakeRefused(DispatchError):
    """A report the platform cannot open a ticket with a clock for, refused at the door (HTTP 422): a category
    that is not a 小类 of the taxonomy, a priority its channel may not set. `fields` names the field."""

    code = "invalid_envelope"
    status = 422
