"""Production sign-in through an OpenID Connect provider (a fake one behind an httpx transport):
the authorization-code flow, the ID token checked, its claims mapped to the platform's role and
sites, and a refusal for anyone the platform cannot place."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey

from services.console.main import create_app
from services.console.settings import ConsoleSettings
from services.console.signin import COOKIE
from services.runtime.auth import Role, decode_token

ISSUER, CLIENT = "https://id.clinic.test/realms/kap", "kap-console"


class FakeProvider:
    """Discovery, keys and a token endpoint that issues an ID token for the nonce it was given."""

    def __init__(self, claims: dict[str, Any]) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.claims, self.nonce = claims, ""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(urlparse(ISSUER).path)
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/auth",
                "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
            })  # fmt: skip
        if path == "/keys":
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        if path == "/token":
            now = int(time.time())
            claims = {"iss": ISSUER, "aud": CLIENT, "iat": now, "exp": now + 300,
                      "nonce": self.nonce, **self.claims}  # fmt: skip
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)
            return httpx.Response(200, json={"access_token": "at", "token_type": "Bearer",
                                             "expires_in": 300, "id_token": id_token})  # fmt: skip
        return httpx.Response(404)


def sign_in(claims: dict[str, Any]) -> tuple[TestClient, httpx.Response]:
    provider = FakeProvider(claims)
    settings = ConsoleSettings(
        console_oidc_issuer=ISSUER, console_oidc_client_id=CLIENT, console_oidc_client_secret="s"
    )
    app = create_app(settings, provider_transport=httpx.MockTransport(provider))
    client = TestClient(app, base_url="http://console.test")
    client.__enter__()
    away = client.get("/sign-in/oidc", follow_redirects=False)
    assert away.status_code == 302
    sent = parse_qs(urlparse(away.headers["location"]).query)
    assert sent["client_id"] == [CLIENT]
    assert sent["redirect_uri"] == ["http://console.test/sign-in/oidc/callback"]
    provider.nonce = sent["nonce"][0]
    back = client.get(
        "/sign-in/oidc/callback",
        params={"code": "c0de", "state": sent["state"][0]},
        follow_redirects=False,
    )
    return client, back


def test_a_nurse_vouched_for_by_the_provider_gets_a_platform_session() -> None:
    client, back = sign_in({"sub": "rn-7", "kap_role": "nurse", "kap_sites": ["site-north"]})

    assert (back.status_code, back.headers["location"]) == (303, "/nurse")
    cookie = back.cookies[COOKIE]
    principal = decode_token(ConsoleSettings().jwt, cookie)
    assert (principal.subject, principal.role, set(principal.sites)) == (
        "rn-7",
        Role.NURSE,
        {"site-north"},
    )
    assert "httponly" in back.headers["set-cookie"].lower()
    client.__exit__(None, None, None)


@pytest.mark.parametrize(
    ("claims", "missing"),
    [
        ({"sub": "x", "kap_sites": ["site-north"]}, "kap_role"),
        ({"sub": "x", "kap_role": "surgeon", "kap_sites": ["site-north"]}, "kap_role"),
        ({"sub": "x", "kap_role": "coach"}, "kap_sites"),
    ],
)
def test_someone_the_platform_cannot_place_is_refused_naming_the_claim(
    claims: dict[str, Any], missing: str
) -> None:
    client, back = sign_in(claims)

    assert back.status_code == 403
    assert missing in back.text
    assert COOKIE not in back.cookies
    client.__exit__(None, None, None)


def test_a_callback_without_the_flows_state_is_refused() -> None:
    settings = ConsoleSettings(console_oidc_issuer=ISSUER, console_oidc_client_id=CLIENT)
    provider = FakeProvider({"sub": "rn-7", "kap_role": "nurse", "kap_sites": ["site-north"]})
    app = create_app(settings, provider_transport=httpx.MockTransport(provider))
    with TestClient(app) as client:
        forged = client.get("/sign-in/oidc/callback", params={"code": "c", "state": "forged"})
    assert forged.status_code == 403
    assert COOKIE not in forged.cookies


def test_without_a_provider_the_oidc_routes_do_not_exist() -> None:
    with TestClient(create_app(ConsoleSettings())) as client:
        assert client.get("/sign-in/oidc", follow_redirects=False).status_code == 404
