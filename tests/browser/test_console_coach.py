"""A coach works the queue in the browser: a PHQ-9 check-in, the chart, and nobody else's
patients."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from demo.client import Api
from tests.browser.conftest import check_screen, sign_in
from tests.browser.seed import treated

pytestmark = pytest.mark.infra
ANSWERS = [1, 1, 1, 0, 1, 0, 1, 0, 0]


def test_a_coach_completes_a_phq9_task_and_the_chart_gains_a_point(page: Page, stack: Api) -> None:
    journey = treated(stack)
    pid, coach = journey["patient_id"], journey["coach_id"]
    task = next(t for t in journey["open_tasks"] if t["kind"] == "phq9")
    sign_in(page, coach)
    expect(page.get_by_role("heading", name="My queue")).to_be_visible()
    check_screen(page, "coach-queue")
    page.locator(f'a[href="/coach/patients/{pid}/tasks/{task["task_id"]}"]').click()
    expect(page.locator("circle.phq9-point")).to_have_count(1)
    for item, answer in enumerate(ANSWERS[:4], start=1):
        page.locator(f'input[name="q{item}"][value="{answer}"]').check()
    expect(page.locator("#phq9-total")).to_have_text("3")
    page.get_by_role("button", name="Complete task").click()
    assert not page.evaluate("document.getElementById('phq9-form').checkValidity()")
    expect(page.locator("#phq9-answered")).to_have_text("4")
    for item, answer in enumerate(ANSWERS, start=1):
        page.locator(f'input[name="q{item}"][value="{answer}"]').check()
    expect(page.locator("#phq9-total")).to_have_text(str(sum(ANSWERS)))
    check_screen(page, "coach-phq9")
    page.get_by_label("Check-in notes").fill("Sleeping better; walking daily.")
    page.get_by_role("button", name="Complete task").click()
    page.wait_for_url(f"**/coach/patients/{pid}?completed=*")
    for _ in range(40):
        if page.locator("circle.phq9-point").count() == 2:
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator("circle.phq9-point")).to_have_count(2)
    expect(page.locator("#phq9-caption")).to_contain_text(str(sum(ANSWERS)))
    check_screen(page, "coach-patient-chart")


def test_a_coach_cannot_open_another_coachs_patient_by_url(page: Page, stack: Api) -> None:
    journey = treated(stack)
    pid, task = journey["patient_id"], journey["open_tasks"][0]["task_id"]
    other = "coach-ben" if journey["coach_id"] == "coach-ana" else "coach-ana"
    sign_in(page, other)
    for url in (f"/coach/patients/{pid}", f"/coach/patients/{pid}/tasks/{task}"):
        response = page.goto(url)
        assert response is not None
        assert response.status in (403, 404), url
        expect(page.locator(".refusal")).to_be_visible()
    sign_in(page, "coach-cy")
    response = page.goto(f"/coach/patients/{pid}")
    assert response is not None
    assert response.status in (403, 404)
    assert pid not in page.locator("main").inner_text().replace(f"/coach/patients/{pid}", "")
