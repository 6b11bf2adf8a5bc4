"""What FerretDB answers while the PostgreSQL under it is down (captured from FerretDB 1.24
with PostgreSQL stopped): an InternalError OperationFailure carrying the connection error."""

from __future__ import annotations

from pymongo.errors import OperationFailure

STORAGE_DOWN = (
    "[msg_update.go:96 handler.(*Handler).updateDocument] [registry.go:327 "
    "metadata.(*Registry).databaseGetOrCreate] failed to connect to `user=postgres "
    "database=ferretdb`:\n\t127.0.0.1:5432 (127.0.0.1): dial error: dial tcp 127.0.0.1:5432: "
    "connect: connection refused"
)


def storage_down() -> OperationFailure:
    return OperationFailure(
        STORAGE_DOWN, code=1, details={"ok": 0.0, "errmsg": STORAGE_DOWN, "code": 1,
                                       "codeName": "InternalError"},
    )  # fmt: skip
