"""Envelope encryption of identity (crypto-shredding): a random AES-256-GCM data key per
patient encrypts that patient's identity; data keys are stored wrapped (AES-256-GCM) by a
key-encryption key (KEK) from configuration. Deleting a patient's wrapped data key makes every
copy of the ciphertext - topics, dead letters, databases, backups - unreadable.

KEKs are configured as `id:base64key` entries (`IDENTITY_KEKS` or `IDENTITY_KEKS_FILE`), the
first one current: a wrapped key records the KEK id it was wrapped with, so a new KEK is put
first, old keys still unwrap, and `rewrap` moves them over before the old KEK is dropped.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.intake import Identity, SealedIdentity
from services.runtime.settings import Settings

KEY_BYTES = 32
NONCE_BYTES = 12
DEV_KEK_ID = "dev"
DEV_KEK = hashlib.sha256(b"kap development identity KEK - never in production").digest()


class KeyConfigurationError(RuntimeError):
    """The identity KEKs are missing or malformed (outside DEV_MODE a KEK is required)."""


class Undecryptable(Exception):
    """The ciphertext does not open with this key (tampered, or another patient's)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


@dataclass(frozen=True)
class WrappedKey:
    """A data key as stored: encrypted under the KEK `kek_id`."""

    key_id: UUID
    kek_id: str
    wrapped: str


@dataclass(frozen=True)
class KeyRing:
    """The configured KEKs by id; `current` wraps new data keys."""

    keks: dict[str, bytes]
    current: str

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        keks: dict[str, bytes] = {}
        order: list[str] = []
        for item in (part.strip() for part in text.replace("\n", ",").split(",")):
            if not item:
                continue
            kek_id, sep, encoded = item.partition(":")
            try:
                key = _unb64(encoded.strip())
            except ValueError as error:
                raise KeyConfigurationError(f"KEK {kek_id!r} is not base64") from error
            if not sep or not kek_id or len(key) != KEY_BYTES:
                raise KeyConfigurationError(f"KEK {kek_id!r} must be id:base64 of 32 bytes")
            keks[kek_id] = key
            order.append(kek_id)
        if not order:
            raise KeyConfigurationError("no identity KEK configured")
        return cls(keks, order[0])

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """IDENTITY_KEKS_FILE, else IDENTITY_KEKS; a fixed development KEK only in DEV_MODE."""
        if settings.identity_keks_file:
            return cls.parse(Path(settings.identity_keks_file).read_text())
        if settings.identity_keks:
            return cls.parse(settings.identity_keks)
        if settings.dev_mode:
            return cls({DEV_KEK_ID: DEV_KEK}, DEV_KEK_ID)
        raise KeyConfigurationError(
            "set IDENTITY_KEKS or IDENTITY_KEKS_FILE (id:base64 of 32 random bytes), "
            "or DEV_MODE=true on a developer box"
        )

    def new_data_key(self, key_id: UUID) -> tuple[bytes, WrappedKey]:
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        return data_key, self.wrap(key_id, data_key)

    def wrap(self, key_id: UUID, data_key: bytes) -> WrappedKey:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keks[self.current]).encrypt(nonce, data_key, key_id.bytes)
        return WrappedKey(key_id, self.current, _b64(nonce + sealed))

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        kek = self.keks.get(wrapped.kek_id)
        if kek is None:
            raise KeyConfigurationError(f"KEK {wrapped.kek_id!r} is no longer configured")
        raw = _unb64(wrapped.wrapped)
        try:
            return AESGCM(kek).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], wrapped.key_id.bytes)
        except InvalidTag as error:
            raise Undecryptable("data key does not unwrap") from error

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        """The same data key under the current KEK (rotation)."""
        if wrapped.kek_id == self.current:
            return wrapped
        return self.wrap(wrapped.key_id, self.unwrap(wrapped))


def seal(identity: Identity, patient_id: str, key_id: UUID, data_key: bytes) -> SealedIdentity:
    """Encrypt `identity` for `patient_id` (bound as associated data)."""
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(
        nonce, identity.model_dump_json().encode(), patient_id.encode()
    )
    return SealedIdentity(key_id=key_id, nonce=_b64(nonce), ciphertext=_b64(ciphertext))


def open_sealed(sealed: SealedIdentity, patient_id: str, data_key: bytes) -> Identity:
    try:
        plain = AESGCM(data_key).decrypt(
            _unb64(sealed.nonce), _unb64(sealed.ciphertext), patient_id.encode()
        )
    except InvalidTag as error:
        raise Undecryptable("identity does not decrypt") from error
    return Identity.model_validate_json(plain)
