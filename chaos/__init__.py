"""Fault injection with a ledger checker: processes die under load; is anything lost or
duplicated?"""
