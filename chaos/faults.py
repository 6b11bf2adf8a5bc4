"""The fault schedule: random but seeded, printed before it runs, overlapping with the load.

Kinds:
- kill        SIGKILL a service instance; start it again `hold` seconds later.
- pause       SIGSTOP a service instance; SIGCONT `hold` seconds later (its Kafka session
              times out meanwhile and the other instance takes its partitions).
- kill-commit SIGKILL the instance that just answered a command 2xx: its outbox relay (and
              any batch in flight) is cut right after the commit.
- kill-burst  SIGKILL a consumer instance `hold`/10 s after a discharge committed: coaching,
              journey and scheduling are mid-batch on the events it fans out.
- kill-inflight / pause-inflight
              SIGKILL (SIGSTOP) the instance a command was just sent to, a few ms later:
              its answer is lost, whether or not it committed, and the client sends it again
              with the same Idempotency-Key to the other instance.
- kafka       SIGKILL the broker; start it again after `hold` seconds.
- postgres    stop PostgreSQL (fast shutdown: connections cut); start it after `hold` seconds.
- ferretdb    SIGKILL FerretDB; start it again after `hold` seconds.

Each run has one of each infrastructure fault, in different thirds of the fault window; the
service faults arrive about every `gap` seconds. Whatever a fault stopped is restarted by the
schedule itself, and `restore` checks every process is back before the checker runs.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from chaos.client import Client
from chaos.stack import SERVICES, Stack

SERVICE_KINDS = {
    "kill": 2,
    "pause": 2,
    "kill-commit": 2,
    "kill-burst": 2,
    "kill-inflight": 2,
    "pause-inflight": 2,
}
INFLIGHT = {
    "intake": ("/consents", "/eligibility", "/referrals"),
    "session": ("/vitals", "/dose", "/discharge"),
    "coaching": ("/complete",),
}
"""Commands whose answer an in-flight fault loses, by service."""
INFRA_KINDS = ("kafka", "postgres", "ferretdb")
CONSUMERS = ("scheduling", "coaching", "journey")
COMMIT_PATHS = {"intake": "/eligibility", "session": "/discharge", "coaching": "/complete"}
"""Commands whose commit fans out events: the relay has work right after them."""


@dataclass(frozen=True)
class Fault:
    at: float
    """Seconds after the fault window opens."""
    kind: str
    target: str
    hold: float

    def __str__(self) -> str:
        return f"t+{self.at:5.1f}s  {self.kind:<11} {self.target:<13} hold {self.hold:4.1f}s"


def schedule(seed: int, window: float, instances: int = 2, gap: float = 4.0) -> list[Fault]:
    rng = random.Random(seed)
    names = [s if i == 1 else f"{s}-{i}" for s in SERVICES for i in range(1, instances + 1)]
    faults = []
    thirds = rng.sample(INFRA_KINDS, len(INFRA_KINDS))
    for third, kind in enumerate(thirds):
        at = window * (third + rng.uniform(0.15, 0.6)) / 3
        faults.append(Fault(round(at, 1), kind, kind, round(rng.uniform(2.0, 8.0), 1)))
    at = rng.uniform(0.5, gap)
    kinds, weights = list(SERVICE_KINDS), list(SERVICE_KINDS.values())
    while at < window - 2:
        kind = rng.choices(kinds, weights)[0]
        if kind == "kill-commit":
            target = rng.choice(list(COMMIT_PATHS))
        elif kind == "kill-burst":
            target = rng.choice(CONSUMERS)
        elif kind.endswith("-inflight"):
            service = rng.choice(list(INFLIGHT))
            target = f"{service}{rng.choice(INFLIGHT[service])}"
        else:
            target = rng.choice(names)
        hold = rng.uniform(1.0, 12.0) if kind.startswith("pause") else rng.uniform(0.5, 6.0)
        faults.append(Fault(round(at, 1), kind, target, round(hold, 1)))
        at += rng.expovariate(1 / gap)
    return sorted(faults, key=lambda f: f.at)


@dataclass
class Injector:
    """Runs a schedule against a stack; counts what it injected, per kind."""

    stack: Stack
    client: Client
    injected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)
    busy: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, text: str) -> None:
        with self._lock:
            self.log.append(f"{time.strftime('%H:%M:%S')} {text}")

    def claim(self, name: str) -> bool:
        with self._lock:
            if name in self.busy:
                return False
            self.busy.add(name)
            return True

    def release(self, name: str) -> None:
        with self._lock:
            self.busy.discard(name)

    def run(self, faults: list[Fault], start: float) -> None:
        """Start each fault at its time (each in its own thread, so faults overlap); return
        once every fault has been undone."""
        threads = []
        for fault in faults:
            time.sleep(max(0.0, start + fault.at - time.monotonic()))
            thread = threading.Thread(target=self.one, args=(fault,), name=f"fault-{fault.kind}")
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()

    def one(self, fault: Fault) -> None:
        try:
            if fault.kind in INFRA_KINDS:
                self.infra(fault)
            elif fault.kind == "kill-commit":
                self.after_answer(fault, fault.target, COMMIT_PATHS[fault.target], 0.0)
            elif fault.kind == "kill-burst":
                self.after_answer(fault, "session", "/discharge", fault.hold / 10)
            elif fault.kind.endswith("-inflight"):
                service, _, fragment = fault.target.partition("/")
                self.after_answer(fault, service, f"/{fragment}", fault.hold / 200, True)
            else:
                self.service(fault, fault.target)
        except Exception as error:  # a fault that cannot be injected must not stop the run
            self.note(f"{fault.kind} {fault.target}: {type(error).__name__}: {error}")
            self.skipped[fault.kind] += 1

    def service(self, fault: Fault, name: str) -> None:
        if not self.claim(name):
            self.skipped[fault.kind] += 1
            return
        try:
            pause = fault.kind.startswith("pause")
            stop = signal.SIGSTOP if pause else signal.SIGKILL
            if not self.stack.send(name, stop):
                self.skipped[fault.kind] += 1
                return
            self.injected[fault.kind] += 1
            self.note(f"{fault.kind} {name}")
            time.sleep(fault.hold)
            if pause:
                self.stack.send(name, signal.SIGCONT)
            else:
                self.stack.start_service(name)
            self.note(f"{'resumed' if pause else 'restarted'} {name}")
        finally:
            self.release(name)

    def after_answer(self, fault: Fault, service: str, fragment: str, delay: float,
                     on_send: bool = False) -> None:  # fmt: skip
        """Wait (up to 30 s) for the next 2xx of `service` on a `fragment` path (with
        `on_send`: the next POST sent there), then stop the instance that answered it
        (kill-commit) or got it (in-flight), or a consumer instance (kill-burst)."""
        watch = self.client.watch(service, fragment, on_send)
        if not watch.answered.wait(30):
            self.skipped[fault.kind] += 1
            return
        time.sleep(delay)
        if fault.kind != "kill-burst":
            port = int(watch.url.rsplit(":", 1)[1])
            name = next(n for n in self.stack.names(service) if self.stack.port(n) == port)
        else:
            name = self.stack.names(fault.target)[int(fault.hold * 10) % self.stack.instances]
        self.service(Fault(fault.at, fault.kind, name, fault.hold), name)

    def infra(self, fault: Fault) -> None:
        while not self.claim("infra"):  # one infrastructure fault at a time: wait its turn
            time.sleep(0.5)
        try:
            script = f"{fault.kind}.sh"
            if fault.kind == "postgres":
                self.stack.script(script, "stop", timeout=120)
            elif not self.stack.send(fault.kind, signal.SIGKILL):
                self.skipped[fault.kind] += 1
                return
            self.injected[fault.kind] += 1
            self.note(f"{fault.kind} down")
            time.sleep(fault.hold)
            self.stack.script(script, "start", timeout=180)
            self.note(f"{fault.kind} up")
        finally:
            self.release("infra")

    def restore(self, timeout: float = 120) -> list[str]:
        """Every process back and healthy (resumed, restarted); names any that are not."""
        for name in INFRA_KINDS:
            if self.stack.pid(name if name != "postgres" else "postgres") is None:
                self.stack.script(f"{name}.sh", "start", timeout=180)
        names = [n for s in SERVICES for n in self.stack.names(s)]
        for name in names:
            self.stack.send(name, signal.SIGCONT)
            self.stack.start_service(name)
        deadline = time.monotonic() + timeout
        missing = names
        while missing and time.monotonic() < deadline:
            missing = [n for n in missing if not self.stack.healthy(n)]
            time.sleep(0.5)
        return missing
