"""`make unsafe`: an outside trial of the safety invariants, as a careful clinician would try
them. Through the services' public HTTP APIs only, each attempt below tries an unsafe clinical
state on synthetic patients and records whether it was refused, and for which rule
(`../shared/DESIGN.md` § Safety invariants; README "Safety invariants").

Treatment days are charted retroactively (observed_at), as in `demo.scenario`. Where a fact
travels between services (a consent withdrawn at intake, a cancellation in scheduling, a risk
flag from coaching), the trial first waits, with a probe the session refuses for another reason,
until the session has heard the fact; only then is the unsafe step attempted. Nothing printed
names a person: patient ids, rule names and reasons only.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from demo.client import Api, ApiError, Json, base_urls, until
from demo.scenario import TRD_TRIALS, Scenario, iso, referral
from services.runtime.auth import Role, mint_token

WAIT_S = 90.0
NURSE = "rn-trial"
CLEAN_PHQ9 = [2, 3, 2, 2, 2, 2, 2, 2, 0]
ITEM9_PHQ9 = [2, 3, 2, 2, 2, 2, 2, 2, 1]
READY: Json = {
    "sedation_resolved": True,
    "dissociation_resolved": True,
    "respiratory_ok": True,
    "vitals_acceptable": True,
    "transport_confirmed": True,
}
NOT_YET_HEARD = frozenset({"PatientNotFound", "NoDosingBooking"})
"""Refusals that only mean the session has not yet heard of the patient or the booking."""


@dataclass
class Attempt:
    """One unsafe attempt: what was tried, what should refuse it, and what answered."""

    label: str
    invariant: int
    expected_error: str | None = None
    expected_status: int | None = None
    expected_reason: str | None = None
    status: int | None = None
    error: str = ""
    reasons: str = ""
    accepted: bool = False
    not_run: str | None = None

    @property
    def expected(self) -> str:
        parts = [str(self.expected_status)] if self.expected_status else []
        parts += [self.expected_error] if self.expected_error else []
        text = " ".join(parts)
        return f"{text} ({self.expected_reason})" if self.expected_reason else text

    @property
    def actual(self) -> str:
        if self.not_run is not None:
            return f"NOT RUN: {self.not_run}"
        if self.accepted:
            return f"ACCEPTED ({self.status})"
        return f"{self.status} {self.error}"

    @property
    def refused_as_expected(self) -> bool:
        if self.not_run is not None or self.accepted or self.status is None:
            return False
        if self.expected_status is not None and self.status != self.expected_status:
            return False
        if self.expected_error is not None and self.error != self.expected_error:
            return False
        return self.expected_reason is None or self.expected_reason in self.reasons


def expect(rule: str | int, reason: str | None = None, status: int | None = None) -> Json:
    """A rule name (the problem document's `error`) or a 4xx status; `reason` a text the
    refusal's reasons must contain; `status` the status a named rule must answer with."""
    if isinstance(rule, int):
        return {"expected_status": rule, "expected_reason": reason}
    return {"expected_error": rule, "expected_reason": reason, "expected_status": status}


def problem_of(error: ApiError) -> tuple[str, str]:
    body = error.body if isinstance(error.body, dict) else {}
    reasons = body.get("reasons") or body.get("detail") or ""
    text = "; ".join(str(r) for r in reasons) if isinstance(reasons, list) else str(reasons)
    return str(body.get("error", "")), text


def error_name(error: ApiError) -> str:
    return problem_of(error)[0]


def now() -> datetime:
    return datetime.now(UTC)


def ago(minutes: float) -> str:
    return iso(now() - timedelta(minutes=minutes))


class Day:
    """One treatment-day session, charted in minutes after its check-in `t0`."""

    def __init__(self, api: Api, pid: str, session: Json, t0: datetime) -> None:
        self.api, self.pid, self.t0 = api, pid, t0
        self.session_id = str(session["session_id"])
        self.appointment_id = str(session["appointment_id"])
        self.interactions: list[str] = list(session.get("interactions_to_acknowledge", []))
        self.iv = session["protocol"] == "iv_ketamine_series"
        self.path = f"/patients/{pid}/sessions/{self.session_id}"

    def at(self, minutes: float) -> str:
        return iso(self.t0 + timedelta(minutes=minutes))

    def post(self, step: str, body: Json, role: Role = Role.NURSE, subject: str = NURSE) -> Any:
        return self.api.post("session", f"{self.path}/{step}", role, body, subject)

    def vitals(self, systolic: int, diastolic: int, minutes: float) -> Any:
        reading = {"systolic": systolic, "diastolic": diastolic, "heart_rate": 74, "spo2": 98}
        return self.post("vitals", {**reading, "observed_at": self.at(minutes)})

    def dose(self, minutes: float | None, mg: float | None = None,
             weight_kg: float | None = None) -> Any:  # fmt: skip
        """The protocol's usual dose (esketamine 56 mg; IV 35 mg for 70 kg) unless given."""
        if mg is None:
            mg, weight_kg = (35.0, weight_kg or 70.0) if self.iv else (56.0, weight_kg)
        body: Json = {"dose_mg": mg, "lot_number": "LOT-TRIAL-1", "weight_kg": weight_kg}
        if minutes is not None:
            body["observed_at"] = self.at(minutes)
        return self.post("dose", body)

    def discharge(self, minutes: float, **changes: bool) -> Any:
        return self.post("discharge", {**READY, **changes, "observed_at": self.at(minutes)})


def refusal(call: Callable[[], Any]) -> ApiError | None:
    try:
        call()
    except ApiError as error:
        return error
    return None


def once_heard(call: Callable[[], Any], waiting: frozenset[str] = NOT_YET_HEARD) -> Any:
    """`call`, retried while it is refused only because a fact has not yet arrived."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            return call()
        except ApiError as error:
            if error_name(error) not in waiting or time.monotonic() > deadline:
                raise
        time.sleep(0.25)


def until_refused_otherwise(probe: Callable[[], Any], still: str, what: str) -> str:
    """Wait until `probe`, refused for `still`, is refused for another rule: the fact the
    trial waits for has reached the service. A probe accepted is itself unsafe: raise."""
    deadline = time.monotonic() + WAIT_S
    while True:
        error = refusal(probe)
        if error is None:
            raise AssertionError(f"probe accepted while waiting for {what}")
        if error_name(error) != still:
            return error_name(error)
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {WAIT_S:.0f}s for {what}")
        time.sleep(0.25)


class Trial:
    def __init__(self, api: Api) -> None:
        self.api, self.demo = api, Scenario(api)
        self.attempts: list[Attempt] = []
        self.booked: list[str] = []
        self._n = itertools.count()

    # --- the attempt and its record --------------------------------------------------------

    def attempt(self, label: str, invariant: int, expected: dict[str, Any],
                setup: Callable[[], Callable[[], Any]]) -> Attempt:  # fmt: skip
        """Run `setup` (safe steps), then the unsafe request it returns; record the answer."""
        record = Attempt(label, invariant, **expected)
        self.attempts.append(record)
        try:
            self._try(record, setup)
        finally:
            self.release()
        return record

    @staticmethod
    def _try(record: Attempt, setup: Callable[[], Callable[[], Any]]) -> None:
        try:
            unsafe = setup()
        except Exception as error:  # reported; the trial goes on
            record.not_run = f"setup failed: {_short(error)}"
            return
        try:
            unsafe()
        except ApiError as error:
            record.status = error.status
            record.error, record.reasons = problem_of(error)
        except Exception as error:
            record.not_run = f"attempt failed: {_short(error)}"
        else:
            record.accepted, record.status = True, 200

    def release(self) -> None:
        """Cancel what is still booked for this attempt's patients, so that the sites' chairs
        stay free for the next attempt and for other patients (south has one chair)."""
        while self.booked:
            pid = self.booked.pop()
            try:
                course = self.course(pid)
            except ApiError:
                continue
            for a in course["appointments"]:
                if a["status"] != "booked":
                    continue
                path = f"/patients/{pid}/appointments/{a['appointment_id']}/cancel"
                # an integration session may already be cancelled with its treatment day
                with contextlib.suppress(ApiError):
                    self.api.post("scheduling", path, Role.NURSE, {"reason": "outside trial done"})

    # --- safe steps ---------------------------------------------------------------------------

    def refer(self, site: str = "site-north", phq9: list[int] | None = None,
              meds: list[str] | None = None, received_at: str | None = None) -> str:  # fmt: skip
        n = next(self._n)
        body = referral(site, 1 + n % 25, phq9 or CLEAN_PHQ9, meds or [], TRD_TRIALS)
        if received_at is not None:
            body["received_at"] = received_at
        return self.demo.refer(f"Trial-{n}", body)

    def consent(self, pid: str, consent: str, given: bool, at: str | None = None) -> None:
        body: Json = {"consent": consent, "given": given}
        if at is not None:
            body["recorded_at"] = at
        self.api.post("intake", f"/patients/{pid}/consents", Role.INTAKE_COORDINATOR, body)

    def approval(self, pid: str, protocol: str, decided_at: str | None = None) -> Any:
        body: Json = {"decision": "approved", "protocol": protocol}
        if protocol == "iv_ketamine_series":
            body["planned_doses"] = 6
        if decided_at is not None:
            body["decided_at"] = decided_at
        return self.api.post("intake", f"/patients/{pid}/eligibility", Role.PSYCHIATRIST, body)

    def approved(self, site: str = "site-north", meds: list[str] | None = None) -> str:
        """A referred patient, consented and approved six hours back: esketamine at north,
        IV ketamine at south (site-south is not REMS-certified)."""
        pid = self.refer(site, meds=meds)
        self.booked.append(pid)
        protocol = "esketamine_trd" if site == "site-north" else "iv_ketamine_series"
        self.demo.approve(pid, protocol, planned=6 if protocol == "iv_ketamine_series" else None)
        return pid

    def course(self, pid: str) -> Json:
        return dict(self.api.get("scheduling", f"/patients/{pid}/course", Role.NURSE))

    def dosing(self, pid: str, *numbers: int) -> list[str]:
        """The booked dosing appointments of these dose numbers (default the first), once
        scheduling has them."""
        wanted = numbers or (1,)

        def booked() -> list[str] | None:
            course = self.course(pid)
            if course["blocked_reason"]:
                raise RuntimeError(f"course not booked: {course['blocked_reason']}")
            found = {a["dose_number"]: a["appointment_id"] for a in course["appointments"]
                     if a["kind"] == "dosing" and a["status"] == "booked"}  # fmt: skip
            return [found[n] for n in wanted] if all(n in found for n in wanted) else None

        return list(until(booked, WAIT_S, f"dosing appointment(s) {wanted}"))

    def check_in(self, pid: str, minutes_ago: float, appointment: str | None = None) -> Day:
        appointment = appointment or self.dosing(pid)[0]
        t0 = now() - timedelta(minutes=minutes_ago)
        body = {"appointment_id": appointment, "observed_at": iso(t0)}
        path = f"/patients/{pid}/sessions"
        session = until(lambda: self.api.post("session", path, Role.NURSE, body, NURSE),
                        WAIT_S, "check-in")  # fmt: skip
        return Day(self.api, pid, session, t0)

    def dosed(self, pid: str, discharge_after: float | None = 121) -> Day:
        """A treatment day dosed 5 min after check-in with a 40-min and a pre-discharge BP, and
        (unless None) discharged `discharge_after` min after the dose, just before now."""
        span = 5 + (discharge_after if discharge_after is not None else 125) + 2
        day = self.check_in(pid, span)
        day.vitals(132, 84, 2)
        if day.interactions:
            day.post("interactions/acknowledge", {"observed_at": day.at(3)})
        day.dose(5)
        day.vitals(136, 86, 45)
        if discharge_after is not None:
            day.vitals(126, 80, 5 + discharge_after - 5)
            day.discharge(5 + discharge_after)
        return day

    def scoped_post(self, service: str, path: str, role: Role, sites: list[str], body: Json,
                    subject: str) -> Any:  # fmt: skip
        """A request with a token limited to `sites` (Api tokens cover every site)."""
        token = mint_token(self.api.settings, subject, role, sites)
        response = self.api.client.post(
            self.api.base(service) + path, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        if response.status_code >= 400:
            raise ApiError(response)
        return response.json()

    # --- the attempts -------------------------------------------------------------------------

    def run(self) -> list[Attempt]:
        for trial in (
            self.facts_in_order,
            self.dose_gates,
            self.one_day_at_a_time,
            self.facts_from_other_services,
            self.discharges,
            self.prescribers,
            self.approvals,
            self.scope_and_integration,
        ):
            trial()
        return self.attempts

    def facts_in_order(self) -> None:
        api = self.api

        def future_referral() -> Callable[[], Any]:
            n = next(self._n)
            body = referral("site-north", 1 + n % 25, CLEAN_PHQ9, [], TRD_TRIALS)
            body["received_at"] = iso(now() + timedelta(days=1))
            return lambda: api.post("intake", "/referrals", Role.INTAKE_COORDINATOR, body)

        self.attempt("referral received_at tomorrow", 1, expect(422), future_referral)

        def before_referral() -> Callable[[], Any]:
            received = now() - timedelta(days=1)
            pid = self.refer(received_at=iso(received))
            self.booked.append(pid)
            self.consent(pid, "treatment", True, iso(received))
            self.consent(pid, "rems_enrolment", True, iso(received))
            self.approval(pid, "esketamine_trd", decided_at=iso(received))
            appointment = self.dosing(pid)[0]
            body = {"appointment_id": appointment,
                    "observed_at": iso(received - timedelta(minutes=30))}  # fmt: skip
            path = f"/patients/{pid}/sessions"

            def check_in() -> Any:
                # Once the session knows the booking, give it a second more to have heard the
                # approval (which caused the booking) too; then the answer is final.
                with contextlib.suppress(ApiError):
                    once_heard(lambda: api.post("session", path, Role.NURSE, body, NURSE))
                time.sleep(1.0)
                return api.post("session", path, Role.NURSE, body, NURSE)

            return check_in

        self.attempt("check-in charted 30 min before the referral was received", 1,
                     expect("ObservedBeforeReferral"), before_referral)  # fmt: skip

        def future_check_in() -> Callable[[], Any]:
            pid = self.approved()
            body = {"appointment_id": self.dosing(pid)[0], "observed_at": ago(-30)}
            path = f"/patients/{pid}/sessions"
            return lambda: once_heard(lambda: api.post("session", path, Role.NURSE, body, NURSE))

        self.attempt("check-in charted 30 min in the future", 1, expect(422), future_check_in)

        def dose_before_check_in() -> Callable[[], Any]:
            day = self.check_in(self.approved("site-south"), 30)
            day.vitals(132, 84, 5)
            return lambda: day.dose(-10)

        self.attempt("dose charted 10 min before the check-in", 1, expect(422),
                     dose_before_check_in)  # fmt: skip

    def dose_gates(self) -> None:
        def no_vitals() -> Callable[[], Any]:
            day = self.check_in(self.approved("site-south"), 20)
            return lambda: day.dose(10)

        self.attempt("dose without pre-dose vitals", 3, expect("PreDoseVitalsMissing"), no_vitals)

        def high_bp() -> Callable[[], Any]:
            day = self.check_in(self.approved("site-south"), 20)
            held = day.vitals(152, 96, 5)
            if not held["dose_held"]:
                raise AssertionError("pre-dose BP 152/96 did not hold the dose")
            return lambda: day.dose(10)

        self.attempt("dose with pre-dose BP 152/96", 3, expect("DoseHeldForBloodPressure"),
                     high_bp)  # fmt: skip

        def stale_bp() -> Callable[[], Any]:
            day = self.check_in(self.approved("site-south"), 80)
            day.vitals(132, 84, 2)
            return lambda: day.dose(72)

        self.attempt("dose 70 min after the only pre-dose BP", 3, expect("PreDoseVitalsStale"),
                     stale_bp)  # fmt: skip

        def interaction() -> Callable[[], Any]:
            day = self.check_in(self.approved(meds=["levothyroxine"]), 20)
            if not day.interactions:
                raise AssertionError("no interaction flag shown at check-in")
            day.vitals(132, 84, 5)
            return lambda: day.dose(10)

        self.attempt("dose before acknowledging the levothyroxine interaction", 3,
                     expect("InteractionsNotAcknowledged"), interaction)  # fmt: skip

        def first_84() -> Callable[[], Any]:
            day = self.check_in(self.approved(), 20)
            day.vitals(132, 84, 5)
            return lambda: day.dose(10, mg=84)

        self.attempt("first esketamine dose 84 mg", 3, expect("EsketamineDoseNotAllowed"),
                     first_84)  # fmt: skip

        def iv_not_weight_based() -> Callable[[], Any]:
            day = self.check_in(self.approved("site-south"), 20)
            day.vitals(132, 84, 5)
            return lambda: day.dose(10, mg=50, weight_kg=70)

        self.attempt("IV dose 50 mg for 70 kg (0.5 mg/kg is 35 mg)", 3,
                     expect("IvDoseNotWeightBased"), iv_not_weight_based)  # fmt: skip

        def bp_hold_by_nurse() -> Callable[[], Any]:
            day = self.check_in(self.approved("site-south"), 20)
            day.vitals(152, 96, 5)
            body = {"reason": "nurse decides to dose anyway", "observed_at": day.at(8)}
            return lambda: day.post("dose-hold/override", body)

        self.attempt("a nurse overriding a BP hold", 3, expect(403), bp_hold_by_nurse)

    def one_day_at_a_time(self) -> None:
        def second_dose() -> Callable[[], Any]:
            day = self.check_in(self.approved("site-south"), 20)
            day.vitals(132, 84, 5)
            day.dose(10)
            return lambda: day.dose(12)

        self.attempt("a second dose in the same session", 2, expect("AlreadyDosed"), second_dose)

        def second_check_in() -> Callable[[], Any]:
            pid = self.approved("site-south")
            first, second = self.dosing(pid, 1, 2)
            self.check_in(pid, 30, first)
            body = {"appointment_id": second, "observed_at": ago(20)}
            path = f"/patients/{pid}/sessions"
            return lambda: once_heard(
                lambda: self.api.post("session", path, Role.NURSE, body, NURSE)
            )

        self.attempt("a second check-in while the first session is open", 2,
                     expect("TreatmentDayAlreadyOpen"), second_check_in)  # fmt: skip

        def next_day_too_soon() -> Callable[[], Any]:
            pid = self.approved("site-south")
            self.dosed(pid)
            second = self.dosing(pid, 2)[0]
            day = self.check_in(pid, 1.5, second)
            day.vitals(130, 82, 0.5)
            return lambda: day.dose(None)

        self.attempt("next appointment dosed 2 h after the previous dose", 2,
                     expect("DoseBeforeMinimumGap"), next_day_too_soon)  # fmt: skip

    def facts_from_other_services(self) -> None:
        api = self.api

        def after_heard(change: Callable[[Day], Any], what: str) -> Callable[[], Any]:
            """A dose-ready session; then `change` elsewhere; wait until an 84-mg probe (refused
            as a first dose) is refused for another rule: the session has heard the change."""
            pid = self.approved()
            day = self.check_in(pid, 20)
            day.vitals(132, 84, 15)
            change(day)
            until_refused_otherwise(lambda: day.dose(None, mg=84), "EsketamineDoseNotAllowed",
                                    what)  # fmt: skip
            return lambda: day.dose(None)

        def withdraw(consent: str) -> Callable[[Day], Any]:
            return lambda day: self.consent(day.pid, consent, False)

        self.attempt("dose after treatment consent was withdrawn", 3,
                     expect("TreatmentConsentMissing"),
                     lambda: after_heard(withdraw("treatment"), "the withdrawal"))  # fmt: skip
        self.attempt("esketamine dose after REMS enrolment was withdrawn", 3,
                     expect("RemsEnrolmentMissing"),
                     lambda: after_heard(withdraw("rems_enrolment"), "the withdrawal"))  # fmt: skip

        def cancel(day: Day) -> Any:
            path = f"/patients/{day.pid}/appointments/{day.appointment_id}/cancel"
            return api.post("scheduling", path, Role.NURSE, {"reason": "patient unwell"})

        self.attempt("dose after the appointment was cancelled in scheduling", 6,
                     expect("SessionCancelled"),
                     lambda: after_heard(cancel, "the cancellation"))  # fmt: skip

        def follow_up_flag() -> Callable[[], Any]:
            pid = self.approved("site-south")
            self.dosed(pid)
            second = self.dosing(pid, 2)[0]
            day = self.check_in(pid, 1.5, second)
            day.vitals(130, 82, 0.5)

            def phq9_task() -> tuple[str, str] | None:
                journey = api.get("journey", f"/patients/{pid}/journey", Role.OPS)
                tasks = [t for t in journey["open_tasks"] if t["kind"] == "phq9"]
                return (tasks[0]["task_id"], journey["coach_id"]) if tasks else None

            task, coach = until(phq9_task, WAIT_S, "the follow-up PHQ-9 task")
            api.post("coaching", f"/patients/{pid}/tasks/{task}/complete", Role.COACH,
                     {"outcome": {"phq9": [1, 1, 1, 1, 1, 1, 1, 1, 1]}}, coach)  # fmt: skip
            # The dose is refused for the minimum gap until the flag arrives, then for the flag.
            until_refused_otherwise(lambda: day.dose(None), "DoseBeforeMinimumGap",
                                    "the follow-up flag")  # fmt: skip
            return lambda: day.dose(None)

        self.attempt("dose while a follow-up PHQ-9 flag (item 9 > 0) is open", 4,
                     expect("OpenRiskFlag", "phq9_item9"), follow_up_flag)  # fmt: skip

    def discharges(self) -> None:
        unmet = "DischargeConditionsUnmet"

        def early() -> Callable[[], Any]:
            day = self.dosed(self.approved(), discharge_after=None)
            day.vitals(128, 80, 5 + 115)
            return lambda: day.discharge(5 + 119)

        self.attempt("discharge 119 min after the dose", 5, expect(unmet, "monitoring_time"),
                     early)  # fmt: skip

        def no_recheck() -> Callable[[], Any]:
            day = self.check_in(self.approved("site-south"), 140)
            day.vitals(132, 84, 2)
            day.dose(5)
            day.vitals(130, 82, 5 + 20)
            return lambda: day.discharge(5 + 125)

        self.attempt("discharge without the 40-minute BP", 5, expect(unmet, "bp_40_min"),
                     no_recheck)  # fmt: skip

        def no_recent_bp() -> Callable[[], Any]:
            day = self.dosed(self.approved("site-south"), discharge_after=None)
            return lambda: day.discharge(5 + 125)

        self.attempt("discharge without a BP in the last 15 min", 5,
                     expect(unmet, "bp_before_discharge"), no_recent_bp)  # fmt: skip

        def high_last_bp() -> Callable[[], Any]:
            day = self.dosed(self.approved("site-south"), discharge_after=None)
            day.vitals(172, 104, 5 + 120)
            return lambda: day.discharge(5 + 125, vitals_acceptable=True)

        self.attempt("discharge, last BP 172/104, vitals_acceptable true", 5,
                     expect(unmet, "vitals_acceptable"), high_last_bp)  # fmt: skip

        def no_transport() -> Callable[[], Any]:
            day = self.dosed(self.approved("site-south"), discharge_after=None)
            day.vitals(126, 80, 5 + 120)
            return lambda: day.discharge(5 + 125, transport_confirmed=False)

        self.attempt("discharge without confirmed transport", 5,
                     expect(unmet, "transport_confirmed"), no_transport)  # fmt: skip

        def undosed() -> Callable[[], Any]:
            day = self.check_in(self.approved("site-south"), 20)
            day.vitals(132, 84, 5)
            return lambda: day.discharge(10)

        self.attempt("discharge before any dose", 5, expect("DischargeBeforeDose"), undosed)

        def form_before_discharge() -> Callable[[], Any]:
            day = self.dosed(self.approved())
            body = {"observed_at": day.at(5 + 121 - 10)}
            return lambda: day.post("monitoring-form", body)

        self.attempt("REMS monitoring form charted before the discharge", 1, expect(422),
                     form_before_discharge)  # fmt: skip

    def prescribers(self) -> None:
        api = self.api

        def beyond_plan() -> Callable[[], Any]:
            pid = self.approved("site-south")
            self.dosing(pid)
            planned = self.course(pid)["planned_doses"]
            start = (now() + timedelta(days=60)).date().isoformat()
            query = f"kind=dosing&protocol=iv_ketamine_series&start={start}"
            slots = api.get("scheduling", f"/sites/site-south/availability?{query}",
                            Role.NURSE)["slots"]  # fmt: skip
            booking = {"kind": "dosing", "starts_at": slots[0]["starts_at"],
                       "dose_number": planned + 1}  # fmt: skip
            return lambda: api.post("scheduling", f"/patients/{pid}/appointments", Role.NURSE,
                                    booking)  # fmt: skip

        self.attempt("a nurse booking a dose past the plan", 6, expect("BeyondPlannedDoses"),
                     beyond_plan)  # fmt: skip

        def nurse_extends() -> Callable[[], Any]:
            pid = self.approved("site-south")
            self.dosing(pid)
            planned = self.course(pid)["planned_doses"]
            body = {"planned_doses": planned + 2, "reason": "nurse wants more doses"}
            return lambda: api.post("scheduling", f"/patients/{pid}/course/extend", Role.NURSE,
                                    body)  # fmt: skip

        self.attempt("a nurse extending a course", 6, expect(403), nurse_extends)

    def approvals(self) -> None:
        def open_flag() -> Callable[[], Any]:
            pid = self.refer(phq9=ITEM9_PHQ9)
            self.consent(pid, "treatment", True, ago(360))
            self.consent(pid, "rems_enrolment", True, ago(360))
            return lambda: self.approval(pid, "esketamine_trd")

        self.attempt("approval while a PHQ-9 item 9 flag is open", 7,
                     expect("UnacknowledgedRiskFlag"), open_flag)  # fmt: skip

        def withdrawn() -> Callable[[], Any]:
            pid = self.refer("site-south")
            self.consent(pid, "treatment", True, ago(180))
            self.consent(pid, "treatment", False, ago(120))
            return lambda: self.approval(pid, "iv_ketamine_series")

        self.attempt("approval after treatment consent was withdrawn", 7,
                     expect("TreatmentConsentNotGiven"), withdrawn)  # fmt: skip

        def no_rems() -> Callable[[], Any]:
            pid = self.refer()
            self.consent(pid, "treatment", True, ago(180))
            return lambda: self.approval(pid, "esketamine_trd")

        self.attempt("esketamine approval without REMS enrolment", 7,
                     expect("RemsEnrolmentMissing"), no_rems)  # fmt: skip

        def back_dated() -> Callable[[], Any]:
            pid = self.refer(received_at=ago(24 * 60))
            self.consent(pid, "treatment", True, ago(360))
            self.consent(pid, "rems_enrolment", True, ago(360))
            return lambda: self.approval(pid, "esketamine_trd", decided_at=ago(48 * 60))

        self.attempt("approval back-dated a day before the referral", 1, expect(422), back_dated)

    def scope_and_integration(self) -> None:
        def other_site_nurse() -> Callable[[], Any]:
            day = self.check_in(self.approved(), 20)
            day.vitals(132, 84, 5)
            body = {"dose_mg": 56, "lot_number": "LOT-TRIAL-1", "observed_at": day.at(10)}
            return lambda: self.scoped_post("session", f"{day.path}/dose", Role.NURSE,
                                            ["site-south"], body, "rn-south")  # fmt: skip

        self.attempt("a site-south nurse dosing a site-north patient", 3, expect(404),
                     other_site_nurse)  # fmt: skip

        def integration_before_dose() -> Callable[[], Any]:
            pid = self.approved("site-south")
            day = self.dosed(pid)

            def planned() -> bool:
                journey = self.api.get("journey", f"/patients/{pid}/journey", Role.OPS)
                return any(t["kind"] == "integration_booking" for t in journey["open_tasks"])

            until(planned, WAIT_S, "the integration booking task")
            body = {"status": "completed", "held_at": day.at(0), "session_id": day.session_id}
            path = f"/patients/{pid}/integration-sessions/{uuid.uuid4()}"
            return lambda: self.api.call("PUT", "coaching", path, Role.THERAPIST, body)

        self.attempt("integration session recorded before the dose it integrates", 1,
                     expect("IntegrationSessionBeforeDoseError", status=422),
                     integration_before_dose)  # fmt: skip


def _short(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:200]


def run(api: Api) -> list[Attempt]:
    """Every unsafe attempt against the services behind `api`, in order."""
    return Trial(api).run()


def table(attempts: list[Attempt]) -> str:
    rows = [("#", "inv", "attempt", "expected", "actual", "")]
    for n, a in enumerate(attempts, 1):
        verdict = "ok" if a.refused_as_expected else (
            "!!! ACCEPTED !!!" if a.accepted else "!!! UNEXPECTED !!!"
        )  # fmt: skip
        rows.append((str(n), str(a.invariant), a.label, a.expected, a.actual, verdict))
    widths = [min(max(len(r[i]) for r in rows), 60) for i in range(5)]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[i][: widths[i]].ljust(widths[i]) for i in range(5)]
        lines.append("  ".join([*cells, row[5]]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("Reasons given:")
    for n, a in enumerate(attempts, 1):
        lines.append(f"  {n:>2}. {a.reasons or a.not_run or '-'}")
    return "\n".join(lines)


def summary(attempts: list[Attempt]) -> tuple[str, int]:
    good = sum(a.refused_as_expected for a in attempts)
    accepted = [a for a in attempts if a.accepted]
    other = [a for a in attempts if not a.refused_as_expected and not a.accepted]
    lines = [f"{len(attempts)} unsafe attempts; {good} refused as expected."]
    for a in accepted:
        lines.append(f"!!! ACCEPTED: {a.label} (invariant {a.invariant}; expected {a.expected})")
    for a in other:
        lines.append(f"!!! NOT AS EXPECTED: {a.label}: expected {a.expected}, got {a.actual}")
    return "\n".join(lines), 0 if good == len(attempts) else 1


def main() -> int:
    api = Api(base_urls())
    started = time.monotonic()
    try:
        api.wait_ready()
    except (TimeoutError, httpx.HTTPError) as error:
        print(f"the stack is not ready: {error}", file=sys.stderr)
        return 2
    attempts = run(api)
    print(f"\nOutside trial through the public APIs in {time.monotonic() - started:.1f}s.\n")
    print(table(attempts))
    text, code = summary(attempts)
    print("\n" + text)
    return code


if __name__ == "__main__":
    sys.exit(main())
