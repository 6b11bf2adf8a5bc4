"""Stateful property test: random eligibility facts and treatment days, decided by the session
service's pure domain, keep DESIGN's treatment-day safety invariants after every step."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import uuid4
from zoneinfo import ZoneInfo

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from contracts.envelope import EventBase
from contracts.intake import ConsentRecorded, EligibilityDecided
from contracts.scheduling import AppointmentBooked, AppointmentCancelled
from contracts.vocabulary import AppointmentKind, ConsentKind, CoursePhase, Decision, Protocol
from services.runtime.refusals import NotFound
from services.session.absorb import absorb
from services.session.chart import FieldOutOfRangeError, Session
from services.session.discharge import DischargePatient, decide_discharge
from services.session.domain import (
    CheckIn,
    RecordVitals,
    decide_check_in,
    decide_vitals,
    session_id_for,
)
from services.session.dosing import AdministerDose, decide_dose
from services.session.gates import OverrideDoseHold, decide_override_hold
from services.session.record import SessionRuleViolation, TreatmentRecord
from services.session.rules import SessionRules
from tests.unit.session.builders import PATIENT, SITE, T0, stamp_at

ZONE = ZoneInfo("America/New_York")
RULES = SessionRules(site_time_zones={SITE: ZONE.key})
MIN_GAP_DAYS = {Protocol.ESKETAMINE_TRD: 2, Protocol.IV_KETAMINE_SERIES: 2}
MONITORING_FLOOR_MIN = {Protocol.ESKETAMINE_TRD: 120, Protocol.IV_KETAMINE_SERIES: 100}
BP_LIMIT = (140, 90)
REFUSED = (SessionRuleViolation, FieldOutOfRangeError, NotFound)
UNKNOWN = Session(
    session_id="ses-unknown",
    appointment_id="apt-unknown",
    site_id=SITE,
    protocol=Protocol.ESKETAMINE_TRD,
    dose_number=1,
    course_phase=CoursePhase.INDUCTION,
    checked_in_at=T0,
    interactions=[],
)

Command = TypeVar("Command")
Decide = Callable[[TreatmentRecord, Command, Any, SessionRules], tuple[TreatmentRecord, Any]]

waits = st.integers(min_value=0, max_value=90)
lateness = st.one_of(st.just(0), st.integers(min_value=0, max_value=20), st.integers(0, 180))
"""Charting is mostly timely, sometimes minutes late, sometimes hours late."""


@dataclass(frozen=True)
class Upstream:
    """What intake had told the session when a treatment-day decision was taken."""

    decision: Decision | None = None
    approved_at: datetime | None = None
    rems_enrolled_at: datetime | None = None


def above_limit(systolic: int, diastolic: int) -> bool:
    return systolic > BP_LIMIT[0] or diastolic > BP_LIMIT[1]


def site_days_apart(earlier: datetime, later: datetime) -> int:
    return (later.astimezone(ZONE).date() - earlier.astimezone(ZONE).date()).days


class TreatmentDays(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.record = TreatmentRecord(patient_id=PATIENT)
        self.protocol = Protocol.ESKETAMINE_TRD
        self.known = Upstream()
        self.bookings: list[str] = []
        self.known_at_dose: dict[str, Upstream] = {}
        self.doses_accepted: dict[str, int] = {}

    # Upstream facts

    def receive(self, event_type: type[EventBase], producer: str, **payload: Any) -> None:
        fact = event_type(
            event_id=uuid4(),
            occurred_at=self.now,
            patient_id=PATIENT,
            site_id=SITE,
            correlation_id=uuid4(),
            producer=producer,
            **payload,
        )
        self.record = absorb(fact, self.record)

    @initialize(protocol=st.sampled_from([Protocol.ESKETAMINE_TRD, Protocol.IV_KETAMINE_SERIES]))
    def start(self, protocol: Protocol) -> None:
        """Enrolled (the REMS enrolment is harmless for IV), approved and booked a day ago; the
        rules below may withdraw, decline, re-approve, cancel and book again."""
        self.protocol = protocol
        self.enrol(given=True, wait=0)
        self.decide_eligibility(Decision.APPROVED, wait=0)
        self.book()
        self.now += timedelta(days=1)

    @rule(
        decision=st.sampled_from([Decision.APPROVED, Decision.APPROVED, Decision.DECLINED]),
        wait=st.integers(min_value=0, max_value=600),
    )
    def decide_eligibility(self, decision: Decision, wait: int) -> None:
        self.now += timedelta(minutes=wait)
        self.receive(EligibilityDecided, "intake", decision=decision, decided_by="dr-psy")
        approved_at = None
        if decision is Decision.APPROVED:
            still_approved = self.known.decision is Decision.APPROVED
            approved_at = self.known.approved_at if still_approved else self.now
        self.known = Upstream(decision, approved_at, self.known.rems_enrolled_at)

    @rule(given=st.sampled_from([True, True, False]), wait=waits)
    def enrol(self, given: bool, wait: int) -> None:
        self.now += timedelta(minutes=wait)
        self.receive(ConsentRecorded, "intake", consent=ConsentKind.REMS_ENROLMENT, given=given)
        enrolled_at = self.now if given else None
        self.known = Upstream(self.known.decision, self.known.approved_at, enrolled_at)

    @rule()
    def book(self) -> None:
        """Scheduling books treatment days for approved courses only."""
        if self.known.decision is not Decision.APPROVED:
            return
        appointment = f"apt-{len(self.bookings) + 1}"
        self.bookings.append(appointment)
        self.receive(
            AppointmentBooked,
            "scheduling",
            appointment_id=appointment,
            kind=AppointmentKind.DOSING,
            starts_at=self.now,
            ends_at=self.now + timedelta(minutes=150),
            dose_number=len(self.bookings),
            protocol=self.protocol,
            course_phase=CoursePhase.INDUCTION,
        )

    @rule()
    def cancel_latest_booking(self) -> None:
        if not self.bookings:
            return
        self.receive(
            AppointmentCancelled, "scheduling", appointment_id=self.bookings[-1], reason="moved"
        )

    @rule(minutes=st.integers(min_value=60, max_value=5 * 24 * 60))
    def clock_moves_on(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    # Treatment day, charted late by up to three hours

    def decide(self, decide: Decide[Command], command: Command) -> bool:
        try:
            self.record, events = decide(self.record, command, stamp_at(self.now), RULES)
        except REFUSED:
            return False
        return bool(events)

    def charted(self, wait: int, late: int) -> datetime:
        self.now += timedelta(minutes=wait)
        return self.now - timedelta(minutes=late)

    @property
    def current(self) -> Session:
        """The latest session; before any check-in, one that the record does not know."""
        sessions = list(self.record.sessions.values())
        return sessions[-1] if sessions else UNKNOWN

    def check_in(self, wait: int, late: int) -> None:
        appointment = self.bookings[-1] if self.bookings else "apt-unbooked"
        self.decide(decide_check_in, CheckIn(appointment, self.charted(wait, late)))

    def chart_vitals(self, wait: int, late: int, high: bool) -> None:
        systolic, diastolic = (152, 96) if high else (128, 78)
        at = self.charted(wait, late)
        command = RecordVitals(self.current.session_id, systolic, diastolic, 72, 98, at)
        self.decide(decide_vitals, command)

    def override_hold(self, wait: int, late: int) -> None:
        at = self.charted(wait, late)
        command = OverrideDoseHold(self.current.session_id, "dr-psy", "baseline reviewed", at)
        self.decide(decide_override_hold, command)

    def dose(self, wait: int, late: int) -> None:
        session_id, at = self.current.session_id, self.charted(wait, late)
        iv = self.protocol is Protocol.IV_KETAMINE_SERIES
        mg, weight = (35.0, 70.0) if iv else (56.0, None)
        command = AdministerDose(session_id, mg, "LOT-1", weight, "nurse-ada", at)
        if self.decide(decide_dose, command):
            event("dose accepted")
            self.known_at_dose[session_id] = self.known
            self.doses_accepted[session_id] = self.doses_accepted.get(session_id, 0) + 1

    def discharge(self, after: int, late: int) -> None:
        dosed = self.current.dose
        if dosed is None:
            return
        at = dosed.administered_at + timedelta(minutes=after)
        self.now = max(self.now, at + timedelta(minutes=late))
        command = DischargePatient(self.current.session_id, True, True, True, True, True, at)
        if self.decide(decide_discharge, command):
            event("discharge accepted")

    @rule(
        wait=waits,
        late=lateness,
        high=st.booleans(),
        after=st.integers(min_value=90, max_value=200),
        days=st.integers(min_value=0, max_value=4),
    )
    def next_step_of_the_day(self, wait: int, late: int, high: bool, after: int, days: int) -> None:
        """Whatever the day calls for next: book the next day (0-4 days on) and check in,
        pre-dose BP (a high one is rechecked or overridden), dose, post-dose BP, discharge."""
        session = self.current
        booked_day = self.bookings and session_id_for(self.bookings[-1]) == session.session_id
        if not booked_day or not session.is_open:
            if booked_day:
                self.book()
                self.now += timedelta(days=days)
            self.check_in(wait, late)
        elif session.dose is None and session.vitals and session.dose_held and not high:
            self.override_hold(wait, late)
        elif session.dose is None and (not session.vitals or session.dose_held):
            self.chart_vitals(wait, late, high)
        elif session.dose is None:
            self.dose(wait, late)
        elif all(r.pre_dose for r in session.vitals):
            self.chart_vitals(wait, late, high)
        else:
            self.discharge(after, late)

    @rule(
        action=st.sampled_from(["check_in", "vitals", "override", "dose", "discharge"]),
        wait=waits,
        late=lateness,
        high=st.booleans(),
        after=st.integers(min_value=30, max_value=200),
    )
    def chart_out_of_turn(self, action: str, wait: int, late: int, high: bool, after: int) -> None:
        """Any charting step at any moment: a second check-in or dose, a dose on a held BP, an
        early discharge; the domain must refuse whatever breaks an invariant."""
        if action == "check_in":
            self.check_in(wait, late)
        elif action == "vitals":
            self.chart_vitals(wait, late, high)
        elif action == "override":
            self.override_hold(wait, late)
        elif action == "dose":
            self.dose(wait, late)
        else:
            self.discharge(after, late)

    # Invariants (DESIGN: treatment day; safety invariants 1-3, 5)

    @property
    def dosed(self) -> list[Session]:
        sessions = [s for s in self.record.sessions.values() if s.dose is not None]
        return sorted(sessions, key=lambda s: s.dose.administered_at if s.dose else self.now)

    @invariant()
    def no_dose_without_approval_and_rems_enrolment(self) -> None:
        assert {s.session_id for s in self.dosed} == set(self.known_at_dose)
        for session in self.dosed:
            assert session.dose is not None
            known = self.known_at_dose[session.session_id]
            assert known.decision is Decision.APPROVED
            assert known.approved_at is not None
            if session.protocol is Protocol.ESKETAMINE_TRD:
                assert known.rems_enrolled_at is not None

    @invariant()
    def no_dose_while_a_bp_hold_is_open_and_not_overridden(self) -> None:
        for session in self.dosed:
            assert session.dose is not None
            pre_dose = [r for r in session.vitals if r.pre_dose]
            assert pre_dose, "dosed without pre-dose vitals"
            last = pre_dose[-1]
            if above_limit(last.systolic, last.diastolic):
                overrides = [
                    h
                    for h in session.holds
                    if h.overridden_by and h.observed_at == last.observed_at
                ]
                assert overrides, "dosed on a held BP without a prescriber's override"
            for hold in session.holds:
                assert hold.released_at is not None
                assert hold.released_at <= session.dose.administered_at

    @invariant()
    def one_dose_per_session_and_one_open_treatment_day(self) -> None:
        assert all(count == 1 for count in self.doses_accepted.values())
        days = [s for s in self.record.sessions.values() if s.cancelled_at is None]
        days.sort(key=lambda s: s.checked_in_at)
        for earlier, later in itertools.pairwise(days):
            assert earlier.discharge is not None, "a treatment day began while another was open"
            assert earlier.discharge.discharged_at <= later.checked_in_at

    @invariant()
    def doses_at_least_the_minimum_gap_apart(self) -> None:
        dosed = self.dosed
        for earlier, later in itertools.pairwise(dosed):
            assert earlier.dose is not None
            assert later.dose is not None
            gap = site_days_apart(earlier.dose.administered_at, later.dose.administered_at)
            assert gap >= MIN_GAP_DAYS[later.protocol]

    @invariant()
    def no_discharge_before_the_monitoring_floor(self) -> None:
        for session in self.record.sessions.values():
            if session.discharge is None:
                continue
            assert session.dose is not None
            monitored = session.discharge.discharged_at - session.dose.administered_at
            assert monitored >= timedelta(minutes=MONITORING_FLOOR_MIN[session.protocol])

    @invariant()
    def no_observation_before_the_facts_it_depends_on(self) -> None:
        for session in self.record.sessions.values():
            checked_in = session.checked_in_at
            times = [r.observed_at for r in session.vitals]
            assert times == sorted(times)
            assert all(checked_in <= t for t in times)
            for hold in session.holds:
                assert hold.released_at is None or hold.observed_at <= hold.released_at
            if session.dose is not None:
                dosed_at = session.dose.administered_at
                pre = [r.observed_at for r in session.vitals if r.pre_dose]
                post = [r.observed_at for r in session.vitals if not r.pre_dose]
                assert all(t <= dosed_at for t in pre)
                assert all(dosed_at <= t for t in post)
            if session.discharge is not None:
                assert all(t <= session.discharge.discharged_at for t in times)


TreatmentDays.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)
TestTreatmentDays = TreatmentDays.TestCase
