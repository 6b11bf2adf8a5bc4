"""Bearer-JWT authentication and role/site authorisation shared by every HTTP API.

`python -m services.runtime.auth --role psychiatrist --sites site-north` mints a dev token.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.runtime.settings import Settings

ALL_SITES = "*"


class Role(StrEnum):
    INTAKE_COORDINATOR = "intake_coordinator"
    PSYCHIATRIST = "psychiatrist"
    NURSE = "nurse"
    THERAPIST = "therapist"
    COACH = "coach"
    SITE_ADMIN = "site_admin"
    OPS = "ops"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    sites: frozenset[str]

    def may_access(self, site_id: str) -> bool:
        return ALL_SITES in self.sites or site_id in self.sites

    def require_site(self, site_id: str) -> None:
        """403 unless the token's site scope includes `site_id`."""
        if not self.may_access(site_id):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"not authorised for site {site_id}")


def mint_token(
    settings: Settings,
    subject: str,
    role: Role,
    sites: Iterable[str],
    ttl: timedelta = timedelta(hours=8),
    now: datetime | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": subject,
        "role": role.value,
        "sites": sorted(sites),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": issued,
        "exp": issued + ttl,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def decode_token(settings: Settings, token: str) -> Principal:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=["HS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "exp", "iat"]},
        )
        return Principal(
            subject=str(claims["sub"]),
            role=Role(claims["role"]),
            sites=frozenset(str(s) for s in claims.get("sites", ())),
        )
    except (jwt.InvalidTokenError, KeyError, ValueError) as error:
        raise _unauthorised(f"invalid token: {type(error).__name__}") from error


_bearer = HTTPBearer(auto_error=False)


def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorised("missing bearer token")
    settings: Settings = request.app.state.settings
    return decode_token(settings, credentials.credentials)


def require(*roles: Role) -> Callable[..., Principal]:
    """A FastAPI dependency: 401 without a valid token, 403 for any role not listed. The roles
    are the route's bearer security requirement in its OpenAPI (3.1: role names)."""
    allowed = frozenset(roles)
    gate = Security(authenticated, scopes=sorted(role.value for role in allowed))

    def dependency(principal: Principal = gate) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"role {principal.role.value} may not do this"
            )
        return principal

    return dependency


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Mint a development bearer token.")
    parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    parser.add_argument("--sites", default=ALL_SITES, help="comma-separated site ids, or *")
    parser.add_argument("--subject", default=None)
    parser.add_argument("--hours", type=float, default=8.0)
    args = parser.parse_args(argv)
    role = Role(args.role)
    token = mint_token(
        Settings(),
        subject=args.subject or f"dev-{role.value}",
        role=role,
        sites=[s for s in args.sites.split(",") if s],
        ttl=timedelta(hours=args.hours),
    )
    sys.stdout.write(token + "\n")


if __name__ == "__main__":
    main()
