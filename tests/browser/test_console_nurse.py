"""A nurse runs a treatment day in the browser, charting late entries (observed_at) as the
demo does: discharge at 119 minutes after the dose is refused with the API's reason, at 120
it goes through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from demo.client import Api
from tests.browser.conftest import check_screen, sign_in
from tests.browser.seed import approved

pytestmark = pytest.mark.infra
NORTH = ZoneInfo("America/New_York")


def test_a_nurse_is_refused_discharge_at_119_minutes_and_discharges_at_120(
    page: Page, stack: Api
) -> None:
    pid, appointment = approved(stack, meds=["levothyroxine"])
    t0 = datetime.now(UTC) - timedelta(minutes=15 + 120 + 5)

    def at(minutes: int) -> str:
        return (t0 + timedelta(minutes=minutes)).astimezone(NORTH).strftime("%Y-%m-%dT%H:%M:%S")

    def vitals(systolic: int, diastolic: int, minutes: int) -> None:
        page.get_by_label("Systolic").fill(str(systolic))
        page.get_by_label("Diastolic").fill(str(diastolic))
        page.get_by_label("Heart rate").fill("74")
        page.get_by_label("SpO₂ %").fill("98")
        page.locator("#vitals-at").fill(at(minutes))
        page.get_by_role("button", name="Record vitals").click()
        expect(page.get_by_role("cell", name=f"{systolic}/{diastolic}")).to_be_visible()

    sign_in(page, "rn-north-1")
    expect(page.get_by_role("heading", name="Treatment day — North Clinic")).to_be_visible()
    check_screen(page, "nurse-day")
    check_in = page.locator("form", has=page.locator(f'input[value="{appointment}"]'))
    check_in.locator('input[name="observed_at"]').fill(at(0))
    check_in.get_by_role("button", name="Check in").click()
    expect(page.get_by_role("heading", name=f"Patient {pid}")).to_be_visible()
    page.locator("#ack-at").fill(at(1))
    page.get_by_role("button", name="Acknowledge interactions").click()
    expect(page.get_by_role("button", name="Acknowledge interactions")).to_have_count(0)
    vitals(132, 84, 10)
    page.get_by_label("Lot number").fill("LOT-BROWSER-1")
    page.locator("#dose-at").fill(at(15))
    page.get_by_role("button", name="Record dose").click()
    expect(page.get_by_text("Dose: 56.0 mg")).to_be_visible()
    expect(page.locator("#since")).to_contain_text("min since dose")
    vitals(138, 86, 55)
    vitals(126, 80, 15 + 114)
    expect(page.locator("#gate-clock")).to_contain_text("Monitoring floor met (120 min)")
    check_screen(page, "nurse-session")
    for check in ("Sedation resolved", "Dissociation resolved", "Respiratory status normal",
                  "Vitals acceptable", "Transport home confirmed"):  # fmt: skip
        page.get_by_label(check).check()
    page.locator("#discharge-at").fill(at(15 + 119))
    page.get_by_role("button", name="Discharge").click()
    refusal = page.locator("#r-discharge .refusal")
    expect(refusal).to_contain_text("Discharge is not allowed yet")
    expect(refusal).to_contain_text("monitoring_time: 119 of 120 min")
    check_screen(page, "nurse-discharge-refused")
    page.locator("#discharge-at").fill(at(15 + 120))
    page.get_by_role("button", name="Discharge").click()
    expect(page.get_by_text("after 120 min of monitoring")).to_be_visible()
    expect(page.locator("#since")).to_contain_text("Discharged")
