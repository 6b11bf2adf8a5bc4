"""Shared plumbing every service is built from: settings, logging, broker, outbox, inbox, DLQ, auth."""
