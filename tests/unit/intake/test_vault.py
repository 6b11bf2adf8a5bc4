"""Intake's identity vault over the in-memory twin: one data key per patient, erasure by
deleting it, and rotation to a new KEK without touching any ciphertext."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from typing import Any, cast

from contracts.intake import Identity
from services.intake.vault import IDENTITY_KEYS, IdentityVault
from services.runtime.crypto import KeyRing
from tests.support.memory import MemoryDatabase

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
PERSON = Identity(given_name="Synthetic", family_name="Person", date_of_birth=date(1980, 1, 1))


def vault(db: MemoryDatabase, ring: KeyRing) -> IdentityVault:
    return IdentityVault(cast(Any, db[IDENTITY_KEYS]), ring)


async def test_one_data_key_per_patient_and_erasure_makes_the_identity_unreadable() -> None:
    db = MemoryDatabase()
    keys = vault(db, KeyRing({"k1": os.urandom(32)}, "k1"))
    first = await keys.seal("pat-1", PERSON, NOW)
    again = await keys.seal("pat-1", PERSON, NOW)
    other = await keys.seal("pat-2", PERSON, NOW)

    assert first.key_id == again.key_id != other.key_id
    assert first.ciphertext != again.ciphertext, "a fresh nonce every time"
    assert await keys.open("pat-1", first) == PERSON
    await keys.erase("pat-1")
    assert await keys.open("pat-1", first) is None
    assert await keys.open("pat-2", other) == PERSON
    assert "Synthetic" not in str(db[IDENTITY_KEYS].docs)


async def test_rotation_rewraps_every_key_under_the_new_kek_and_ciphertext_still_opens() -> None:
    db = MemoryDatabase()
    old = {"k1": os.urandom(32)}
    sealed = await vault(db, KeyRing(old, "k1")).seal("pat-1", PERSON, NOW)
    rotating = vault(db, KeyRing({"k2": os.urandom(32), **old}, "k2"))

    assert await rotating.rotate() == 1
    assert await rotating.rotate() == 0
    assert db[IDENTITY_KEYS].docs["pat-1"]["kek_id"] == "k2"
    retired = vault(db, KeyRing({"k2": rotating.ring.keks["k2"]}, "k2"))
    assert await retired.open("pat-1", sealed) == PERSON
