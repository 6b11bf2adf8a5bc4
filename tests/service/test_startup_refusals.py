"""Startup refusals, as a process: outside DEV_MODE the intake service does not start with the
default JWT secret, nor without an identity key-encryption key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.runtime.auth import DEFAULT_JWT_SECRET

STRONG = "a-production-secret-of-at-least-32-bytes!"


@pytest.mark.parametrize(
    ("env", "refusal"),
    [
        ({"JWT_SECRET": DEFAULT_JWT_SECRET}, "InsecureTokenSettings"),
        ({"JWT_SECRET": STRONG}, "KeyConfigurationError"),
    ],
)
def test_the_intake_process_refuses_to_start_outside_dev_mode(
    env: dict[str, str], refusal: str
) -> None:
    """A default secret, or no identity KEK, stops the process before it listens."""
    started = subprocess.run(
        [sys.executable, "-m", "services.intake"],
        env={**os.environ, "DEV_MODE": "false", "HTTP_PORT": "1", **env},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert started.returncode != 0
    assert refusal in started.stderr.decode()
