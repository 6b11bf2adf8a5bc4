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


def connect(settings: Settings) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        settings.mongodb_url,
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        appname=settings.service_name or "kap",
    )


def database(client: AsyncMongoClient[Document], settings: Settings) -> AsyncDatabase[Document]:
    return client[settings.mongodb_database]
