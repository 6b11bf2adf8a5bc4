"""The console over fake services (an httpx transport that answers as the APIs do): sign-in,
cookies, CSRF, refusals in plain words, scope errors, the SSE clocks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.console.main import create_app
from services.console.settings import ConsoleSettings
from services.console.signin import COOKIE

Handler = Callable[[httpx.Request], httpx.Response]


def problem(status: int, error: str, reasons: list[str]) -> httpx.Response:
    body = {"type": f"urn:kap:problem:{error}", "title": error, "status": status,
            "detail": error, "error": error, "reasons": reasons}  # fmt: skip
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


class FakeServices:
    """Answers by (method, path); records what the console sent and with which token."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.sent: list[tuple[str, str, Any, str]] = []

    def on(self, method: str, path: str, answer: Handler) -> None:
        self.routes[(method, path)] = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.sent.append((request.method, request.url.path, body,
                          request.headers.get("authorization", "")))  # fmt: skip
        answer = self.routes.get((request.method, request.url.path))
        return answer(request) if answer else problem(404, "NotFound", [])


def console(fake: FakeServices, dev: bool = True) -> TestClient:
    settings = ConsoleSettings(console_dev_sign_in=dev)
    return TestClient(create_app(settings, transport=httpx.MockTransport(fake)))


@pytest.fixture
def fake() -> FakeServices:
    return FakeServices()


@pytest.fixture
def coach(fake: FakeServices) -> Iterator[TestClient]:
    with console(fake) as client:
        signed_in(client, "coach-ana")
        yield client


def signed_in(client: TestClient, subject: str) -> None:
    client.get("/sign-in")
    response = client.post("/sign-in", data={"subject": subject,
                                             "pre": client.cookies["kap_console_pre"]},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303


def csrf(client: TestClient) -> str:
    page: str = client.get("/coach").text
    return page.split('name="csrf-token" content="')[1].split('"')[0]


def test_development_sign_in_is_refused_unless_switched_on(fake: FakeServices) -> None:
    with console(fake, dev=False) as client:
        assert "No sign-in is configured" in client.get("/sign-in").text
        refused = client.post("/sign-in", data={"subject": "coach-ana", "pre": "x"})
        assert refused.status_code == 404
        assert client.get("/coach", follow_redirects=False).headers["location"] == "/sign-in"


def test_the_token_lives_in_an_httponly_samesite_strict_cookie(fake: FakeServices) -> None:
    with console(fake) as client:
        client.get("/sign-in")
        response = client.post("/sign-in", data={"subject": "rn-north-1",
                                                 "pre": client.cookies["kap_console_pre"]},
                               follow_redirects=False)  # fmt: skip
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE))
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert response.headers["location"] == "/nurse"


def test_sign_in_needs_the_forms_own_value(fake: FakeServices) -> None:
    with console(fake) as client:
        client.get("/sign-in")
        assert client.post("/sign-in", data={"subject": "coach-ana", "pre": "forged"}
                           ).status_code == 403  # fmt: skip


def test_a_post_without_the_sessions_csrf_token_is_refused(
    coach: TestClient, fake: FakeServices
) -> None:
    fake.on("GET", "/coaches/coach-ana/tasks", lambda _: httpx.Response(200, json=[]))
    path = "/coach/patients/p1/tasks/t1/complete"
    assert coach.post(path, data={"kind": "phq9"}).status_code == 403
    assert coach.post(path, data={"kind": "phq9", "csrf": "forged"}).status_code == 403
    assert not [s for s in fake.sent if s[0] == "POST"], "nothing reached the services"


def test_the_queue_marks_overdue_and_escalated_tasks(coach: TestClient, fake: FakeServices
                                                     ) -> None:  # fmt: skip
    tasks = [
        {
            "patient_id": "p1",
            "task_id": "t1",
            "kind": "phq9",
            "due_at": "2026-01-01T09:00Z",
            "overdue": True,
            "escalated": True,
            "coach_id": "coach-ana",
            "session_id": None,
        }
    ]
    fake.on("GET", "/coaches/coach-ana/tasks", lambda _: httpx.Response(200, json=tasks))
    page = coach.get("/coach").text
    assert "Overdue" in page
    assert "Escalated" in page
    assert fake.sent[-1][3].startswith("Bearer "), "the coach's own token"


def test_a_refused_phq9_shows_the_apis_reasons_next_to_the_button(
    coach: TestClient, fake: FakeServices
) -> None:
    fake.on("GET", "/coaches/coach-ana/tasks", lambda _: httpx.Response(200, json=[]))
    reasons = ["body.outcome.phq9.8: Input should be a valid integer"]
    fake.on("POST", "/patients/p1/tasks/t1/complete",
            lambda _: problem(422, "InvalidRequest", reasons))  # fmt: skip
    answers = {f"q{i}": "1" for i in range(1, 9)}
    shown = coach.post("/coach/patients/p1/tasks/t1/complete",
                       data={"kind": "phq9", "csrf": csrf(coach), **answers},
                       headers={"HX-Request": "true"})  # fmt: skip
    assert "Some values are not valid" in shown.text
    assert reasons[0] in shown.text
    sent = fake.sent[-1][2]
    assert sent["outcome"]["phq9"][:8] == [1] * 8


def test_another_coachs_patient_is_not_found(coach: TestClient, fake: FakeServices) -> None:
    fake.on("GET", "/patients/p2/journey", lambda _: problem(404, "JourneyNotFound", []))
    assert coach.get("/coach/patients/p2").status_code == 404


def test_a_coach_cannot_open_the_nurse_screen(coach: TestClient) -> None:
    assert coach.get("/nurse").status_code == 403


def test_the_clocks_stream_minutes_since_dose_over_sse(fake: FakeServices) -> None:
    dosed = datetime.now(UTC) - timedelta(minutes=50)
    day: dict[str, object] = {
        "session_id": "s1",
        "site_id": "site-north",
        "protocol": "esketamine_trd",
        "dose": {"administered_at": dosed.isoformat()},
        "vitals": [],
        "discharge": None,
    }
    fake.on("GET", "/patients/p1/sessions/s1", lambda _: httpx.Response(200, json=day))
    with console(fake) as client:
        signed_in(client, "rn-north-1")
        with client.stream("GET", "/nurse/patients/p1/sessions/s1/clocks") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            first = next(lines), next(lines)
    assert first[0] == "event: clocks"
    assert "50 min since dose" in first[1]
    assert "40-minute BP is due now" in first[1]


def dosed_day(last_bp: tuple[int, int]) -> dict[str, object]:
    dosed = datetime.now(UTC) - timedelta(minutes=130)
    reading = {"observed_at": datetime.now(UTC).isoformat(), "systolic": last_bp[0],
               "diastolic": last_bp[1], "heart_rate": 80, "spo2": 97, "pre_dose": False,
               "minutes_since_dose": 130}  # fmt: skip
    return {
        "session_id": "s1", "site_id": "site-north", "protocol": "esketamine_trd",
        "dose_number": 1, "checked_in_at": dosed.isoformat(), "dose_held": False,
        "dose": {"administered_at": dosed.isoformat(), "dose_mg": 56, "devices": 2,
                 "lot_number": "L1"},
        "vitals": [reading], "discharge": None, "open_alerts": [],
        "reading_to_accept": reading,
        "interactions_to_acknowledge": [],
    }  # fmt: skip


def test_a_prescriber_accepts_a_high_last_reading_for_discharge_from_the_chart(
    fake: FakeServices,
) -> None:
    fake.on("GET", "/patients/p1/sessions/s1",
            lambda _: httpx.Response(200, json=dosed_day((168, 98))))  # fmt: skip
    fake.on("POST", "/patients/p1/sessions/s1/discharge-blood-pressure/accept",
            lambda _: httpx.Response(200, json={}))  # fmt: skip
    with console(fake) as client:
        signed_in(client, "dr-north-1")
        page = client.get("/nurse/patients/p1/sessions/s1").text
        assert "accept 168/98 for discharge" in page
        token = page.split('name="csrf" value="')[1].split('"')[0]
        answer = client.post(
            "/nurse/patients/p1/sessions/s1/discharge-blood-pressure/accept",
            data={
                "csrf": token,
                "reason": "known hypertension, asymptomatic",
                "site_id": "site-north",
            },
            headers={"HX-Request": "true"},
        )
    assert answer.status_code == 200
    method, path, body, _ = fake.sent[-1]
    assert (method, path) == ("POST", "/patients/p1/sessions/s1/discharge-blood-pressure/accept")
    assert body["reason"] == "known hypertension, asymptomatic"


def test_a_nurse_sees_no_prescriber_decision_and_reports_an_adverse_event(
    fake: FakeServices,
) -> None:
    fake.on("GET", "/patients/p1/sessions/s1",
            lambda _: httpx.Response(200, json=dosed_day((168, 98))))  # fmt: skip
    fake.on("POST", "/patients/p1/sessions/s1/adverse-events",
            lambda _: httpx.Response(201, json={}))  # fmt: skip
    with console(fake) as client:
        signed_in(client, "rn-north-1")
        page = client.get("/nurse/patients/p1/sessions/s1").text
        assert "for discharge</legend>" not in page
        token = page.split('name="csrf" value="')[1].split('"')[0]
        client.post(
            "/nurse/patients/p1/sessions/s1/adverse-events",
            data={"csrf": token, "kind": "hypertension", "severity": "severe", "serious": "on",
                  "site_id": "site-north"},
            headers={"HX-Request": "true"},
        )  # fmt: skip
    method, path, body, _ = fake.sent[-1]
    assert (method, path) == ("POST", "/patients/p1/sessions/s1/adverse-events")
    assert (body["kind"], body["severity"], body["serious"]) == ("hypertension", "severe", True)
