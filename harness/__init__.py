"""Synthetic traffic, real-server provisioning and in-process service runners shared by the
benchmarks, the demo tooling and the connected test tiers (ids only, never personal data)."""
