"""The outside trial (`make unsafe`, `demo.unsafe`) against the five services as processes: every
unsafe attempt a careful clinician would try through the public HTTP APIs is refused, each for
the rule DESIGN's safety invariants name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo import unsafe
from demo.client import Api
from services.runtime.settings import Settings
from tests.support.processes import service_processes

pytestmark = pytest.mark.infra


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[Api]:
    """All five services as subprocesses of a throwaway deployment (own topics and databases)."""
    with service_processes(settings, tmp_path) as api:
        yield api


def test_every_unsafe_attempt_from_outside_is_refused_for_its_rule(stack: Api) -> None:
    attempts = unsafe.run(stack)
    assert len(attempts) >= 30
    accepted = [a.label for a in attempts if a.accepted]
    assert not accepted, f"unsafe attempts accepted: {accepted}"
    wrong = [f"{a.label}: expected {a.expected}, got {a.actual} ({a.reasons})"
             for a in attempts if not a.refused_as_expected]  # fmt: skip
    assert not wrong, "\n".join(wrong)
