"""A site lead reads the dashboard, filters the patient list and opens a journey."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from demo.client import Api
from tests.browser.conftest import check_screen, sign_in
from tests.browser.seed import CALM, referred

pytestmark = pytest.mark.infra


def test_a_site_lead_sees_the_dashboard_and_a_journey(page: Page, stack: Api) -> None:
    pid = referred(stack, CALM)
    sign_in(page, "lead-north")
    expect(page.get_by_role("heading", name="North Clinic — dashboard")).to_be_visible()
    page.select_option("#phase", "awaiting_review")
    page.get_by_role("button", name="Filter").click()
    for _ in range(40):
        if page.locator(f'a[href="/site/patients/{pid}"]').count():
            break
        page.wait_for_timeout(500)
        page.reload()
    check_screen(page, "site-dashboard")
    page.locator(f'a[href="/site/patients/{pid}"]').first.click()
    expect(page.get_by_role("cell", name="PatientReferred")).to_be_visible()
    check_screen(page, "site-journey")
