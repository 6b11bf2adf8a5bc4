"""`/readyz`: ready when every dependency answers; otherwise `down` names those that did not
(`mongodb`, `kafka`) and `errors` their error classes, so an operator knows which to look at."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

PROBE_TIMEOUT_S = 3.0


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, bool]
    down: list[str] = []
    errors: dict[str, str] = {}


READYZ_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Readiness, "description": "Ready"},
    503: {
        "model": Readiness,
        "description": "Not ready: `down` names the dependencies that failed (`mongodb`, "
        "`kafka`) and `errors` their error classes",
    },
}


async def readiness(probes: dict[str, Callable[[], Awaitable[Any]]]) -> JSONResponse:
    """Run each probe (a falsy answer, an error or a timeout counts as down)."""
    checks: dict[str, bool] = {}
    failures: dict[str, str] = {}
    for dependency, probe in probes.items():
        try:
            answer = await asyncio.wait_for(probe(), timeout=PROBE_TIMEOUT_S)
            checks[dependency] = bool(answer.get("ok") if isinstance(answer, dict) else answer)
        except Exception as error:
            checks[dependency] = False
            failures[dependency] = type(error).__name__
        if not checks[dependency]:
            failures.setdefault(dependency, "no answer")
    down = [dependency for dependency, ok in checks.items() if not ok]
    body = Readiness(ready=not down, checks=checks, down=down, errors=failures)
    return JSONResponse(body.model_dump(), status_code=503 if down else 200)
