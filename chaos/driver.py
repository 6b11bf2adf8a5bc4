"""Steady patient journeys through the public HTTP APIs while faults are injected.

Each journey: referral -> consents -> approval (esketamine at the REMS-certified north site,
IV ketamine at the south site) -> the first dosing appointment booked by scheduling ->
treatment day (check-in, pre-dose vitals, dose, post-dose readings, discharge) -> the
follow-up plan coaching creates -> the coach completes the lifestyle-plan task. The treatment
day is charted retroactively (observed_at), as the demo does, so a day fits in seconds. All
people are synthetic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from chaos.client import Client, Refused, Unavailable
from services.runtime.auth import Role

SITES = ("site-north", "site-south")
TRIALS = [
    {"drug": "sertraline", "adequate_dose": True, "weeks": 8, "outcome": "failed"},
    {"drug": "venlafaxine", "adequate_dose": True, "weeks": 10, "outcome": "failed"},
]
FOLLOW_UP = frozenset({"integration_booking", "coach_check_in", "lifestyle_plan", "phq9"})
"""The follow-up plan coaching creates after a discharge (DESIGN: after treatment)."""
NOT_YET_KNOWN = frozenset({"NoDosingBooking", "EligibilityNotApproved", "PatientNotFound"})
"""Refusals of a check-in while session has not yet consumed the facts it needs."""
WAIT_S = 120.0
"""How long a journey waits for an effect of another service (a booking, the plan)."""
READY = {
    "sedation_resolved": True,
    "dissociation_resolved": True,
    "respiratory_ok": True,
    "vitals_acceptable": True,
    "transport_confirmed": True,
}


def iso(at: datetime) -> str:
    return at.isoformat()


RUN_ENDED = threading.Event()
"""Set when the load stops: journeys in flight stop at their next wait (what they had sent
stays in the ledger and is checked), so the quiet period starts on time."""


def wait_for(probe: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if RUN_ENDED.is_set():
            raise Stalled("the run's end")
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    return None


class Stalled(RuntimeError):
    pass


def step(kind: str, action: Callable[[], None]) -> None:
    """Run the `kind` step; an indeterminate one (answer lost, retry refused) most likely
    ran: go on."""
    try:
        action()
    except Refused as refused:
        if refused.command.outcome != "indeterminate":
            raise


def referral(site: str, n: int) -> dict[str, Any]:
    return {
        "site_id": site,
        "referral_source": "primary_care",
        "identity": {
            "given_name": "Chaos",
            "family_name": f"Patient {n}",
            "date_of_birth": f"19{60 + n % 40:02d}-0{1 + n % 9}-15",
        },
        "medications": [],
        "antidepressant_trials": TRIALS,
        "phq9": [2, 3, 2, 2, 2, 2, 2, 2, 0],
        "gad7": [2, 2, 1, 1, 2, 1, 1],
        "cssrs": {"q1_wish_to_be_dead": False, "q2_suicidal_thoughts": False},
        "received_at": iso(datetime.now(UTC) - timedelta(days=1)),
    }


def journey(client: Client, n: int) -> None:
    """Patient `n` from referral to a completed follow-up task; stops at a refusal."""
    follow_up(client, treat(client, n))


def treat(client: Client, n: int) -> str:
    """Patient `n` from referral to discharge on their first treatment day; returns the
    patient id once the discharge was accepted (raises Refused or Stalled otherwise)."""
    site = SITES[n % len(SITES)]
    north = site == "site-north"
    c, coordinator = client, Role.INTAKE_COORDINATOR
    created = c.command("referral", "intake", "/referrals", coordinator, referral(site, n))
    pid = created["patient_id"]
    earlier = iso(datetime.now(UTC) - timedelta(hours=6))
    for consent in ["treatment", *(["rems_enrolment"] if north else [])]:
        c.command(
            "consent",
            "intake",
            f"/patients/{pid}/consents",
            coordinator,
            {"consent": consent, "given": True, "recorded_at": earlier},
            pid,
            consent=consent,
        )
    protocol = "esketamine_trd" if north else "iv_ketamine_series"
    c.command(
        "approval",
        "intake",
        f"/patients/{pid}/eligibility",
        Role.PSYCHIATRIST,
        {
            "decision": "approved",
            "protocol": protocol,
            "planned_doses": None if north else 6,
            "decided_at": earlier,
        },
        pid,
    )

    def first_dose() -> str | None:
        course = c.get("scheduling", f"/patients/{pid}/course", Role.NURSE) or {}
        if course.get("status") == "blocked":
            raise Stalled("course blocked (no capacity)")
        doses = [a for a in course.get("appointments", []) if a["kind"] == "dosing"]
        return min(doses, key=lambda a: a["starts_at"])["appointment_id"] if doses else None

    appointment = wait_for(first_dose)
    if appointment is None:
        raise Stalled("booking")
    discharge_at = 141 if north else 120
    t0 = datetime.now(UTC) - timedelta(minutes=discharge_at + 15)
    path = f"/patients/{pid}/sessions"

    def at(minutes: int) -> str:
        return iso(t0 + timedelta(minutes=minutes))

    nurse = {"subject": "rn-chaos"}

    def check_in() -> Any:
        """Session learns of the patient, the approval and the booking from intake's and
        scheduling's events: until it has, a check-in is refused (404, 409), and the nurse
        tries again, as the demo does."""
        body = {"appointment_id": appointment, "observed_at": at(0)}
        try:
            return c.command(
                "check_in",
                "session",
                path,
                Role.NURSE,
                body,
                pid,
                appointment_id=appointment,
                **nurse,
            )
        except Refused as refused:
            answer = refused.command.answer or {}
            if isinstance(answer, dict) and answer.get("error") in NOT_YET_KNOWN:
                refused.command.outcome = "refused"  # the refusal proves nothing ran
                return None
            raise

    session = wait_for(check_in)
    if session is None:
        raise Stalled("check-in")
    sid = session["session_id"]
    path += f"/{sid}"
    if session["interactions_to_acknowledge"]:
        c.command(
            "acknowledge",
            "session",
            f"{path}/interactions/acknowledge",
            Role.NURSE,
            {"observed_at": at(1)},
            pid,
            session_id=sid,
            **nurse,
        )

    def vitals(systolic: int, diastolic: int, minutes: int) -> None:
        body = {
            "systolic": systolic,
            "diastolic": diastolic,
            "heart_rate": 74,
            "spo2": 98,
            "observed_at": at(minutes),
        }
        c.command(
            "vitals",
            "session",
            f"{path}/vitals",
            Role.NURSE,
            body,
            pid,
            session_id=sid,
            observed_at=at(minutes),
            **nurse,
        )

    step("vitals", lambda: vitals(132, 84, 10))
    dose = {
        "dose_mg": 56 if north else 35,
        "lot_number": "LOT-CHAOS-1",
        "weight_kg": None if north else 70,
        "observed_at": at(15),
    }
    step(
        "dose",
        lambda: c.command(
            "dose", "session", f"{path}/dose", Role.NURSE, dose, pid, session_id=sid, **nurse
        ),
    )
    step("vitals", lambda: vitals(138, 86, 55))
    step("vitals", lambda: vitals(126, 80, discharge_at - 5))
    step(
        "discharge",
        lambda: c.command(
            "discharge",
            "session",
            f"{path}/discharge",
            Role.NURSE,
            {**READY, "observed_at": at(discharge_at)},
            pid,
            session_id=sid,
            **nurse,
        ),
    )

    return str(pid)


def follow_up(c: Client, pid: str) -> None:
    """The coach completes the lifestyle-plan task of the plan coaching made at discharge."""

    def plan() -> dict[str, Any] | None:
        found = c.get("journey", f"/patients/{pid}/journey", Role.OPS) or {}
        tasks = {t["kind"]: t for t in found.get("open_tasks", [])}
        return tasks.get("lifestyle_plan") if set(tasks) >= FOLLOW_UP else None

    task = wait_for(plan)
    if task is None:
        raise Stalled("follow-up plan")
    step(
        "complete_task",
        lambda: c.command(
            "complete_task",
            "coaching",
            f"/patients/{pid}/tasks/{task['task_id']}/complete",
            Role.COACH,
            {"outcome": {"goals": ["a daily walk"]}},
            pid,
            subject=task["coach_id"],
            task_id=task["task_id"],
            task_kind=task["kind"],
        ),
    )


def drive(client: Client, until: threading.Event, workers: int, first: int = 1) -> int:
    """Journeys `workers` at a time until `until` is set (journeys in flight finish); returns
    how many were started."""
    numbers = iter(range(first, 1_000_000))
    lock = threading.Lock()
    RUN_ENDED.clear()
    threading.Thread(target=lambda: RUN_ENDED.set() if until.wait() else None, daemon=True).start()

    def worker() -> None:
        mine = client.fresh()
        while not until.is_set():
            with lock:
                n = next(numbers)
            try:
                journey(mine, n)
            except Refused as refused:
                client.ledger.stalled(f"refused {refused.command.kind}")
            except Stalled as stalled:
                client.ledger.stalled(f"waiting for {stalled}")
            except Unavailable:
                client.ledger.stalled("reads unavailable")

    with ThreadPoolExecutor(workers, thread_name_prefix="journey") as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    return next(numbers) - first
