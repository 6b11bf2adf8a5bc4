"""Benchmarks that print numbers (`make bench`); never timed assertions in tests."""
