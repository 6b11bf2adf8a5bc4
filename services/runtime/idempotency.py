"""`Idempotency-Key` on every POST of every service: a retried command has one effect.

A client that lost the answer to a command (a timeout while an instance died) sends it again
with the same key. Two guards make the retry harmless:

- the command's write records `http:<scope>` in the aggregate's inbox in the same commit as
  its effect (`inbox_id()`, read by `services.runtime.commands`), so a retry - even a
  concurrent one in another instance - finds it there and changes nothing;
- the first successful answer is kept (a unique `_id` insert) and returned verbatim, with
  `Idempotent-Replayed: true`. Should that write be lost, the retry answers from the record.

The scope is (caller, path, key): one caller's key never replays another's answer. The same
key with a different body is refused (422 naming the header). Refusals are not kept: the
same command may succeed once the facts change.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any
from uuid import UUID, uuid4

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts import stable_id
from services.runtime.errors import problem
from services.runtime.mongo import Document

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
COLLECTION = "idempotent_responses"
_inbox: ContextVar[str | None] = ContextVar("idempotency_inbox", default=None)


def inbox_id() -> str | None:
    """The id the current HTTP command records in its aggregate's inbox (None without a key)."""
    return _inbox.get()


def new_id(namespace: str) -> UUID:
    """An id for something the current command creates: the same on a retry with the same key
    (so the retry finds what the first attempt made), random without a key."""
    inbox = inbox_id()
    return stable_id(namespace, inbox) if inbox else uuid4()


class Responses:
    """First successful answers by scope, so retries return them verbatim."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def first(self, scope: str) -> Document | None:
        return await self.collection.find_one({"_id": scope})

    async def remember(self, scope: str, fingerprint: str, status: int, body: Any) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self.collection.insert_one(
                {"_id": scope, "fingerprint": fingerprint, "status": status, "body": body}
            )


def _digest(*parts: str | bytes) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode() if isinstance(part, str) else part)
        sha.update(b"\n")
    return sha.hexdigest()


def _invalid_key(message: str) -> Any:
    loc = ["header", HEADER]
    return problem(
        422, "InvalidRequest", [{"loc": loc, "msg": message, "type": "value_error"}],
        [f"header.{HEADER}: {message}"], domain=False,
    )  # fmt: skip


class IdempotencyKeys:
    """ASGI middleware giving every POST `Idempotency-Key` semantics (see module docstring).
    `subject_of(authorization)` names the caller, or None for a request the route will refuse
    anyway (no or bad token): that one passes through untouched."""

    def __init__(
        self, app: ASGIApp, *, responses: Responses, subject_of: Callable[[str], str | None]
    ) -> None:
        self.app, self.responses, self.subject_of = app, responses, subject_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", ())) if scope["type"] == "http" else {}
        raw_key = headers.get(HEADER.lower().encode())
        if scope["type"] != "http" or scope["method"] != "POST" or raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            await _invalid_key(f"1 to {MAX_KEY_LENGTH} characters")(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        subject = self.subject_of(headers.get(b"authorization", b"").decode("latin-1"))
        if subject is None:
            await self.app(scope, replay, send)
            return
        key_scope = _digest(subject, scope["path"], key)
        fingerprint = _digest(body)
        first = await self.responses.first(key_scope)
        if first is not None:
            if first["fingerprint"] != fingerprint:
                await _invalid_key("key already used for a different request")(scope, replay, send)
                return
            await _replayed(first, scope, replay, send)
            return
        status, chunks = 0, []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        token = _inbox.set(f"http:{key_scope}")
        try:
            await self.app(scope, replay, capture)
        finally:
            _inbox.reset(token)
        if 200 <= status < 300:
            with contextlib.suppress(ValueError):
                answer = json.loads(b"".join(chunks) or b"null")
                await self.responses.remember(key_scope, fingerprint, status, answer)


async def _replayed(first: Document, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(
        first["body"], status_code=int(first["status"]), headers={"Idempotent-Replayed": "true"}
    )
    await response(scope, receive, send)


def document(app: FastAPI) -> None:
    """Declare the optional `Idempotency-Key` header on every POST of the app's OpenAPI."""
    generate = app.openapi
    parameter = {
        "name": HEADER,
        "in": "header",
        "required": False,
        "description": "Send the same key when retrying a command whose answer was lost: "
        "the command takes effect once and the retry gets the first answer "
        "(`Idempotent-Replayed: true`). A key reused with another body is a 422.",
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path in schema.get("paths", {}).values():
                post = path.get("post")
                if post is None:
                    continue
                params = post.setdefault("parameters", [])
                if all(p.get("name") != HEADER for p in params):
                    params.append(parameter)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
