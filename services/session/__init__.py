"""The session (treatment-day) service: check-in, vitals, dose, monitoring and discharge."""
