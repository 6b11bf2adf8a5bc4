"""Refusals in plain words. The rule's own `reasons` are always shown beside these, verbatim."""

from __future__ import annotations

import re

RULES = {
    "DischargeConditionsUnmet": "Discharge is not allowed yet. Still unmet:",
    "UnacknowledgedRiskFlag": "A risk flag is still open: acknowledge it before approving.",
    "OpenRiskFlag": "An open risk flag blocks treatment until a clinician acknowledges it.",
    "TreatmentConsentNotGiven": "Treatment consent has not been given.",
    "TreatmentConsentMissing": "Treatment consent has not been given.",
    "RemsEnrolmentMissing": "The patient is not enrolled in the Spravato REMS.",
    "SiteNotRemsCertified": "This site is not REMS-certified for esketamine.",
    "EligibilityNotApproved": "The patient's eligibility has not been approved.",
    "PreDoseVitalsMissing": "Chart a pre-dose blood pressure first.",
    "PreDoseVitalsStale": "The pre-dose blood pressure is too old: take it again.",
    "DoseHeldForBloodPressure": "The dose is held for blood pressure: recheck, or a "
    "prescriber overrides with a reason.",
    "InteractionsNotAcknowledged": "Acknowledge the interaction flags first.",
    "TreatmentDayAlreadyOpen": "Another treatment day of this patient is still open.",
    "AlreadyDosed": "This treatment day already has its dose.",
    "EsketamineDoseNotAllowed": "That esketamine dose is not allowed.",
    "ObservedAtOutOfRangeError": "That time is out of order with what is already charted.",
    "ObservedBeforeReferral": "That time is before the referral reached the clinic.",
    "ChartedInTheFuture": "That time is in the future.",
    "Phq9AnswersRequiredError": "A PHQ-9 task needs all nine answers.",
    "TaskAlreadyCompletedError": "This task was already completed.",
    "TaskOfAnotherCoachError": "This task belongs to another coach.",
    "InvalidRequest": "Some values are not valid:",
    "Unavailable": "The service did not answer; nothing was saved. Try again.",
}
STATUS = {
    401: "Your sign-in has expired: sign in again.",
    403: "You are not allowed to do this.",
    404: "Not found, or not within your sites.",
    503: "The service is busy; nothing was saved. Try again in a moment.",
}


def spaced(name: str) -> str:
    """`DoseBeforeMinimumGap` -> `Dose before minimum gap`."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name.removesuffix("Error")).lower()
    return words[:1].upper() + words[1:]


def plain_words(status: int, error: str, detail: str) -> str:
    if error in RULES:
        return RULES[error]
    if status in STATUS and not error:
        return STATUS[status]
    if error:
        return f"{spaced(error)}." + (f" {detail}" if detail and detail != error else "")
    return detail or STATUS.get(status, "The request was refused.")
