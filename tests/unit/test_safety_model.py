"""Safety invariants across services: a model-based test (DESIGN § Safety invariants).

The rules are the commands of intake, scheduling, session and coaching, run through their
pure domain deciders; the events between them wait in per-consumer queues and are delivered
one at a time in random order, some twice. After every step the invariants are checked
against an oracle written here, independently of the services' own rules:

- everything a session charted is in order, one treatment day at a time, doses apart by the
  protocol's gap and in number order, each after a recent passing (or overridden) pre-dose BP;
- every discharge had its monitoring time, the ~40-minute and pre-discharge readings and an
  acceptable (or prescriber-accepted) last reading;
- every dose given while, by the facts the session has heard, the approval, consent, REMS
  enrolment, site certification, plan or appointment did not allow it, or a high or urgent
  risk flag was open, is raised by the session as an unsafe dose (a fact that arrived late);
- intake never approved while it knew of an open risk flag or a refused treatment consent.

`make test` runs a bounded number of examples; `make safety-soak` runs thousands
(SAFETY_MODEL_EXAMPLES).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from contracts.envelope import EventBase, Stamp
from contracts.intake import (
    ConsentRecorded,
    EligibilityDecided,
    RiskFlagAcknowledged,
    RiskFlagRaised,
)
from contracts.scheduling import (
    AppointmentCancelled,
    CourseExtended,
    CourseScheduled,
    SiteCertificationChanged,
)
from contracts.session import SessionDischarged
from contracts.vocabulary import (
    AdverseEventSeverity,
    ConsentKind,
    Decision,
    Protocol,
    RiskSeverity,
)
from harness.events import T0
from services.coaching.domain import CoachingRecord
from services.coaching.outcomes import measure_phq9
from services.coaching.rules import CoachingRules
from services.intake import domain as intake
from services.intake import flags, review
from services.intake.domain import IntakeRecord
from services.intake.rules import IntakeRules
from services.runtime.refusals import NotFound, RuleViolation
from services.scheduling import attendance as scheduling_attendance
from services.scheduling import course_changes, rems
from services.scheduling import domain as scheduling_domain
from services.scheduling.course import Course
from services.scheduling.decision import Context, Outcome
from services.scheduling.rules import SchedulingRules
from services.scheduling.slots import Occupancy
from services.session import discharge, dosing, gates, invariants, safety
from services.session import domain as session
from services.session.absorb import absorb
from services.session.chart import FieldOutOfRangeError, Session
from services.session.record import TreatmentRecord
from services.session.rules import SessionRules
from tests.unit.intake.builders import refer
from tests.unit.scheduling.builders import network, site

PATIENT = "pat-1"
SITE = "site-ny"
ZONE = ZoneInfo("America/New_York")
START = T0 + timedelta(days=2)
"""Two days after the referral reached the clinic (the intake builders refer at T0)."""
NET = network(site(SITE))
SCHEDULING_RULES = SchedulingRules()
SESSION_RULES = SessionRules(site_time_zones={SITE: "America/New_York"})
INTAKE_RULES = IntakeRules()
COACHING_RULES = CoachingRules()
BLOCKING = (RiskSeverity.HIGH, RiskSeverity.URGENT)
Refused = (RuleViolation, NotFound, FieldOutOfRangeError, ValueError)
E = TypeVar("E", bound=EventBase)


@dataclass
class Queues:
    """Events on their way to each consuming service, in no promised order."""

    pending: dict[str, list[EventBase]] = field(
        default_factory=lambda: {"intake": [], "scheduling": [], "session": []}
    )

    def publish(self, events: Iterable[EventBase]) -> None:
        for event in events:
            for consumer in CONSUMERS.get(event.event_type, {}).get(event.producer, ()):
                self.pending[consumer].append(event)


CONSUMERS: dict[str, dict[str, tuple[str, ...]]] = {
    "EligibilityDecided": {"intake": ("scheduling", "session")},
    "ConsentRecorded": {"intake": ("session",)},
    "PatientReferred": {"intake": ("session",)},
    "RiskFlagRaised": {
        "intake": ("session",),
        "coaching": ("session", "intake"),
        "session": ("intake",),
    },
    "RiskFlagAcknowledged": {"intake": ("session",), "session": ("intake",)},
    "AppointmentBooked": {"scheduling": ("session",)},
    "AppointmentCancelled": {"scheduling": ("session",)},
    "AppointmentRescheduled": {"scheduling": ("session",)},
    "CourseScheduled": {"scheduling": ("session",)},
    "CourseExtended": {"scheduling": ("session",)},
    "CourseTransferred": {"scheduling": ("session",)},
    "SiteCertificationChanged": {"scheduling": ("session",)},
    "SessionDischarged": {"session": ("scheduling",)},
}
"""Who hears what, as the services subscribe to each other's topics."""


def latest(events: Iterable[E], at: datetime) -> E | None:
    """The event in force at `at`: the latest by time, of equal times the later heard."""
    said = [e for e in events if e.occurred_at <= at]
    return max(reversed(said), key=lambda e: e.occurred_at) if said else None


def of(events: Iterable[EventBase], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def oracle_refusals(known: list[EventBase], s: Session, at: datetime) -> set[str]:
    """The rules a dose at `at` breaks by the facts in `known` (written apart from the
    session's own rule table, so the test can disagree with it)."""
    broken: set[str] = set()
    ruling = latest(of(known, EligibilityDecided), at)
    if ruling is None or ruling.decision is not Decision.APPROVED:
        broken.add("EligibilityNotApproved")
    plans = [e.planned_doses for e in of(known, CourseScheduled) + of(known, CourseExtended)]
    plans += [e.planned_doses for e in of(known, EligibilityDecided) if e.planned_doses]
    if plans and s.dose_number > max(plans):
        broken.add("NoPlannedDoseLeft")
    consents = of(known, ConsentRecorded)
    treatment = latest((c for c in consents if c.consent is ConsentKind.TREATMENT), at)
    if treatment is None or not treatment.given:
        broken.add("TreatmentConsentMissing")
    if s.protocol is Protocol.ESKETAMINE_TRD:
        rems = latest((c for c in consents if c.consent is ConsentKind.REMS_ENROLMENT), at)
        if rems is None or not rems.given:
            broken.add("RemsEnrolmentMissing")
        changes = (c for c in of(known, SiteCertificationChanged) if c.site_id == s.site_id)
        certified = latest(changes, at)
        if certified is not None and not certified.rems_certified:
            broken.add("SiteNotRemsCertified")
    for flag_id in {f.flag_id for f in of(known, RiskFlagRaised) if f.severity in BLOCKING}:
        raised = [f for f in of(known, RiskFlagRaised) if f.flag_id == flag_id]
        first = min(f.occurred_at for f in raised)
        acks = [a.occurred_at for a in of(known, RiskFlagAcknowledged) if a.flag_id == flag_id]
        if not acks or min(acks) > at:
            if raised[0].producer != "session" and first <= at:
                broken.add("OpenRiskFlag")
            if raised[0].producer == "session" and first < at:
                broken.add("a flag charted in the session before the dose (never raised)")
    cancelled = of(known, AppointmentCancelled)
    if any(c.appointment_id == s.appointment_id and c.occurred_at <= at for c in cancelled):
        broken.add("AppointmentWasCancelled")
    return broken


def note(what: str) -> None:
    """Count what the runs reached (pytest --hypothesis-show-statistics); silent outside."""
    try:
        hypothesis_event(what)
    except InvalidArgument:
        return


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


class CrossServiceSafety(RuleBasedStateMachine):
    """One patient, four services, events in flight between them."""

    @initialize(protocol=st.sampled_from([Protocol.ESKETAMINE_TRD, Protocol.IV_KETAMINE_SERIES]))
    def approved_and_booked(self, protocol: Protocol) -> None:
        """Referred, consented and approved a day before the run starts, everything heard:
        the random steps begin from a booked course, so they reach treatment days."""
        self.referred()
        self.now = START - timedelta(days=1)
        for kind in (ConsentKind.TREATMENT, ConsentKind.REMS_ENROLMENT):
            self.consent(kind, True, 0)
        self.decide_eligibility(Decision.APPROVED, protocol, 3, 0)
        self.everything_arrives()
        self.now = START

    def referred(self) -> None:
        self.now = START
        self.ids = (UUID(int=n) for n in itertools.count(1))
        self.queues = Queues()
        self.heard_by_session: list[EventBase] = []
        self.course: Course | None = None
        self.treatment: TreatmentRecord | None = None
        self.coaching = CoachingRecord(patient_id=PATIENT, site_id=SITE, baseline_phq9=18)
        self.certification_changes = 0
        record, events = refer(site_id=SITE)
        self.intake: IntakeRecord = record.model_copy(update={"patient_id": PATIENT})
        self.publish(e.model_copy(update={"patient_id": PATIENT}) for e in events)

    # The clock and the wires between services

    def stamp(self, producer: str, now: datetime | None = None) -> Stamp:
        return Stamp(now or self.now, producer, next(self.ids), lambda: next(self.ids))

    def publish(self, events: Iterable[EventBase]) -> None:
        events = list(events)
        for event in events:
            if event.producer == "session":
                self.heard_by_session.append(event)
        self.queues.publish(events)

    @rule(step=st.sampled_from([5, 20, 45, 90, 240, 60 * 24, 60 * 24 * 3]))
    def time_passes(self, step: int) -> None:
        self.now += minutes(step)

    @rule(
        consumer=st.sampled_from(["session", "session", "intake", "scheduling"]),
        pick=st.integers(0, 10_000),
        again=st.sampled_from([False, False, False, True]),
    )
    def deliver(self, consumer: str, pick: int, again: bool) -> None:
        """One event reaches its consumer, in any order; some are delivered twice."""
        queue = self.queues.pending[consumer]
        if not queue:
            return
        event = queue[pick % len(queue)] if again else queue.pop(pick % len(queue))
        self.hear(consumer, event)

    @rule()
    def everything_arrives(self) -> None:
        for _ in range(50):
            waiting = [(c, q.pop(0)) for c, q in self.queues.pending.items() if q]
            if not waiting:
                return
            for consumer, event in waiting:
                self.hear(consumer, event)

    def hear(self, consumer: str, event: EventBase) -> None:
        if consumer == "session":
            self.heard_by_session.append(event)
            learnt = absorb(event, self.treatment)
            self.treatment, raised = invariants.decide_unsafe_doses(
                learnt, self.stamp("session"), SESSION_RULES
            )
            if raised:
                note(f"unsafe dose raised: {raised[0].rule}")  # type: ignore[attr-defined]
            self.publish(raised)
        elif consumer == "intake":
            if isinstance(event, RiskFlagRaised):
                self.intake, _ = flags.decide_flag_raised_elsewhere(self.intake, event)
            elif isinstance(event, RiskFlagAcknowledged):
                self.intake, _ = flags.decide_flag_acknowledged_elsewhere(self.intake, event)
        elif isinstance(event, EligibilityDecided):
            self.scheduled(scheduling_domain.decide_eligibility(self.course, event, self.ctx()))
        elif isinstance(event, SessionDischarged):
            self.scheduled(scheduling_domain.decide_discharge(self.course, event, self.ctx()))

    def ctx(self) -> Context:
        return Context(NET, Occupancy(), self.stamp("scheduling"), SCHEDULING_RULES)

    def scheduled(self, outcome: Outcome) -> None:
        self.course = outcome.course
        self.publish(outcome.events)

    def attempt(self, decide: Callable[[], tuple[Any, list[EventBase]]]) -> Any:
        """Run a command; a refusal changes nothing (that is what refusing means)."""
        try:
            state, events = decide()
        except Refused:
            return None
        self.publish(events)
        return state

    # Intake

    @rule(
        kind=st.sampled_from([ConsentKind.TREATMENT, ConsentKind.REMS_ENROLMENT]),
        given=st.sampled_from([True, True, False]),
        late=st.sampled_from([0, 0, 30, 600]),
    )
    def consent(self, kind: ConsentKind, given: bool, late: int) -> None:
        at = self.now - minutes(late)
        stamp = self.stamp("intake")
        self.intake = (
            self.attempt(
                lambda: intake.decide_consent(self.intake, kind, given, stamp, recorded_at=at)
            )
            or self.intake
        )

    @rule(
        decision=st.sampled_from([Decision.APPROVED, Decision.APPROVED, Decision.DECLINED]),
        protocol=st.sampled_from([Protocol.ESKETAMINE_TRD, Protocol.IV_KETAMINE_SERIES]),
        planned=st.sampled_from([None, 2, 3]),
        late=st.sampled_from([0, 0, 120]),
    )
    def decide_eligibility(
        self, decision: Decision, protocol: Protocol, planned: int | None, late: int
    ) -> None:
        before = self.intake
        approval = review.Approval(protocol, None, decided_at=self.now - minutes(late))
        stamp = self.stamp("intake")
        decided = self.attempt(
            lambda: review.decide_eligibility(
                before, decision, approval, planned, [], "dr-psy", stamp
            )
        )
        if decided is None or decision is not Decision.APPROVED:
            self.intake = decided or self.intake
            return
        # Invariant 7: intake approved only when, by what it knew, nothing stood against it.
        assert not [f for f in before.flags.values() if not f.acknowledged]
        assert before.consent(ConsentKind.TREATMENT) is not False
        self.intake = decided

    @rule(late=st.sampled_from([0, 0, 60]))
    def psychiatrist_acknowledges_a_flag(self, late: int) -> None:
        flag_id = next((k for k, f in self.intake.flags.items() if not f.acknowledged), None)
        if flag_id is None:
            return
        stamp = self.stamp("intake", self.now - minutes(late))
        self.intake = (
            self.attempt(
                lambda: flags.decide_acknowledge(self.intake, flag_id, "dr-psy", "reviewed", stamp)
            )
            or self.intake
        )

    # Coaching

    @rule(item9=st.sampled_from([0, 1, 2]))
    def follow_up_phq9(self, item9: int) -> None:
        answers = [1, 1, 1, 1, 1, 1, 1, 1, item9]
        task_id = str(next(self.ids))
        self.coaching, events = measure_phq9(
            self.coaching, answers, task_id, self.stamp("coaching"), COACHING_RULES
        )
        self.publish(events)

    # Scheduling

    @rule(pick=st.integers(0, 100))
    def cancel_an_appointment(self, pick: int) -> None:
        if self.course is None:
            return
        live = [a for a in self.course.appointments if a.live]
        if not live:
            return
        chosen = live[pick % len(live)].appointment_id
        ctx = self.ctx()
        outcome = self.attempt(
            lambda: self.as_pair(scheduling_attendance.decide_cancel(self.course, chosen, "x", ctx))
        )
        self.course = outcome or self.course

    @rule(more=st.integers(1, 2))
    def prescriber_extends_the_course(self, more: int) -> None:
        if self.course is None:
            return
        planned = (self.course.planned_doses or 0) + more
        command = course_changes.Extend(planned, "partial response", "dr-psy")
        ctx = self.ctx()
        outcome = self.attempt(
            lambda: self.as_pair(course_changes.decide_extend(self.course, command, ctx))
        )
        self.course = outcome or self.course

    @rule(certified=st.booleans())
    def site_certification_changes(self, certified: bool) -> None:
        if self.course is None:
            return
        self.certification_changes += 1
        change = rems.CertificationChange(SITE, certified, "admin-1", self.certification_changes)
        outcome = rems.decide_site_certification(
            self.course, change, SCHEDULING_RULES, self.stamp("scheduling")
        )
        self.scheduled(outcome)

    def as_pair(self, outcome: Outcome) -> tuple[Course, list[EventBase]]:
        return outcome.course, list(outcome.events)

    # Session: the treatment day, charted now or late

    def chart(
        self, decide: Callable[[TreatmentRecord, Stamp], tuple[TreatmentRecord, list[Any]]]
    ) -> None:
        if self.treatment is None:
            return
        record, stamp = self.treatment, self.stamp("session")
        charted = self.attempt(lambda: decide(record, stamp))
        note(f"{decide.__qualname__.split('.')[1]}: {'accepted' if charted else 'refused'}")
        self.treatment = charted or self.treatment

    def open_session(self) -> Session | None:
        if self.treatment is None:
            return None
        return next((s for s in self.treatment.sessions.values() if s.is_open), None)

    @rule(pick=st.integers(0, 100), late=st.sampled_from([0, 0, 20, 240]))
    def check_in(self, pick: int, late: int) -> None:
        if self.treatment is None or not self.treatment.bookings:
            return
        bookings = sorted(self.treatment.bookings)
        command = session.CheckIn(bookings[pick % len(bookings)], self.now - minutes(late))
        self.chart(lambda r, s: session.decide_check_in(r, command, s, SESSION_RULES))

    @rule(pick=st.integers(0, 100), dose=st.sampled_from([True, True, False]))
    def start_a_treatment_day(self, pick: int, dose: bool) -> None:
        """Check-in and a passing pre-dose BP now, often the dose five minutes later: the usual
        start, so runs reach doses (the facts may still change in between, or arrive late)."""
        self.check_in(pick, 0)
        self.vitals((128, 80), 0)
        if dose:
            self.now += minutes(5)
            self.dose(56.0, 0)

    @rule()
    def monitor_and_discharge(self) -> None:
        """The ~40-minute recheck, a reading before discharge and the discharge itself,
        charted when they happen (the clock moves to the discharge)."""
        current = self.open_session()
        if current is None or current.dose is None:
            return
        dosed = current.dose.administered_at
        for offset in (40, 130):
            self.now = max(self.now, dosed + minutes(offset))
            self.vitals((128, 80), 0)
        self.now = max(self.now, dosed + minutes(135))
        self.discharge(0)

    @rule(
        bp=st.sampled_from([(128, 80), (128, 80), (150, 95), (172, 104)]),
        late=st.sampled_from([0, 0, 10]),
    )
    def vitals(self, bp: tuple[int, int], late: int) -> None:
        current = self.open_session()
        if current is None:
            return
        command = session.RecordVitals(
            current.session_id, bp[0], bp[1], 70, 98, self.now - minutes(late)
        )
        self.chart(lambda r, s: session.decide_vitals(r, command, s, SESSION_RULES))

    @rule()
    def prescriber_overrides_a_hold(self) -> None:
        current = self.open_session()
        if current is None:
            return
        command = gates.OverrideDoseHold(current.session_id, "dr-psy", "reviewed", self.now)
        self.chart(lambda r, s: gates.decide_override_hold(r, command, s, SESSION_RULES))

    @rule(mg=st.sampled_from([56.0, 56.0, 84.0]), late=st.sampled_from([0, 0, 15]))
    def dose(self, mg: float, late: int) -> None:
        current = self.open_session()
        if current is None:
            return
        iv = current.protocol is Protocol.IV_KETAMINE_SERIES
        command = dosing.AdministerDose(
            current.session_id,
            35.0 if iv else mg,
            "LOT-1",
            70.0 if iv else None,
            "rn-1",
            self.now - minutes(late),
        )
        self.chart(lambda r, s: dosing.decide_dose(r, command, s, SESSION_RULES))

    @rule()
    def serious_adverse_event(self) -> None:
        current = self.open_session()
        if current is None:
            return
        command = safety.ReportAdverseEvent(
            current.session_id, "hypertension", AdverseEventSeverity.SEVERE, True, "rn-1", self.now
        )
        self.chart(lambda r, s: safety.decide_adverse_event(r, command, s, SESSION_RULES))

    @rule()
    def prescriber_accepts_the_last_reading(self) -> None:
        current = self.open_session()
        if current is None:
            return
        command = gates.AcceptDischargeBloodPressure(
            current.session_id, "dr-psy", "baseline", self.now
        )
        self.chart(lambda r, s: gates.decide_accept_discharge_bp(r, command, s, SESSION_RULES))

    @rule(late=st.sampled_from([0, 0, 5]))
    def discharge(self, late: int) -> None:
        current = self.open_session()
        if current is None:
            return
        command = discharge.DischargePatient(
            current.session_id, True, True, True, True, True, self.now - minutes(late)
        )
        self.chart(lambda r, s: discharge.decide_discharge(r, command, s, SESSION_RULES))

    # The invariants

    def sessions(self) -> list[Session]:
        return list(self.treatment.sessions.values()) if self.treatment else []

    @invariant()
    def facts_in_order_within_each_treatment_day(self) -> None:
        """Invariant 1."""
        received = self.treatment.received_at if self.treatment else None
        for s in self.sessions():
            assert received is None or s.checked_in_at >= received
            times = [r.observed_at for r in s.vitals]
            assert times == sorted(times)
            assert all(t >= s.checked_in_at for t in times)
            if s.dose is not None:
                pre = [r.observed_at for r in s.vitals if r.pre_dose]
                post = [r.observed_at for r in s.vitals if not r.pre_dose]
                assert all(t <= s.dose.administered_at for t in pre)
                assert all(t >= s.dose.administered_at for t in post)
            if s.discharge is not None:
                assert all(t <= s.discharge.discharged_at for t in times)

    @invariant()
    def one_treatment_day_at_a_time(self) -> None:
        """Invariant 2."""
        assert sum(s.is_open for s in self.sessions()) <= 1
        doses = sorted(
            (s.dose.administered_at, s.dose_number, s.protocol)
            for s in self.sessions()
            if s.dose is not None
        )
        for (earlier, n, _), (later, m, protocol) in itertools.pairwise(doses):
            assert n < m
            days = (later.astimezone(ZONE).date() - earlier.astimezone(ZONE).date()).days
            assert days >= SESSION_RULES.min_gap_days(protocol)

    @invariant()
    def each_dose_after_a_recent_passing_pre_dose_reading(self) -> None:
        """Invariant 3 (the reading)."""
        for s in self.sessions():
            if s.dose is None:
                continue
            pre = [r for r in s.vitals if r.pre_dose]
            assert pre
            last = pre[-1]
            assert s.dose.administered_at - last.observed_at <= minutes(61)
            above = last.systolic > 140 or last.diastolic > 90
            assert not above or any(
                h.overridden_by for h in s.holds if h.observed_at == last.observed_at
            )

    @invariant()
    def every_dose_against_the_facts_was_refused_or_raised(self) -> None:
        """Invariants 3, 4 and 6: by what the session has heard, a dose the facts did not allow
        slipped through the window between services and is raised, once per rule."""
        for s in self.sessions():
            if s.dose is None:
                continue
            broken = oracle_refusals(self.heard_by_session, s, s.dose.administered_at)
            assert broken <= set(s.breaches), (broken, s.breaches)

    @invariant()
    def every_discharge_met_its_conditions(self) -> None:
        """Invariant 5."""
        for s in self.sessions():
            if s.discharge is None or s.dose is None:
                continue
            leaving, dosed = s.discharge.discharged_at, s.dose.administered_at
            floor = discharge.required_monitoring_minutes(s.protocol, SESSION_RULES)
            assert leaving - dosed >= minutes(floor)
            post = [r for r in s.vitals if not r.pre_dose]
            assert any(r.observed_at - dosed >= minutes(30) for r in post)
            assert any(leaving - r.observed_at <= minutes(15) for r in post)
            last = post[-1]
            if last.systolic > 140 or last.diastolic > 90:
                accepted = s.discharge_bp_accepted
                assert accepted is not None
                assert accepted.observed_at >= last.observed_at


EXAMPLES = int(os.environ.get("SAFETY_MODEL_EXAMPLES", "40"))
CrossServiceSafety.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestCrossServiceSafety = CrossServiceSafety.TestCase
