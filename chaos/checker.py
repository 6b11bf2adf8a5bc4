"""The checker: the ledger against what the system holds, read through the services' public
APIs, the topics and the journey projection.

- lost:        an accepted command's effect is absent;
- duplicated:  an effect is there twice (two distinct events or records for one fact: two
               follow-up tasks of a kind for one discharge, one dose booked twice or two
               bookings of one chair at one time, a dose or discharge counted twice, a
               vitals reading charted twice);
- unexpected:  an effect nobody asked for (a patient, dose, discharge, completion or reading
               the ledger has no command for).

Indeterminate commands (answer lost, retry refused) may have their effect or not, never two.
A duplicate whose command was re-sent after a lost answer is marked `after_retry`: that is
what a service without Idempotency-Key does with a careful client's retry.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chaos import topics
from chaos.client import Client
from chaos.driver import FOLLOW_UP
from chaos.ledger import Command, Ledger
from services.runtime.auth import Role


@dataclass(frozen=True)
class Finding:
    kind: str
    """lost, duplicated or unexpected"""
    what: str
    patient_id: str
    detail: str = ""
    after_retry: bool = False
    service: str = "-"
    """The service the command went to, if the finding is about one command."""

    def __str__(self) -> str:
        retry = " (command re-sent after a lost answer)" if self.after_retry else ""
        head = f"{self.kind:<10} {self.service:<10} {self.what:<24}"
        return f"{head} {self.patient_id} {self.detail}{retry}"


@dataclass
class Check:
    findings: list[Finding] = field(default_factory=list)
    dead_letters: dict[str, int] = field(default_factory=dict)
    lag: dict[str, int] = field(default_factory=dict)

    def of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    @property
    def clean(self) -> bool:
        return not self.of("lost") and not self.of("duplicated")


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def distinct(events: Iterable[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    """One per event id (a redelivery shares its id: not a second effect)."""
    return list({e["event_id"]: e for e in events if e["event_type"] == event_type}.values())


@dataclass
class Observed:
    """What the system holds for the ledger's patients."""

    events: list[dict[str, Any]]
    dead_letters: dict[str, int]
    records: dict[str, Any]
    courses: dict[str, Any]
    sessions: dict[str, Any]
    journeys: dict[str, Any]


def observe(client: Client, ledger: Ledger) -> Observed:
    by_topic = topics.events(client.settings)
    events = [e for name, found in by_topic.items() if not name.endswith(".dlq") for e in found]
    dead = {name: len(found) for name, found in by_topic.items() if name.endswith(".dlq")}
    patients = sorted(ledger.patients())
    sessions = {(c.patient_id, c.answer["session_id"]) for c in ledger.of("check_in", "accepted")}
    sessions |= {
        (e["patient_id"], e["session_id"]) for e in events if e["event_type"] == "PatientCheckedIn"
    }
    return Observed(
        events=events,
        dead_letters={k: v for k, v in dead.items() if v},
        records={p: client.get("intake", f"/patients/{p}", Role.PSYCHIATRIST) for p in patients},
        courses={
            p: client.get("scheduling", f"/patients/{p}/course", Role.NURSE) for p in patients
        },
        sessions={
            sid: {
                **(
                    client.get("session", f"/patients/{p}/sessions/{sid}", Role.NURSE)
                    or {"missing": True, "vitals": []}
                ),
                "patient_id": p,
            }
            for p, sid in sessions
            if p
        },
        journeys={p: client.get("journey", f"/patients/{p}/journey", Role.OPS) for p in patients},
    )


def chair_clashes(courses: list[Any]) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Live appointments of different patients in one chair at overlapping times."""
    live = [
        (c["patient_id"], a)
        for c in courses
        for a in c["appointments"]
        if a["status"] == "booked" and a.get("chair_id")
    ]
    return [
        ((pa, a["appointment_id"]), (pb, b["appointment_id"]))
        for i, (pa, a) in enumerate(live)
        for pb, b in live[i + 1 :]
        if pa != pb
        and a["chair_id"] == b["chair_id"]
        and a["starts_at"] < b["ends_at"]
        and b["starts_at"] < a["ends_at"]
    ]


def check(client: Client, ledger: Ledger) -> Check:
    seen = observe(client, ledger)
    return Check(compare(ledger, seen), seen.dead_letters, topics.lag(client.settings))


def compare(ledger: Ledger, seen: Observed) -> list[Finding]:
    """Every lost, duplicated and unexpected effect of the ledger's commands in `seen`."""
    found: list[Finding] = []
    retried = {c.key: c.retried_after_loss for c in ledger.commands}

    def add(kind: str, what: str, command: Command | None, pid: str, detail: str = "") -> None:
        after = bool(command and retried.get(command.key))
        found.append(Finding(kind, what, pid, detail, after, command.service if command else "-"))

    def expect(what: str, command: Command, count: int, detail: str = "") -> None:
        """One effect for an accepted command; none or one for an indeterminate one."""
        pid = command.patient_id or "?"
        if count == 0 and command.outcome == "accepted":
            add("lost", what, command, pid, detail)
        elif count > 1:
            add("duplicated", what, command, pid, f"{count}x {detail}".strip())

    by_type: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for event in {e["event_id"]: e for e in seen.events}.values():
        by_type[(event["event_type"], event["patient_id"])].append(event)

    def events(event_type: str, pid: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e for e in by_type[(event_type, pid)] if all(e.get(k) == v for k, v in match.items())
        ]

    patients = ledger.patients()
    for c in ledger.of("referral"):
        if not c.patient_id:
            continue
        pid = c.patient_id
        expect("referral", c, len(events("PatientReferred", pid)))
        if seen.records.get(pid) is None:
            add("lost", "intake record", c, pid)
        if seen.journeys.get(pid) is None:
            add("lost", "journey projection", c, pid)
    for c in ledger.of("consent"):
        consent = c.detail["consent"]
        recorded = events("ConsentRecorded", c.patient_id or "", consent=consent)
        expect("consent", c, len(recorded), consent)
    for c in ledger.of("approval"):
        pid = c.patient_id or ""
        expect("approval", c, len(events("EligibilityDecided", pid)))
        # scheduling answers an approval with a course booked, or blocked (no capacity)
        scheduled = len(events("CourseScheduled", pid))
        decided = scheduled or min(len(events("CourseBlocked", pid)), 1)
        expect("course decision", c, decided)
        course = seen.courses.get(pid) or {}
        live = [
            a
            for a in course.get("appointments", [])
            if a["kind"] == "dosing" and a["status"] == "booked"
        ]
        if c.outcome == "accepted" and not live and course.get("status") != "blocked":
            add("lost", "dosing booking", c, pid)
        for number, n in Counter(a["dose_number"] for a in live).items():
            if n > 1:
                add("duplicated", "dose booked twice", c, pid, f"dose {number}: {n}x")
    courses = [c for c in seen.courses.values() if c]
    for a, b in chair_clashes(courses):
        add("duplicated", "chair booked twice", None, a[0], f"{a[1]} / {b[1]}")
    for c in ledger.of("check_in"):
        sid = (c.answer or {}).get("session_id") or f"sess-?{c.detail['appointment_id']}"
        expect("check-in", c, len(events("PatientCheckedIn", c.patient_id or "", session_id=sid)))
    sent_readings: dict[str, list[Command]] = defaultdict(list)
    for c in ledger.of("vitals"):
        sent_readings[c.detail["session_id"]].append(c)
    for sid, session in seen.sessions.items():
        readings = Counter(when(r["observed_at"]) for r in session["vitals"])
        asked = {when(c.detail["observed_at"]): c for c in sent_readings.get(sid, [])}
        for at, n in readings.items():
            command = asked.get(at)
            if command is None:
                add("unexpected", "vitals reading", None, session.get("patient_id", sid), sid)
            elif n > 1:
                add(
                    "duplicated",
                    "vitals reading",
                    command,
                    command.patient_id or "",
                    f"{n}x at {at:%H:%M}",
                )
        for at, command in asked.items():
            if command.outcome == "accepted" and at not in readings:
                add("lost", "vitals reading", command, command.patient_id or "", sid)
    gone = {s for s, found in seen.sessions.items() if found.get("missing")}
    for sid in (set(sent_readings) - set(seen.sessions)) | gone:
        for command in sent_readings[sid]:
            if command.outcome == "accepted":
                add("lost", "session", command, command.patient_id or "", sid)
    doses = {c.detail["session_id"]: c for c in ledger.of("dose")}
    for c in doses.values():
        pid, sid = c.patient_id or "", c.detail["session_id"]
        expect("dose event", c, len(events("DoseAdministered", pid, session_id=sid)))
        if c.outcome == "accepted" and not seen.sessions.get(sid, {}).get("dose"):
            add("lost", "dose in session", c, pid, sid)
    discharges = {c.detail["session_id"]: c for c in ledger.of("discharge")}
    for c in discharges.values():
        pid, sid = c.patient_id or "", c.detail["session_id"]
        expect("discharge", c, len(events("SessionDischarged", pid, session_id=sid)))
        created = distinct(by_type[("FollowUpTaskCreated", pid)], "FollowUpTaskCreated")
        kinds = Counter(e["kind"] for e in created)
        for kind in sorted(FOLLOW_UP):
            expect("follow-up task", c, kinds[kind], kind)
    completions = {c.detail["task_id"]: c for c in ledger.of("complete_task")}
    for c in completions.values():
        pid, task = c.patient_id or "", c.detail["task_id"]
        expect("task completion", c, len(events("FollowUpTaskCompleted", pid, task_id=task)))
    for pid in patients:
        journey = seen.journeys.get(pid)
        if not journey:
            continue
        mine = [s for s, c in doses.items() if c.patient_id == pid]
        given = sum(1 for s in mine if (seen.sessions.get(s) or {}).get("dose"))
        if journey["doses_given"] > given:
            add(
                "duplicated",
                "dose counted twice",
                None,
                pid,
                f"journey {journey['doses_given']}, session {given}",
            )
        elif journey["doses_given"] < given:
            add(
                "lost",
                "dose in journey",
                None,
                pid,
                f"journey {journey['doses_given']}, session {given}",
            )
        sent = [c for c in discharges.values() if c.patient_id == pid]
        left = [c for c in sent if c.outcome == "accepted"]
        if journey["discharges"] > len(sent):
            add("duplicated", "discharge counted twice", None, pid, str(journey["discharges"]))
        elif left and journey["discharges"] == 0:
            add("lost", "discharge in journey", left[0], pid)
        open_kinds = Counter(t["kind"] for t in journey["open_tasks"])
        for kind, n in open_kinds.items():
            if n > 1:
                add("duplicated", "open task in journey", None, pid, f"{kind} {n}x")
        open_ids = {t["task_id"] for t in journey["open_tasks"]}
        for task, c in completions.items():
            if c.patient_id == pid and c.outcome == "accepted" and task in open_ids:
                add("lost", "completion in journey", c, pid, task)
    # effects nobody asked for
    unknown_referrals = sum(1 for c in ledger.of("referral") if not c.patient_id)
    strangers = {e["patient_id"] for e in seen.events} - patients
    for pid in sorted(strangers)[unknown_referrals:]:
        add("unexpected", "patient", None, pid)
    for event in distinct(seen.events, "DoseAdministered"):
        if event["session_id"] not in doses and event["patient_id"] in patients:
            add("unexpected", "dose", None, event["patient_id"], event["session_id"])
    for event in distinct(seen.events, "SessionDischarged"):
        if event["session_id"] not in discharges and event["patient_id"] in patients:
            add("unexpected", "discharge", None, event["patient_id"], event["session_id"])
    for event in distinct(seen.events, "FollowUpTaskCompleted"):
        if event["task_id"] not in completions and event["patient_id"] in patients:
            add("unexpected", "task completion", None, event["patient_id"], event["task_id"])
    return found
