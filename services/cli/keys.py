"""`kap rotate-identity-keys`: re-wrap every patient's identity data key under the current KEK
(the first of IDENTITY_KEKS), after which older KEKs can be removed from the configuration."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from services.intake.vault import IDENTITY_KEYS, IdentityVault
from services.runtime.crypto import KeyConfigurationError, KeyRing
from services.runtime.mongo import connect, database
from services.runtime.settings import load_settings


async def rotate_all(batch: int) -> int:
    settings = load_settings("intake")
    client = connect(settings)
    try:
        vault = IdentityVault(
            database(client, settings)[IDENTITY_KEYS], KeyRing.from_settings(settings)
        )
        total = 0
        while rewrapped := await vault.rotate(batch):
            total += rewrapped
        return total
    finally:
        await client.close()


def rotate_identity_keys(
    batch: Annotated[int, typer.Option(min=1, max=5000, help="keys per round")] = 500,
) -> None:
    """Re-wrap identity data keys under the current KEK (reads intake's settings)."""
    try:
        total = asyncio.run(rotate_all(batch))
    except KeyConfigurationError as error:
        sys.stderr.write(f"{error}\n")
        raise typer.Exit(1) from error
    sys.stdout.write(f"re-wrapped {total} identity data keys\n")
