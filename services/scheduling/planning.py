"""Course generation: dose days from the protocol's phases, then the first free slot for the
preparation session, each dose and the integration session after it.

Pure: dates derive from the approval day, the site's calendar and the occupancy passed in.
Everything placed is added to a private copy of the occupancy, so a course never collides
with itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from contracts.scheduling import Frequency
from contracts.vocabulary import AppointmentKind, CoursePhase
from services.scheduling.course import Appointment, entity_id
from services.scheduling.network import ClinicNetwork, Site, Weekday
from services.scheduling.rules import PhasePlan, ProtocolPlan, SchedulingRules
from services.scheduling.slots import Need, Occupancy, Placement, claims, first_fit


@dataclass(frozen=True)
class DoseTarget:
    """Dose `number` belongs on `target`; it may move up to `latest` (same course week) when
    the site is closed or full, and never closer than `min_gap_days` to the previous dose."""

    number: int
    phase: CoursePhase
    frequency: Frequency
    target: date
    latest: date
    min_gap_days: int


def next_weekday(after: date, weekdays: tuple[Weekday, ...], inclusive: bool = False) -> date:
    day = after if inclusive else after + timedelta(days=1)
    while Weekday.of(day) not in weekdays:
        day += timedelta(days=1)
    return day


def weekday_pattern(phase: PhasePlan, site: Site, earliest: date) -> tuple[Weekday, ...]:
    """The fixed weekday set that starts soonest on or after `earliest`, among the sets whose
    weekdays the site is open on every week (the first listed wins a tie)."""
    open_sets = [s for s in phase.weekdays if all(site.hours.get(d) for d in s)] or [
        phase.weekdays[0]
    ]
    return min(open_sets, key=lambda s: next_weekday(earliest, s, inclusive=True))


def dose_targets(
    plan: ProtocolPlan, site: Site, first_day: date, planned: int, frequency: Frequency | None
) -> list[DoseTarget]:
    """Target days for doses 1..planned, phase by phase (see the protocol docstrings in
    rules.py). Weekday phases keep fixed weekdays; interval phases count from the previous
    target, so a dose moved by a holiday does not drag the rest of the course with it.
    `frequency` (a prescriber's override) replaces the open-ended last phase's pattern."""
    targets: list[DoseTarget] = []
    previous: date | None = None
    for index, phase in enumerate(_phases(plan, frequency)):
        last_phase = index == len(plan.phases) - 1
        count = planned - len(targets) if (phase.doses is None or last_phase) else phase.doses
        count = min(count, planned - len(targets))
        if count <= 0:
            break
        if phase.weekdays:
            earliest = first_day if previous is None else previous + timedelta(days=1)
            pattern = weekday_pattern(phase, site, earliest)
            day = next_weekday(earliest, pattern, inclusive=True)
            week_start = day
            for _ in range(count):
                week_end = week_start + timedelta(days=6 + 7 * ((day - week_start).days // 7))
                targets.append(_target(len(targets) + 1, phase, day, week_end))
                previous, day = day, next_weekday(day, pattern)
        else:
            interval = timedelta(days=phase.interval_days or 7)
            day = first_day if previous is None else previous + interval
            for _ in range(count):
                targets.append(_target(len(targets) + 1, phase, day, day + interval / 2))
                previous, day = day, day + interval
    return targets


def _phases(plan: ProtocolPlan, frequency: Frequency | None) -> tuple[PhasePlan, ...]:
    if frequency is None:
        return plan.phases
    chosen = next((p for p in plan.phases if p.frequency == frequency), None)
    if chosen is None:
        return plan.phases
    return (*plan.phases[:-1], chosen.model_copy(update={"doses": None}))


def _target(number: int, phase: PhasePlan, day: date, latest: date) -> DoseTarget:
    return DoseTarget(number, phase.phase, phase.frequency, day, latest, phase.min_gap_days)


def candidate_days(target: DoseTarget, previous: date | None, search_days: int) -> list[date]:
    """The target day, later days of its week, one day earlier, then past the week."""
    span = (target.latest - target.target).days
    days = [target.target + timedelta(days=n) for n in range(span + 1)]
    days.append(target.target - timedelta(days=1))
    days += [target.latest + timedelta(days=n) for n in range(1, search_days + 1)]
    if previous is None:
        return days
    return [d for d in days if (d - previous).days >= target.min_gap_days]


@dataclass
class Planner:
    """Places appointments for one patient against a growing private occupancy."""

    patient_id: str
    site: Site
    network: ClinicNetwork
    occupancy: Occupancy
    rules: SchedulingRules

    def place(
        self,
        need: Need,
        days: list[date],
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> Placement | None:
        for day in days:
            placement = first_fit(
                need,
                self.site,
                self.network,
                self.occupancy,
                self.patient_id,
                day,
                not_before,
                not_after,
            )
            if placement is not None:
                self.hold(placement)
                return placement
        return None

    def hold(self, placement: Placement) -> None:
        wanted = claims(placement, self.patient_id, self.network)
        self.occupancy.add(wanted, placement.starts_at, placement.ends_at)

    def local_day(self, instant: datetime) -> date:
        return instant.astimezone(self.site.zone).date()

    def preparation(self, approved_on: date) -> Appointment | None:
        """DESIGN journey step 3: a preparation session before the first treatment day."""
        need = Need.of(AppointmentKind.PREPARATION, self.rules.preparation_minutes)
        first = approved_on + timedelta(days=self.rules.preparation_lead_days)
        days = [first + timedelta(days=n) for n in range(self.rules.placement_search_days)]
        placement = self.place(need, days)
        if placement is None:
            return None
        return Appointment(
            appointment_id=entity_id("apt", self.patient_id, "prep"),
            kind=AppointmentKind.PREPARATION,
            **placement.model_dump(),
        )

    def dose(
        self,
        target: DoseTarget,
        previous: date | None,
        plan: ProtocolPlan,
        earliest: date,
        kind: AppointmentKind = AppointmentKind.DOSING,
        suffix: str | None = None,
    ) -> Appointment | None:
        """A monitored dosing slot as long as the protocol's monitoring needs (esketamine
        >= 2 h after the dose per Spravato REMS), on the target day or the nearest allowed."""
        need = Need.of(kind, plan.dose_minutes)
        days = [
            d
            for d in candidate_days(target, previous, self.rules.placement_search_days)
            if d >= earliest
        ]
        placement = self.place(need, days)
        if placement is None:
            return None
        return Appointment(
            appointment_id=entity_id("apt", self.patient_id, suffix or f"dose-{target.number}"),
            kind=kind,
            dose_number=target.number,
            course_phase=target.phase,
            **placement.model_dump(),
        )

    def integration(self, dose: Appointment) -> Appointment | None:
        """DESIGN 'After treatment': an integration session within 72 h (configurable) of each
        treatment day, not before the patient has slept on it (min hours after the dose).
        When closed days leave no slot in the window, the first slot after it: late
        integration beats none."""
        need = Need.of(AppointmentKind.INTEGRATION, self.rules.integration_minutes)
        not_before = dose.ends_at + timedelta(hours=self.rules.integration_min_hours_after_dose)
        not_after = dose.ends_at + timedelta(hours=self.rules.integration_within_hours)
        first, last = self.local_day(not_before), self.local_day(not_after)
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        placement = self.place(need, days, not_before, not_after)
        if placement is None:
            later = [last + timedelta(days=n) for n in range(self.rules.placement_search_days)]
            placement = self.place(need, later, not_before)
        if placement is None:
            return None
        suffix = f"int-{dose.dose_number}" if dose.dose_number else f"int-{dose.appointment_id}"
        return Appointment(
            appointment_id=entity_id("apt", self.patient_id, suffix[:20]),
            kind=AppointmentKind.INTEGRATION,
            for_dose=dose.dose_number,
            **placement.model_dump(),
        )


@dataclass(frozen=True)
class CoursePlan:
    appointments: tuple[Appointment, ...]
    doses_placed: int


def plan_course(
    planner: Planner, plan: ProtocolPlan, planned: int, approved_at: datetime
) -> CoursePlan:
    """Preparation, then every planned dose, each followed by its integration session. Stops
    at the first dose that finds no slot (the discharge rule books it later)."""
    preparation = planner.preparation(planner.local_day(approved_at))
    if preparation is None:
        return CoursePlan((), 0)
    earliest = planner.local_day(preparation.starts_at) + timedelta(
        days=planner.rules.first_dose_days_after_preparation
    )
    booked: list[Appointment] = [preparation]
    previous: date | None = None
    doses = 0
    for target in dose_targets(plan, planner.site, earliest, planned, None):
        dose = planner.dose(target, previous, plan, earliest)
        if dose is None:
            break
        doses += 1
        previous = planner.local_day(dose.starts_at)
        integration = planner.integration(dose)
        booked += [dose, *([integration] if integration else [])]
    return CoursePlan(tuple(booked), doses)


def utc_day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
