"""Envelope encryption of identity: a per-patient data key wrapped by a rotating KEK."""

from __future__ import annotations

import base64
import os
from datetime import date
from uuid import uuid4

import pytest

from contracts.intake import Identity
from services.runtime.crypto import (
    KeyConfigurationError,
    KeyRing,
    Undecryptable,
    open_sealed,
    seal,
)
from services.runtime.settings import Settings

PERSON = Identity(given_name="Synthetic", family_name="Person", date_of_birth=date(1980, 1, 1))


def kek(kek_id: str) -> str:
    return f"{kek_id}:{base64.b64encode(os.urandom(32)).decode()}"


def test_a_sealed_identity_opens_only_with_its_key_and_patient() -> None:
    ring = KeyRing.parse(kek("k1"))
    data_key, wrapped = ring.new_data_key(uuid4())
    sealed = seal(PERSON, "pat-1", wrapped.key_id, data_key)

    assert "Synthetic" not in sealed.model_dump_json()
    assert open_sealed(sealed, "pat-1", ring.unwrap(wrapped)) == PERSON
    with pytest.raises(Undecryptable):
        open_sealed(sealed, "pat-2", data_key)
    with pytest.raises(Undecryptable):
        open_sealed(sealed, "pat-1", os.urandom(32))


def test_a_new_kek_wraps_new_keys_old_ones_still_unwrap_and_rewrap_moves_them() -> None:
    old = KeyRing.parse(kek("k1"))
    data_key, wrapped = old.new_data_key(uuid4())
    both = KeyRing({"k2": os.urandom(32), **old.keks}, "k2")

    assert both.unwrap(wrapped) == data_key
    moved = both.rewrap(wrapped)
    assert (moved.kek_id, moved.key_id) == ("k2", wrapped.key_id)
    assert KeyRing({"k2": both.keks["k2"]}, "k2").unwrap(moved) == data_key
    with pytest.raises(KeyConfigurationError):
        KeyRing({"k2": both.keks["k2"]}, "k2").unwrap(wrapped)


@pytest.mark.parametrize(
    "text", ["", "k1", "k1:not-base64!", f"k1:{base64.b64encode(b'x').decode()}"]
)
def test_malformed_keks_are_refused(text: str) -> None:
    with pytest.raises(KeyConfigurationError):
        KeyRing.parse(text)


def test_outside_dev_mode_a_kek_must_be_configured() -> None:
    with pytest.raises(KeyConfigurationError):
        KeyRing.from_settings(Settings(dev_mode=False))
    assert KeyRing.from_settings(Settings(dev_mode=True)).current == "dev"
    configured = KeyRing.from_settings(Settings(dev_mode=False, identity_keks=kek("prod-2026")))
    assert configured.current == "prod-2026"
