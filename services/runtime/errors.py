"""Refusals (`refusals.py`) and their HTTP rendering: every error answer is
one RFC 9457 problem document (`application/problem+json`), declared once for every route.

A broken rule is a 409 (or the status its class names), a missing record a 404; a write that
kept losing its compare-and-set, or a database out of reach, is a 503 with Retry-After.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pymongo.errors import ConnectionFailure, OperationFailure
from starlette.exceptions import HTTPException

from services.runtime.aggregate import ConcurrentUpdate
from services.runtime.mongo import storage_unreachable
from services.runtime.refusals import (
    FieldOutOfRange,
    InvalidValue,
    NotFound,
    NotPermitted,
    Refusal,
)

RETRY_AFTER_S = 1
PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE = "urn:kap:problem:"
"""Problem types of domain errors are `urn:kap:problem:<error>`; plain HTTP answers (401, 403,
an unknown route) are `about:blank`, titled with the status phrase as RFC 9457 asks."""


class ValidationIssue(BaseModel):
    """One finding of request validation, in FastAPI's own shape."""

    model_config = ConfigDict(extra="allow")
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details. `error` (the broken rule's name) and `reasons` (what exactly
    is unmet) are extension members; for a 422 of request validation `detail` keeps FastAPI's
    list of findings, which clients read field by field."""

    type: str = Field(examples=["urn:kap:problem:SlotInPast", "about:blank"])
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | list[ValidationIssue]
    error: str
    reasons: list[str] = []


def explain(error: Exception) -> str:
    return ((type(error).__doc__ or type(error).__name__).strip().splitlines() or [""])[0]


def invalid_field(loc: tuple[str, ...], message: str) -> RequestValidationError:
    """A 422 in FastAPI's own shape for checks that need more than the request model."""
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


def titled(name: str) -> str:
    """`SlotInPast` reads as "Slot in past": the title of the rule's problem type."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|\b)|[A-Z]?[a-z0-9]+|[A-Z]+", name)
    return " ".join(words).capitalize() if words else name


def problem(
    status: int,
    error: str,
    detail: str | list[Any],
    reasons: Sequence[str] = (),
    *,
    domain: bool = True,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {
        "type": PROBLEM_TYPE + error if domain else "about:blank",
        "title": titled(error) if domain else HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "error": error,
        "reasons": list(reasons),
    }
    return JSONResponse(
        jsonable_encoder(body), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


def status_of(refusal: Exception) -> int:
    """The one place a refusal's meaning becomes an HTTP status."""
    if isinstance(refusal, NotFound):
        return 404
    if isinstance(refusal, NotPermitted):
        return 403
    if isinstance(refusal, InvalidValue):
        return 422
    return 409


async def _rule_or_missing(_request: Request, error: Exception) -> JSONResponse:
    status = status_of(error)
    return problem(status, type(error).__name__, explain(error), getattr(error, "reasons", ()))


async def _unavailable(_request: Request, error: Exception) -> JSONResponse:
    busy = isinstance(error, ConcurrentUpdate)
    return problem(
        503,
        "Busy" if busy else "DatabaseUnavailable",
        "the record kept changing under this command; nothing was applied"
        if busy
        else "the database did not answer in time; nothing was applied",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _invalid(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    issues = jsonable_encoder(error.errors())
    reasons = [f"{'.'.join(str(part) for part in i['loc'])}: {i['msg']}" for i in issues]
    return problem(422, "InvalidRequest", issues, reasons, domain=False)


async def _out_of_range(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, FieldOutOfRange)
    return await _invalid(request, invalid_field((error.location, error.field), str(error)))


async def _http(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    phrase = HTTPStatus(error.status_code).phrase
    return problem(
        error.status_code,
        phrase.replace(" ", "").replace("-", ""),
        str(error.detail),
        domain=False,
        headers=dict(error.headers or {}),
    )


async def _database(request: Request, error: Exception) -> JSONResponse:
    """A database error: out of reach (PostgreSQL down behind FerretDB) is a 503 like a
    ConnectionFailure; any other goes on to the unexpected-failure answer (500, logged)."""
    if storage_unreachable(error):
        return await _unavailable(request, error)
    raise error


async def _unexpected(_request: Request, _error: Exception) -> JSONResponse:
    """A bug: the caller learns nothing of the internals; the log has the traceback."""
    detail = "an unexpected failure in the service; read the record before retrying"
    return problem(500, "InternalServerError", detail, domain=False)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "description": "Refused: a problem document naming the broken rule (`error`)",
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    },
    "5XX": {
        "description": "Busy or database unavailable (503, Retry-After: nothing applied), or a bug",
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    },
}
"""Declared on each service's app (`Service.create`), so every route documents the one body."""


def document(app: FastAPI) -> None:
    """Add `Problem` (and what it refers to) to the components of the app's OpenAPI."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            found = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(found.pop("$defs", {}))
            schemas["Problem"] = found
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    document(app)
    app.add_exception_handler(Refusal, _rule_or_missing)
    app.add_exception_handler(FieldOutOfRange, _out_of_range)
    app.add_exception_handler(ConcurrentUpdate, _unavailable)
    app.add_exception_handler(ConnectionFailure, _unavailable)
    app.add_exception_handler(OperationFailure, _database)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
