"""The dashboard's queries give the reference answer on the real MongoDB-wire server."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.journey import queries
from services.runtime.settings import Settings
from tests.service.test_journey_read_models import NOW, SITE, synthetic

pytestmark = pytest.mark.infra


async def test_the_dashboard_queries_on_the_server_equal_the_reference(
    settings: Settings, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    journeys = [synthetic(n) for n in range(1500)]
    summaries = mongo[f"{settings.deployment}_journey"]["journeys_summary"]
    for field in queries.SUMMARY_INDEXES:
        await summaries.create_index(field)
    for first in range(0, len(journeys), 100):
        await summaries.insert_many([queries.summary_of(j) for j in journeys[first : first + 100]])
    phases = await (await summaries.aggregate(queries.by_phase(SITE.site_id))).to_list()
    late = await summaries.find({"site_id": SITE.site_id, "first_task_due": {"$lt": NOW}},
                                {"task_due": 1}).to_list()  # fmt: skip
    days = {"$in": queries.days_of(NOW, SITE.zone)}
    dosing = await summaries.find({"site_id": SITE.site_id, "dosing_days": days},
                                  {"dosing": 1}).to_list()  # fmt: skip
    board = queries.board(SITE.site_id, phases, late, dosing, NOW, SITE.zone)
    assert board == queries.dashboard(SITE.site_id, journeys, NOW, SITE.zone)
    assert (len(late), len(dosing)) == (2, 2), "only the late and today's patients are read"
