"""The identity vault on the real database: erasure deletes the key, and rotation re-wraps every
key under a new KEK in rounds, after which the old KEK can go."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from typing import Any

import pytest

from contracts.intake import Identity
from services.intake.vault import IDENTITY_KEYS, IdentityVault
from services.runtime.crypto import KeyRing
from services.runtime.settings import Settings

pytestmark = pytest.mark.infra

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
PERSON = Identity(given_name="Synthetic", family_name="Person", date_of_birth=date(1980, 1, 1))


async def test_rotation_in_rounds_and_erasure_on_the_real_database(
    mongo: Any, settings: Settings
) -> None:
    keys = mongo[f"{settings.deployment}_intake"][IDENTITY_KEYS]
    old = {"k1": os.urandom(32)}
    sealed = {
        pid: await IdentityVault(keys, KeyRing(old, "k1")).seal(pid, PERSON, NOW)
        for pid in ("pat-1", "pat-2", "pat-3")
    }
    new = {"k2": os.urandom(32)}
    rotating = IdentityVault(keys, KeyRing({**new, **old}, "k2"))

    rounds = [await rotating.rotate(batch=2) for _ in range(3)]

    assert rounds == [2, 1, 0]
    retired = IdentityVault(keys, KeyRing(new, "k2"))
    for pid, identity in sealed.items():
        assert await retired.open(pid, identity) == PERSON
    await retired.erase("pat-2")
    assert await retired.open("pat-2", sealed["pat-2"]) is None
    assert await keys.count_documents({}) == 2
