"""What a command's refusal means, without saying how it is answered: domain code raises these,
and only the HTTP edge (`errors.py`) maps them to a status. No web framework, database driver
or broker client is imported here or by any domain module (a unit test walks the imports)."""

from __future__ import annotations

from collections.abc import Sequence


class Refusal(Exception):
    """A command refused by a named rule; the class docstring says which and why. `reasons`
    lists what specifically is unmet (e.g. which discharge conditions)."""

    reasons: Sequence[str] = ()


class RuleViolation(Refusal):
    """The command conflicts with the state of the record (answered 409). The arguments are
    the `reasons`: the facts that broke the rule, in words a clinician reads."""

    def __init__(self, *reasons: object) -> None:
        super().__init__(*reasons)
        self.reasons = tuple(str(reason) for reason in reasons)


class InvalidValue(RuleViolation):
    """A value outside what the rule allows, whatever the state (answered 422)."""


class NotPermitted(RuleViolation):
    """The caller's role or assignment does not allow this command (answered 403)."""


class NotFound(Refusal):
    """The addressed record does not exist (or not in the caller's scope; answered 404)."""


class FieldOutOfRange(InvalidValue):
    """A request value outside what the stored record allows, e.g. a charted time before the
    last observation (answered 422 in request validation's shape, naming `location.field`)."""

    field: str = "value"
    location: str = "body"
