"""The Spravato REMS Patient Monitoring Form: assembled from the session, then submitted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.envelope import Stamp
from contracts.session import BloodPressure, MonitoringForm, MonitoringFormSubmitted
from services.session.chart import Reading, Session, check_observed_at, envelope, whole_minutes
from services.session.clocks import FORM_OVERDUE
from services.session.discharge import check_ready_to_leave
from services.session.record import SessionRuleViolation, TreatmentRecord, session_of, with_session
from services.session.rules import SessionRules


class MonitoringFormNotRequired(SessionRuleViolation):
    """Only discharged sessions of a REMS protocol (esketamine) have a monitoring form."""


class MonitoringFormAlreadySubmitted(SessionRuleViolation):
    """The session's REMS Patient Monitoring Form was already submitted."""


class MonitoringFormIncomplete(SessionRuleViolation):
    """The REMS form needs every field; `reasons` names the ones neither the chart nor the
    submission supplied."""


@dataclass(frozen=True)
class SubmitForm:
    session_id: str
    submitted_by: str
    observed_at: datetime
    ready_to_leave_at: datetime | None = None
    sedation_observed: bool | None = None
    dissociation_observed: bool | None = None


def _bp(reading: Reading | None) -> BloodPressure | None:
    if reading is None:
        return None
    return BloodPressure(
        systolic=reading.systolic,
        diastolic=reading.diastolic,
        minutes_since_dose=reading.minutes_since_dose,
    )


def bp_at_40_min(session: Session, rules: SessionRules) -> Reading | None:
    """The post-dose reading nearest the 40-minute recheck, from 30 minutes on."""
    earliest = rules.bp_recheck_min - rules.bp_recheck_early_min
    candidates = [
        r
        for r in session.vitals
        if r.minutes_since_dose is not None and r.minutes_since_dose >= earliest
    ]
    return min(
        candidates,
        key=lambda r: abs((r.minutes_since_dose or 0) - rules.bp_recheck_min),
        default=None,
    )


def form_fields(
    session: Session, command: SubmitForm | None, rules: SessionRules
) -> dict[str, Any]:
    """Every field of the form the chart (and the submission, where it adds) can fill."""
    dose, discharge = session.dose, session.discharge
    if dose is None or discharge is None:
        raise MonitoringFormNotRequired(session.session_id)
    ready = (command and command.ready_to_leave_at) or discharge.ready_to_leave_at
    check_ready_to_leave(ready, dose.administered_at, discharge.discharged_at)

    def given(submitted: bool | None, charted: bool | None) -> bool | None:
        return submitted if submitted is not None else charted

    pre = [r for r in session.vitals if r.pre_dose]
    post = [r for r in session.vitals if not r.pre_dose]
    return {
        "dose_mg": dose.dose_mg,
        "devices": dose.devices,
        "lot_number": dose.lot_number,
        "dosed_at": dose.administered_at,
        "monitoring_minutes": discharge.monitoring_minutes,
        "ready_to_leave_at": ready,
        "ready_to_leave_minutes": whole_minutes(dose.administered_at, ready) if ready else None,
        "bp_pre_dose": _bp(pre[-1] if pre else None),
        "bp_40_min": _bp(bp_at_40_min(session, rules)),
        "bp_pre_discharge": _bp(post[-1] if post else None),
        "vitals_acceptable": discharge.vitals_acceptable,
        "sedation_observed": given(
            command.sedation_observed if command else None, discharge.sedation_observed
        ),
        "dissociation_observed": given(
            command.dissociation_observed if command else None, discharge.dissociation_observed
        ),
        "concomitant_medication_flags": [flag.interaction for flag in session.interactions],
        "adverse_events": [ae.kind for ae in session.adverse_events],
    }


OPTIONAL = frozenset({"devices", "bp_40_min"})


def draft(session: Session, rules: SessionRules) -> dict[str, Any]:
    """The form as it stands: its fields, what is still missing, its deadline and status."""
    if session.monitoring_form is None:
        raise MonitoringFormNotRequired(session.session_id)
    fields = form_fields(session, None, rules)
    form = session.monitoring_form
    return {
        "fields": {k: v.model_dump(mode="json") if hasattr(v, "model_dump") else v
                   for k, v in fields.items()},
        "missing": [k for k, v in fields.items() if v is None and k not in OPTIONAL],
        "due_by": form.due_by,
        "submitted_at": form.submitted_at,
        "submitted": form.content.model_dump(mode="json") if form.content else None,
        "overdue": form.overdue,
    }  # fmt: skip


def decide_submit_form(
    record: TreatmentRecord, command: SubmitForm, stamp: Stamp, rules: SessionRules
) -> tuple[TreatmentRecord, list[MonitoringFormSubmitted]]:
    """Spravato REMS: the healthcare setting submits the Patient Monitoring Form for every
    treatment session, within 7 days. A late submission is accepted and clears the alert. The
    form follows the discharge it reports (DESIGN safety invariant 1)."""
    session = session_of(record, command.session_id).model_copy(deep=True)
    form = session.monitoring_form
    if form is None:
        raise MonitoringFormNotRequired(session.session_id)
    if form.submitted_at is not None:
        raise MonitoringFormAlreadySubmitted(session.session_id)
    discharged = session.discharge.discharged_at if session.discharge else None
    check_observed_at(command.observed_at, stamp.now, rules, not_before=discharged)
    fields = form_fields(session, command, rules)
    missing = [k for k, v in fields.items() if v is None and k not in OPTIONAL]
    if missing:
        raise MonitoringFormIncomplete(*missing)
    content = MonitoringForm.model_validate(fields)
    form.submitted_at, form.submitted_by = command.observed_at, command.submitted_by
    form.content = content
    alert = session.alert(FORM_OVERDUE)
    if alert is not None:
        alert.resolved_at = command.observed_at
    event = MonitoringFormSubmitted(
        **envelope(stamp, command.observed_at, record.patient_id, session.site_id),
        session_id=session.session_id,
        submitted_by=command.submitted_by,
        form=content,
    )
    return with_session(record, session), [event]
