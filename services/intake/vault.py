"""Intake's identity vault: one wrapped data key per patient (`identity_keys`), sealing and
opening that patient's identity, and erasure by deleting the key (crypto-shredding).

The data key is stored before anything carries its ciphertext; deleting it leaves every copy of
the ciphertext (the record, the outbox, `PatientReferred` on its topic and dead letters,
backups of those) unreadable. The wrapped key itself never leaves this collection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts.intake import Identity, SealedIdentity
from services.runtime.crypto import KeyRing, WrappedKey, open_sealed, seal
from services.runtime.mongo import Document

IDENTITY_KEYS = "identity_keys"


class IdentityVault:
    def __init__(self, keys: AsyncCollection[Document], ring: KeyRing) -> None:
        self.keys = keys
        self.ring = ring

    async def _stored(self, patient_id: str) -> WrappedKey | None:
        doc = await self.keys.find_one({"_id": patient_id})
        if doc is None:
            return None
        return WrappedKey(UUID(doc["key_id"]), doc["kek_id"], doc["wrapped"])

    async def seal(self, patient_id: str, identity: Identity, now: datetime) -> SealedIdentity:
        """Encrypt with the patient's data key, created (and stored) on first use."""
        stored = await self._stored(patient_id)
        if stored is None:
            data_key, wrapped = self.ring.new_data_key(uuid4())
            try:
                await self.keys.insert_one({"_id": patient_id, **_document(wrapped), "at": now})
            except DuplicateKeyError:
                stored = await self._stored(patient_id)
            else:
                return seal(identity, patient_id, wrapped.key_id, data_key)
        if stored is None:
            raise LookupError("the data key vanished while it was being created")
        return seal(identity, patient_id, stored.key_id, self.ring.unwrap(stored))

    async def open(self, patient_id: str, sealed: SealedIdentity) -> Identity | None:
        """The identity, or None once erased (no data key for this ciphertext)."""
        stored = await self._stored(patient_id)
        if stored is None or stored.key_id != sealed.key_id:
            return None
        return open_sealed(sealed, patient_id, self.ring.unwrap(stored))

    async def erase(self, patient_id: str) -> None:
        await self.keys.delete_one({"_id": patient_id})

    async def rotate(self, batch: int = 500) -> int:
        """Re-wrap up to `batch` data keys under the current KEK (call until it returns 0), so an
        older KEK can be retired."""
        rewrapped = 0
        async for doc in self.keys.find({"kek_id": {"$ne": self.ring.current}}).limit(batch):
            old = WrappedKey(UUID(doc["key_id"]), doc["kek_id"], doc["wrapped"])
            result = await self.keys.update_one(
                {"_id": doc["_id"], "kek_id": old.kek_id},
                {"$set": _document(self.ring.rewrap(old))},
            )
            rewrapped += result.matched_count
        return rewrapped


def _document(wrapped: WrappedKey) -> dict[str, Any]:
    return {"key_id": str(wrapped.key_id), "kek_id": wrapped.kek_id, "wrapped": wrapped.wrapped}
