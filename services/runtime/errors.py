"""Domain errors named after the broken rule, and their HTTP rendering (409 / 404); a write
that kept losing its compare-and-set, or a database out of reach, is a 503 with Retry-After."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure

from services.runtime.aggregate import ConcurrentUpdate

RETRY_AFTER_S = 1


class RuleViolation(Exception):
    """A command broke a named rule; the class docstring says which and why.

    `reasons` lists what specifically is unmet (e.g. which discharge conditions)."""

    status_code = 409
    reasons: Sequence[str] = ()


class NotFound(Exception):
    """The addressed record does not exist (or not in the caller's scope)."""

    status_code = 404


def explain(error: Exception) -> str:
    return ((type(error).__doc__ or type(error).__name__).strip().splitlines() or [""])[0]


def invalid_field(loc: tuple[str, ...], message: str) -> RequestValidationError:
    """A 422 in FastAPI's own shape for checks that need more than the request model."""
    return RequestValidationError([{"loc": loc, "msg": message, "type": "value_error"}])


def install(app: FastAPI) -> None:
    async def render(_request: Request, error: Exception) -> JSONResponse:
        status = getattr(error, "status_code", 409)
        body = {
            "error": type(error).__name__,
            "detail": explain(error),
            "reasons": list(getattr(error, "reasons", ())),
        }
        return JSONResponse(body, status_code=status)

    async def unavailable(_request: Request, error: Exception) -> JSONResponse:
        busy = isinstance(error, ConcurrentUpdate)
        body: dict[str, object] = {
            "error": "Busy" if busy else "DatabaseUnavailable",
            "detail": "the record kept changing under this command; nothing was applied"
            if busy
            else "the database did not answer in time; nothing was applied",
            "reasons": [],
        }
        return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    app.add_exception_handler(RuleViolation, render)
    app.add_exception_handler(NotFound, render)
    app.add_exception_handler(ConcurrentUpdate, unavailable)
    app.add_exception_handler(ConnectionFailure, unavailable)
