"""A small HTTP client for the five services' public APIs, with dev tokens per role."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.runtime.auth import Role, mint_token
from services.runtime.settings import SERVICE_PORTS, Settings

Json = dict[str, Any]


class ApiError(RuntimeError):
    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.body: Any = response.json() if response.content else None
        super().__init__(
            f"{response.request.method} {response.request.url.path} -> {self.status} {self.body}"
        )


def base_urls(host: str = "127.0.0.1") -> dict[str, str]:
    """Service URLs from the same port variables the local stack uses."""
    return {
        name: f"http://{host}:{os.environ.get(f'{name.upper()}_PORT', port)}"
        for name, port in SERVICE_PORTS.items()
    }


@dataclass
class Api:
    """`urls` names each service's first instance; `replicas` any further instances of it.
    Requests to a service take its instances in turn."""

    urls: dict[str, str]
    settings: Settings = field(default_factory=Settings)
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=15.0))
    replicas: dict[str, list[str]] = field(default_factory=dict)
    _turn: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    def fresh(self) -> Api:
        """The same services with an HTTP client of its own (one per thread)."""
        return Api(self.urls, self.settings, replicas=self.replicas)

    def instances(self, service: str) -> list[str]:
        return [self.urls[service], *self.replicas.get(service, [])]

    def base(self, service: str) -> str:
        """The next instance of `service`, round robin."""
        choices = self.instances(service)
        return choices[next(self._turn) % len(choices)]

    def as_(self, role: Role, subject: str | None = None) -> dict[str, str]:
        token = mint_token(self.settings, subject or f"demo-{role.value}", role, ["*"])
        return {"Authorization": f"Bearer {token}"}

    def call(self, method: str, service: str, path: str, role: Role, body: Json | None = None,
             subject: str | None = None) -> Any:  # fmt: skip
        response = self.client.request(
            method, self.base(service) + path, json=body, headers=self.as_(role, subject)
        )
        if response.status_code >= 400:
            raise ApiError(response)
        return response.json()

    def post(self, service: str, path: str, role: Role, body: Json | None = None,
             subject: str | None = None) -> Any:  # fmt: skip
        return self.call("POST", service, path, role, body or {}, subject)

    def get(self, service: str, path: str, role: Role, subject: str | None = None) -> Any:
        return self.call("GET", service, path, role, None, subject)

    def wait_ready(self, timeout: float = 90.0) -> None:
        for name in self.urls:
            for url in self.instances(name):

                def ready(url: str = url) -> bool:
                    return self.client.get(url + "/readyz").status_code == 200

                until(ready, timeout, f"{name} at {url} ready")


def until(probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll `probe` until truthy; an ApiError or connection error counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = probe()
            if result:
                return result
        except (ApiError, httpx.TransportError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f}s for {what}")
        time.sleep(interval)
