"""Scheduling: treatment courses, preparation and dosing appointments, REMS site rules."""
