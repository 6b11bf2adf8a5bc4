"""Enumerations shared by several events: protocols, bands, risk kinds, task kinds."""

from enum import StrEnum


class Protocol(StrEnum):
    ESKETAMINE_TRD = "esketamine_trd"
    IV_KETAMINE_SERIES = "iv_ketamine_series"
    IM_KETAMINE = "im_ketamine"
    SUBLINGUAL_LOZENGE = "sublingual_lozenge"
    LOW_DOSE_KAP = "low_dose_kap"


class Modality(StrEnum):
    INTRANASAL = "intranasal"
    INTRAVENOUS = "intravenous"
    INTRAMUSCULAR = "intramuscular"
    SUBLINGUAL = "sublingual"


class Phq9Band(StrEnum):
    MINIMAL = "minimal"
    MILD = "mild"
    MODERATE = "moderate"
    MODERATELY_SEVERE = "moderately_severe"
    SEVERE = "severe"


class Gad7Band(StrEnum):
    MINIMAL = "minimal"
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class CssrsRisk(StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class RiskKind(StrEnum):
    PHQ9_ITEM9 = "phq9_item9"
    CSSRS_HIGH = "cssrs_high"
    SERIOUS_ADVERSE_EVENT = "serious_adverse_event"
    UNSAFE_DOSE = "unsafe_dose"


class RiskSeverity(StrEnum):
    URGENT = "urgent"
    HIGH = "high"


class Interaction(StrEnum):
    LEVOTHYROXINE = "levothyroxine"
    MAOI = "maoi"
    PSYCHOSTIMULANT = "psychostimulant"
    CNS_DEPRESSANT = "cns_depressant"
    CYP3A4_MODIFIER = "cyp3a4_modifier"


class Decision(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    NEEDS_MORE_INFORMATION = "needs_more_information"


class CoveragePathway(StrEnum):
    ESKETAMINE_COVERED = "esketamine_covered"
    IV_PARTIAL_OR_REIMBURSEMENT = "iv_partial_or_reimbursement"
    SELF_PAY = "self_pay"


class ConsentKind(StrEnum):
    TREATMENT = "treatment"
    REMS_ENROLMENT = "rems_enrolment"
    DATA_SHARING = "data_sharing"


class AppointmentKind(StrEnum):
    PREPARATION = "preparation"
    DOSING = "dosing"
    INTEGRATION = "integration"
    BOOSTER = "booster"


class CoursePhase(StrEnum):
    INDUCTION = "induction"
    MAINTENANCE = "maintenance"


class AdverseEventSeverity(StrEnum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class TaskKind(StrEnum):
    INTEGRATION_BOOKING = "integration_booking"
    COACH_CHECK_IN = "coach_check_in"
    LIFESTYLE_PLAN = "lifestyle_plan"
    PHQ9 = "phq9"
