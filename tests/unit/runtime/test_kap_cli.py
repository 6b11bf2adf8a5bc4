"""The `kap` command line without servers: tokens, and status reading metrics text."""

from __future__ import annotations

import httpx
from typer.testing import CliRunner

from services.cli import audit
from services.cli.main import _follow, app
from services.cli.status import sums
from services.runtime.auth import Role, decode_token
from services.runtime.settings import Settings

runner = CliRunner()


def test_kap_token_mints_a_token_for_the_role_and_sites() -> None:
    result = runner.invoke(app, ["token", "--role", "nurse", "--sites", "site-north,site-south"])
    assert result.exit_code == 0, result.output
    principal = decode_token(Settings(), result.stdout.strip())
    assert principal.role is Role.NURSE
    assert set(principal.sites) == {"site-north", "site-south"}


def test_status_sums_samples_and_keeps_the_largest() -> None:
    text = (
        "# TYPE kap_consumer_lag gauge\n"
        'kap_consumer_lag{topic="a",group="g.a"} 3.0\n'
        'kap_consumer_lag{topic="b",group="g.b"} 4.0\n'
        "# TYPE kap_outbox_oldest_age_seconds gauge\n"
        'kap_outbox_oldest_age_seconds{collection="x"} 7.0\n'
        'kap_outbox_oldest_age_seconds{collection="y"} 2.0\n'
    )
    found = sums(text)
    assert found["kap_consumer_lag"] == 7.0
    assert found["kap_outbox_oldest_age_seconds:max"] == 7.0


def test_every_operator_command_is_there() -> None:
    result = runner.invoke(app, ["--help"])
    for command in ("token", "status", "dlq", "rebuild", "bench", "audit"):
        assert command in result.output
    dlq = runner.invoke(app, ["dlq", "--help"])
    for command in ("list", "show", "redrive"):
        assert command in dlq.output


def test_rebuild_progress_is_followed_until_the_replay_is_done() -> None:
    views = iter(
        [
            {"state": "running", "total": 10, "replayed": 0, "skipped": 0},
            {"state": "running", "total": 10, "replayed": 6, "skipped": 1},
            {"state": "done", "total": 10, "replayed": 9, "skipped": 1, "seconds": 1.0},
        ]
    )

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/admin/rebuild"
        return httpx.Response(200, json=next(views))

    with httpx.Client(transport=httpx.MockTransport(answer), base_url="http://journey") as http:
        final = _follow(http, quiet=True, interval=0)
    assert (final["state"], final["replayed"]) == ("done", 9)


def test_kap_audit_reads_every_page_as_a_privacy_officer() -> None:
    seen: list[httpx.Request] = []

    def intake(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        offset = int(request.url.params.get("offset", 0))
        entry = {"entry_id": f"e{offset}", "patient_id": "pat-1", "outcome": "allowed"}
        return httpx.Response(
            200, json={"entries": [entry], "next_offset": 1 if offset == 0 else None}
        )

    found = audit.fetch({"patient_id": "pat-1", "subject": None, "limit": 1}, True,
                        "http://intake.test", httpx.MockTransport(intake))  # fmt: skip

    assert [e["entry_id"] for e in found] == ["e0", "e1"]
    assert [dict(r.url.params) for r in seen] == [
        {"patient_id": "pat-1", "limit": "1"}, {"patient_id": "pat-1", "limit": "1", "offset": "1"}
    ]  # fmt: skip
    token = seen[0].headers["authorization"].removeprefix("Bearer ")
    assert decode_token(Settings(), token).role is Role.PRIVACY_OFFICER
