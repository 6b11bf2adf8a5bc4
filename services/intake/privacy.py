"""The patient's right to erasure (GDPR art. 17; HIPAA lets a covered entity honour it where
no retention rule applies): the identity is erased, the pseudonymous care record stays."""

from __future__ import annotations

from contracts.envelope import Stamp
from services.intake.record import Decided, Erasure, IntakeRecord
from services.runtime.refusals import RuleViolation


class IdentityAlreadyErased(RuleViolation):
    """The patient's identity was already erased; there is nothing left to erase."""


def decide_erasure(record: IntakeRecord, by: str, reason: str, stamp: Stamp) -> Decided:
    """Record who erased the identity, when and why. The caller deletes the data key (the
    identity itself is only ciphertext here). No event: nothing downstream holds identity."""
    if record.erasure is not None:
        raise IdentityAlreadyErased(f"erased at {record.erasure.at.isoformat()}")
    updated = record.model_copy(deep=True)
    updated.erasure = Erasure(at=stamp.now, by=by, reason=reason)
    return updated, []
