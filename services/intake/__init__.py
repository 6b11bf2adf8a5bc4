"""Intake: referrals, identity, screening, safety rules and prescriber eligibility review."""
