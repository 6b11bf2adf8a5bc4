"""Identity for a FHIR export, from the one service that holds it.

The journey keeps no identity. For an export, it asks intake for the patient's record with the
caller's own bearer token, so intake's rules decide who sees a name and date of birth (a coach
is refused, a therapist gets the record without identity). Anything but an answer with
identity leaves the export pseudonymous; the Patient resource says so in its security label.
An identity erased on request comes back as `ERASED`, and the Patient says "erased".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from services.runtime.logging import get_logger

IdentitySource = Callable[[str, str], Awaitable[dict[str, Any] | None]]
"""(patient id, the caller's Authorization header) -> identity, ERASED, or None."""
ERASED: dict[str, Any] = {"erased": True}
"""Intake erased this identity (its data key is deleted): shown as erased, never an error."""

log = get_logger(__name__)


def from_intake(
    base_url: str, timeout_s: float = 2.0, transport: httpx.AsyncBaseTransport | None = None
) -> IdentitySource:
    async def identity(patient_id: str, authorization: str) -> dict[str, Any] | None:
        try:
            async with httpx.AsyncClient(
                base_url=base_url, timeout=timeout_s, transport=transport
            ) as client:
                answer = await client.get(
                    f"/patients/{patient_id}", headers={"Authorization": authorization}
                )
        except httpx.HTTPError as error:
            log.warning("identity_unavailable", reason=type(error).__name__)
            return None
        if answer.status_code != 200:
            return None
        record = answer.json()
        if record.get("identity_erased") is True:
            return ERASED
        found = record.get("identity")
        return found if isinstance(found, dict) else None

    return identity


async def nobody(_patient_id: str, _authorization: str) -> dict[str, Any] | None:
    """No identity source: every export is pseudonymous."""
    return None
