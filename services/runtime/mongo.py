"""PyMongo async client construction (the supported successor of Motor)."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from services.runtime.settings import Settings

Document = dict[str, Any]

STALE_WRITE_MARKERS = ("kap version guard", "SQLSTATE 40001")


def is_stale_write(error: OperationFailure) -> bool:
    """The development database's version guard refused a write that read a stale version.

    FerretDB over PostgreSQL runs a filtered update as a read and a later write by `_id`; the
    guard infra/local/ferretdb-guards.sql installs refuses the losing write with SQLSTATE 40001
    and this message, which FerretDB passes on inside an OperationFailure. MongoDB never
    raises here: its filtered write just matches nothing.
    """
    text = str(error.details.get("errmsg", "") if error.details else "") or str(error)
    return all(marker in text for marker in STALE_WRITE_MARKERS)


STORAGE_UNREACHABLE_MARKERS = (
    "failed to connect to",
    "the database system is shutting down",
    "the database system is starting up",
    "terminating connection due to administrator command",
    "conn closed",
    "(SQLSTATE 57P0",  # admin_shutdown, crash_shutdown, cannot_connect_now
    "(SQLSTATE 08",  # connection_exception and its subclasses
)
"""PostgreSQL's words, passed on by FerretDB, for a storage that is down or restarting."""


def storage_unreachable(error: BaseException) -> bool:
    """The database out of reach, though the driver reached FerretDB: with PostgreSQL down or
    restarting, FerretDB answers every command with an InternalError OperationFailure carrying
    PostgreSQL's connection error. Like a ConnectionFailure, it says nothing about the command
    or message at hand: retry later (503, redelivery), never dead-letter."""
    if not isinstance(error, OperationFailure):
        return False
    text = str(error.details.get("errmsg", "") if error.details else "") or str(error)
    return any(marker in text for marker in STORAGE_UNREACHABLE_MARKERS)


def connect(settings: Settings) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        settings.mongodb_url,
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        appname=settings.service_name or "kap",
    )


def database(client: AsyncMongoClient[Document], settings: Settings) -> AsyncDatabase[Document]:
    return client[settings.mongodb_database]
