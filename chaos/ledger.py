"""The ledger: every command the driver sent, how it ended, and what it must have caused.

A command is *accepted* when some attempt got a 2xx. When an attempt's answer was lost (a
timeout or a reset connection while a process died or was paused) and a later attempt with the
same Idempotency-Key was refused (e.g. "dose already given"), the first attempt may have taken
effect: the command is *indeterminate*, and the checker allows its effect to be there or not,
but never twice. A command refused at its first answered attempt with nothing lost before is
*refused* and must have no effect.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Outcome = Literal["accepted", "indeterminate", "refused"]


@dataclass
class Command:
    kind: str
    """referral, consent, approval, check_in, vitals, dose, discharge, complete_task"""
    service: str
    key: str
    patient_id: str | None
    detail: dict[str, Any]
    outcome: Outcome = "refused"
    attempts: int = 0
    lost: int = 0
    """Attempts whose answer never came (timeout, reset, 5xx): the command may have run."""
    unreached: int = 0
    """Attempts that found no process listening (connection refused): certainly not run."""
    statuses: list[int] = field(default_factory=list)
    answer: Any = None

    @property
    def retried_after_loss(self) -> bool:
        """A later attempt was sent after an answer was lost: without Idempotency-Key in the
        service, this is how a client creates a second effect."""
        return self.lost > 0 and self.attempts > 1 + self.unreached

    @property
    def may_have_run(self) -> bool:
        return self.outcome in ("accepted", "indeterminate")


@dataclass
class Ledger:
    commands: list[Command] = field(default_factory=list)
    stalls: Counter[str] = field(default_factory=Counter)
    """Journeys that stopped waiting for an effect (step name -> count)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, command: Command) -> None:
        with self._lock:
            self.commands.append(command)

    def stalled(self, step: str) -> None:
        with self._lock:
            self.stalls[step] += 1

    def of(self, kind: str, *outcomes: Outcome) -> list[Command]:
        wanted = outcomes or ("accepted", "indeterminate")
        return [c for c in self.commands if c.kind == kind and c.outcome in wanted]

    def patients(self) -> set[str]:
        return {c.patient_id for c in self.of("referral") if c.patient_id}

    def counts(self) -> dict[str, int]:
        outcomes = Counter(c.outcome for c in self.commands)
        return {
            "sent": len(self.commands),
            "accepted": outcomes["accepted"],
            "indeterminate": outcomes["indeterminate"],
            "refused": outcomes["refused"],
            "lost_answers": sum(c.lost for c in self.commands),
            "unreached": sum(c.unreached for c in self.commands),
            "retried": sum(1 for c in self.commands if c.attempts > 1),
            "http_5xx": sum(1 for c in self.commands for s in c.statuses if s >= 500),
        }

    def dump(self, path: Path) -> None:
        with path.open("w") as out:
            for command in self.commands:
                row = asdict(command)
                if command.outcome == "accepted":
                    row.pop("answer")  # refusals keep theirs: the rule and field, no PHI
                out.write(json.dumps(row) + "\n")
