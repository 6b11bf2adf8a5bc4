"""Bearer-JWT authentication: 401 without a valid token, 403 for the wrong role or site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from services.runtime.auth import Principal, Role, main, mint_token, require
from services.runtime.settings import Settings

SETTINGS = Settings(jwt_secret="unit-test-secret-of-at-least-32-bytes")


def app() -> FastAPI:
    api = FastAPI()
    api.state.settings = SETTINGS

    @api.post("/sites/{site_id}/approve")
    def approve(
        site_id: str, who: Annotated[Principal, Depends(require(Role.PSYCHIATRIST))]
    ) -> dict[str, str]:
        who.require_site(site_id)
        return {"by": who.subject}

    return api


def call(token: str | None, site: str = "site-north") -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = TestClient(app()).post(f"/sites/{site}/approve", headers=headers)
    return response.status_code, response.text


def token(role: Role, sites: list[str], **kw: object) -> str:
    return mint_token(SETTINGS, "dr-1", role, sites, **kw)  # type: ignore[arg-type]


def test_a_psychiatrist_of_the_site_is_allowed() -> None:
    assert call(token(Role.PSYCHIATRIST, ["site-north"])) == (200, '{"by":"dr-1"}')


def test_no_token_is_401_with_a_bearer_challenge() -> None:
    response = TestClient(app()).post("/sites/site-north/approve")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "bad",
    [
        mint_token(
            Settings(jwt_secret="another-secret-of-at-least-32-bytes!"),
            "dr-1",
            Role.PSYCHIATRIST,
            ["*"],
        ),
        mint_token(SETTINGS, "dr-1", Role.PSYCHIATRIST, ["*"], ttl=timedelta(seconds=-1)),
        mint_token(
            Settings(jwt_secret="unit-test-secret-of-at-least-32-bytes", jwt_audience="other"),
            "dr-1",
            Role.PSYCHIATRIST,
            ["*"],
        ),
        "not-a-jwt",
    ],
    ids=["wrong-signature", "expired", "wrong-audience", "garbage"],
)
def test_an_invalid_token_is_401(bad: str) -> None:
    assert call(bad)[0] == 401


def test_the_wrong_role_is_403() -> None:
    status, body = call(token(Role.NURSE, ["site-north"]))
    assert status == 403
    assert "nurse" in body


def test_another_site_is_403_and_the_wildcard_site_scope_is_allowed() -> None:
    assert call(token(Role.PSYCHIATRIST, ["site-south"]))[0] == 403
    assert call(token(Role.PSYCHIATRIST, ["*"]))[0] == 200


def test_the_cli_mints_a_token_the_api_accepts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWT_SECRET", "unit-test-secret-of-at-least-32-bytes")
    main(["--role", "psychiatrist", "--sites", "site-north", "--subject", "dr-cli"])
    minted = capsys.readouterr().out.strip()
    assert call(minted) == (200, '{"by":"dr-cli"}')


def test_tokens_carry_issue_and_expiry_times() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    import jwt

    claims = jwt.decode(
        token(Role.COACH, ["site-north"], now=now, ttl=timedelta(hours=2)),
        "unit-test-secret-of-at-least-32-bytes",
        algorithms=["HS256"],
        audience="kap-care",
        options={"verify_exp": False},
    )
    assert claims["exp"] - claims["iat"] == 7200
    assert claims["role"] == "coach"
