"""HTTP to the services' public APIs as a careful client does it: every POST carries an
Idempotency-Key, and a command whose answer was lost (timeout, reset connection, 5xx) is sent
again with the same key to the next instance, within a time budget."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from chaos.ledger import Command, Ledger
from services.runtime.auth import Role, mint_token
from services.runtime.settings import Settings

TIMEOUT = httpx.Timeout(6.0, connect=2.0)
BUDGET_S = 120.0
"""How long a command is retried before the client gives up on it."""


class Refused(RuntimeError):
    def __init__(self, command: Command) -> None:
        self.command = command
        super().__init__(f"{command.kind} -> {command.statuses}")


class Unavailable(RuntimeError):
    """A read that found no answering instance within the budget."""


@dataclass
class Watch:
    """Set by the next 2xx a service answers on a path containing `fragment` (or, with
    `on_send`, by the next POST sent there); `url` says which instance it was (the fault
    schedule kills that one right after its commit, or while it runs the command)."""

    service: str
    fragment: str
    on_send: bool = False
    answered: threading.Event = field(default_factory=threading.Event)
    url: str = ""


@dataclass
class Client:
    urls: dict[str, list[str]]
    settings: Settings
    ledger: Ledger
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=TIMEOUT))
    watches: list[Watch] = field(default_factory=list)
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fresh(self) -> Client:
        """Same services, ledger and watches; an HTTP client of its own (one per thread)."""
        return Client(self.urls, self.settings, self.ledger, watches=self.watches)

    def watch(self, service: str, fragment: str, on_send: bool = False) -> Watch:
        found = Watch(service, fragment, on_send)
        with self._lock:
            self.watches.append(found)
        return found

    def _answered(self, service: str, url: str, path: str, sent: bool = False) -> None:
        with self._lock:
            for w in [
                w
                for w in self.watches
                if w.service == service and w.fragment in path and w.on_send == sent
            ]:
                w.url = url
                w.answered.set()
                self.watches.remove(w)

    def headers(self, role: Role, subject: str | None = None) -> dict[str, str]:
        token = mint_token(self.settings, subject or f"chaos-{role.value}", role, ["*"])
        return {"Authorization": f"Bearer {token}"}

    def _next(self, service: str) -> str:
        choices = self.urls[service]
        return choices[next(self._turn) % len(choices)]

    def command(
        self,
        kind: str,
        service: str,
        path: str,
        role: Role,
        body: dict[str, Any],
        patient_id: str | None = None,
        subject: str | None = None,
        **detail: Any,
    ) -> Any:
        """POST until answered, recording the command in the ledger; raise Refused unless
        it was accepted (2xx)."""
        key = str(uuid.uuid4())
        command = Command(kind, service, key, patient_id, detail)
        headers = {**self.headers(role, subject), "Idempotency-Key": key}
        deadline = time.monotonic() + BUDGET_S
        try:
            while time.monotonic() < deadline:
                command.attempts += 1
                url = self._next(service)
                try:
                    self._answered(service, url, path, sent=True)
                    response = self.http.post(url + path, json=body, headers=headers)
                except (httpx.ConnectError, httpx.ConnectTimeout):
                    command.unreached += 1  # never delivered: certainly did not run
                    time.sleep(0.3)
                    continue
                except httpx.TransportError:
                    command.lost += 1  # delivered, answer lost: it may have run
                    time.sleep(0.3)
                    continue
                command.statuses.append(response.status_code)
                if response.status_code >= 500:
                    command.lost += 1  # a 5xx may follow a commit: the effect may be there
                    time.sleep(min(float(response.headers.get("retry-after", 0.5) or 0.5), 2.0))
                    continue
                if response.status_code < 300:
                    command.outcome = "accepted"
                    command.answer = response.json()
                    if command.patient_id is None and isinstance(command.answer, dict):
                        command.patient_id = command.answer.get("patient_id")
                    self._answered(service, url, path)
                    return command.answer
                command.outcome = "indeterminate" if command.lost else "refused"
                command.answer = response.json() if response.content else None
                raise Refused(command)
            command.outcome = "indeterminate" if command.lost else "refused"
            raise Refused(command)
        finally:
            self.ledger.add(command)

    def get(
        self, service: str, path: str, role: Role, subject: str | None = None, budget: float = 60.0
    ) -> Any:
        """GET from any instance; None for a 404; retried on lost answers and 5xx."""
        deadline = time.monotonic() + budget
        while True:
            try:
                response = self.http.get(
                    self._next(service) + path, headers=self.headers(role, subject)
                )
                if response.status_code == 404:
                    return None
                if response.status_code < 300:
                    return response.json()
                if response.status_code < 500:
                    response.raise_for_status()
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise Unavailable(f"GET {service} {path}")
            time.sleep(0.3)
