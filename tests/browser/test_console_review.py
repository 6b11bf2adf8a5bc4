"""A psychiatrist reviews in the browser: no approval while a risk flag is open."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from demo.client import Api
from tests.browser.conftest import check_screen, sign_in
from tests.browser.seed import AT_RISK, awaiting_review

pytestmark = pytest.mark.infra


def test_a_psychiatrist_cannot_approve_while_a_risk_flag_is_open(page: Page, stack: Api) -> None:
    pid = awaiting_review(stack, AT_RISK)
    sign_in(page, "dr-north-1")
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    row = page.locator("tr", has=page.locator(f'a[href="/review/patients/{pid}"]'))
    expect(row).to_contain_text("1 open")
    check_screen(page, "review-queue")
    row.get_by_role("link").click()
    page.get_by_role("button", name="Approve").click()
    refusal = page.locator("#r-decision .refusal")
    expect(refusal).to_contain_text("A risk flag is still open")
    expect(refusal).to_contain_text("UnacknowledgedRiskFlag")
    check_screen(page, "review-refused")
    page.get_by_label("Acknowledgement note").fill("Reviewed with the patient; safety plan.")
    page.get_by_role("button", name="Acknowledge flag").click()
    expect(page.locator(".tag.ok", has_text="acknowledged by dr-north-1")).to_be_visible()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("decision: approved")).to_be_visible()
