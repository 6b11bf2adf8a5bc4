"""The five services' public HTTP APIs, called with the signed-in person's own token. Their
RFC 9457 refusals become `Refusal`s the screens show in plain words; nothing is logged but
the route, the status and the rule's name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import HTTPException

from services.console.words import plain_words
from services.runtime.logging import get_logger

log = get_logger(__name__)


@dataclass
class Refusal(Exception):
    """A service said no: its status, the rule's name (`error`) and the exact `reasons`."""

    status: int
    error: str
    detail: str
    reasons: list[str] = field(default_factory=list)

    @property
    def plain(self) -> str:
        return plain_words(self.status, self.error, self.detail)

    @classmethod
    def of(cls, response: httpx.Response) -> Refusal:
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        detail = body.get("detail")
        return cls(
            status=response.status_code,
            error=str(body.get("error") or ""),
            detail=detail if isinstance(detail, str) else str(body.get("title") or ""),
            reasons=[str(r) for r in body.get("reasons") or []],
        )


class Backend:
    def __init__(self, urls: dict[str, str], client: httpx.AsyncClient) -> None:
        self.urls, self.client = urls, client

    async def call(self, method: str, service: str, path: str, token: str,
                   body: dict[str, Any] | None = None,
                   params: dict[str, Any] | None = None) -> Any:  # fmt: skip
        try:
            response = await self.client.request(
                method, self.urls[service] + path, json=body, params=params,
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
        except httpx.TransportError as error:
            log.warning("backend_unreachable", service=service, error=type(error).__name__)
            raise Refusal(503, "Unavailable", f"{service} did not answer") from error
        if response.status_code >= 400:
            refusal = Refusal.of(response)
            log.info("backend_refused", service=service, method=method,
                     status=refusal.status, error=refusal.error)  # fmt: skip
            raise refusal
        return response.json()

    async def read(self, service: str, path: str, token: str, **params: Any) -> Any:
        """A page's data; a 403/404 from the service is the page's own 403/404."""
        try:
            return await self.call("GET", service, path, token, params=params or None)
        except Refusal as refusal:
            if refusal.status in (401, 403, 404):
                raise HTTPException(refusal.status, refusal.plain) from refusal
            raise

    async def send(self, service: str, path: str, token: str, body: dict[str, Any]) -> Any:
        return await self.call("POST", service, path, token, body)
