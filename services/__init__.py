"""KAP care-coordination services: intake, scheduling, session, coaching, journey."""
