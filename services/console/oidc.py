"""Production sign-in: the OpenID Connect authorization-code flow, through authlib.

The provider (Keycloak, Entra ID, Okta, ...) authenticates the person; its ID token's claims say
who they are for the clinic: `kap_role` (one of the platform's roles) and `kap_sites` (site ids,
or "*"), claim names configurable. The console then mints the platform token the services
verify, for that subject, role and sites, and keeps it in the same HttpOnly, SameSite=Strict
cookie as every session. authlib keeps the flow's state and nonce in a short-lived signed
session cookie (SameSite=Lax, so the provider's redirect back carries it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authlib.integrations.starlette_client import OAuth, OAuthError

from services.console.settings import ConsoleSettings
from services.runtime.auth import Role

__all__ = ["OAuthError", "OidcPerson", "SignInRefused", "oidc_client", "person_of", "state_key"]


class SignInRefused(Exception):
    """The provider vouched for someone the platform cannot place: no or an unknown role, or
    no sites. The message names the claim, never the person."""


@dataclass(frozen=True)
class OidcPerson:
    subject: str
    role: Role
    sites: tuple[str, ...]


def oidc_client(settings: ConsoleSettings, **client_kwargs: Any) -> Any | None:
    """The provider's client from its discovery document, or None when none is configured.
    `client_kwargs` reach the HTTP client (tests put a fake provider behind it)."""
    if not settings.console_oidc_issuer:
        return None
    oauth = OAuth()
    issuer = settings.console_oidc_issuer.rstrip("/")
    oauth.register(
        "provider",
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_id=settings.console_oidc_client_id,
        client_secret=settings.console_oidc_client_secret,
        client_kwargs={"scope": "openid profile", **client_kwargs},
    )
    return oauth.create_client("provider")


def person_of(claims: Mapping[str, Any], settings: ConsoleSettings) -> OidcPerson:
    """Who the ID token says this is, in the platform's terms."""
    subject = str(claims.get("sub") or "")
    role_claim, sites_claim = settings.console_oidc_role_claim, settings.console_oidc_sites_claim
    try:
        role = Role(str(claims.get(role_claim)))
    except ValueError as error:
        raise SignInRefused(f"the ID token's {role_claim} is not a platform role") from error
    raw = claims.get(sites_claim)
    sites = tuple(raw.split()) if isinstance(raw, str) else tuple(str(s) for s in raw or ())
    if not subject or not sites:
        missing = "sub" if not subject else sites_claim
        raise SignInRefused(f"the ID token has no {missing}")
    return OidcPerson(subject, role, sites)


def state_key(jwt_secret: str) -> str:
    """The key signing authlib's state cookie, derived from (never equal to) the JWT secret."""
    return hashlib.sha256(b"console-oidc-state:" + jwt_secret.encode()).hexdigest()
