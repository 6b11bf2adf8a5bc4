"""Integration/coaching: coach assignment, follow-up tasks after discharge, PHQ-9 outcomes."""
