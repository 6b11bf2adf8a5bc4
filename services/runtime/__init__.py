"""Shared plumbing of every service: settings, logging, broker, outbox, inbox, DLQ, auth."""
