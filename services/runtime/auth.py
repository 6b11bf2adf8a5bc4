"""Bearer-JWT authentication and role/site authorisation shared by every HTTP API.

Tokens are verified with HS256 and a shared secret (development, and networks without an
identity provider) or, when `JWT_JWKS_URL`/`JWT_JWKS_FILE` is set, with RS256/ES256 public keys
only, so services hold no signing key. Issuer, audience, `exp`, `iat` and a bounded lifetime
(`JWT_MAX_TTL_S`) are checked. Outside `DEV_MODE` a service refuses to start with the default
secret or one shorter than 32 bytes (`check_token_settings`).

`python -m services.runtime.auth --role psychiatrist --sites site-north` mints a dev token.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.runtime.settings import Settings

ALL_SITES = "*"
DEFAULT_JWT_SECRET = Settings.model_fields["jwt_secret"].default
MIN_SECRET_BYTES = 32
ASYMMETRIC = ["RS256", "ES256"]


class Role(StrEnum):
    INTAKE_COORDINATOR = "intake_coordinator"
    PSYCHIATRIST = "psychiatrist"
    NURSE = "nurse"
    THERAPIST = "therapist"
    COACH = "coach"
    SITE_ADMIN = "site_admin"
    OPS = "ops"
    PRIVACY_OFFICER = "privacy_officer"
    """Reads the audit trail and erases a patient's identity on request; no clinical data."""


class InsecureTokenSettings(RuntimeError):
    """Outside DEV_MODE, tokens must not be verifiable with a well-known or short secret."""


def check_token_settings(settings: Settings) -> None:
    """Refuse to start outside explicit development mode with the default HS256 secret or one
    shorter than 32 bytes (RFC 7518 3.2: an HS256 key at least as long as the hash)."""
    if settings.jwt_jwks_file:
        jwt.PyJWKSet.from_dict(json.loads(Path(settings.jwt_jwks_file).read_text()))
    if settings.dev_mode or asymmetric(settings):
        return
    if settings.jwt_secret == DEFAULT_JWT_SECRET:
        raise InsecureTokenSettings(
            "JWT_SECRET is the development default; set a secret of 32+ bytes, "
            "JWT_JWKS_URL/JWT_JWKS_FILE, or DEV_MODE=true on a developer box"
        )
    if len(settings.jwt_secret.encode()) < MIN_SECRET_BYTES:
        raise InsecureTokenSettings(f"JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes")


def asymmetric(settings: Settings) -> bool:
    return bool(settings.jwt_jwks_url or settings.jwt_jwks_file)


@functools.cache
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)


def _jwks_file_key(path: str, kid: str | None) -> Any:
    keys = jwt.PyJWKSet.from_dict(json.loads(Path(path).read_text())).keys
    found = [k for k in keys if kid is None or k.key_id == kid]
    if not found:
        raise jwt.InvalidKeyError("no JWKS key for the token's kid")
    return found[0].key


def verification_key(settings: Settings, token: str) -> tuple[Any, list[str]]:
    """The key and algorithms a token is verified with: public keys from the JWKS when one is
    configured (HS256 is then refused), the shared secret otherwise."""
    if settings.jwt_jwks_url:
        return _jwks_client(settings.jwt_jwks_url).get_signing_key_from_jwt(token).key, ASYMMETRIC
    if settings.jwt_jwks_file:
        kid = jwt.get_unverified_header(token).get("kid")
        return _jwks_file_key(settings.jwt_jwks_file, kid), ASYMMETRIC
    return settings.jwt_secret, ["HS256"]


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
    if ttl.total_seconds() > settings.jwt_max_ttl_s:
        raise ValueError(f"a token may be valid for at most {settings.jwt_max_ttl_s} s")
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


class TokenLifetimeTooLong(jwt.InvalidTokenError):
    """exp - iat exceeds JWT_MAX_TTL_S."""


def decode_token(settings: Settings, token: str) -> Principal:
    try:
        key, algorithms = verification_key(settings, token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "exp", "iat", "iss", "aud"]},
        )
        if float(claims["exp"]) - float(claims["iat"]) > settings.jwt_max_ttl_s:
            raise TokenLifetimeTooLong()
        return Principal(
            subject=str(claims["sub"]),
            role=Role(claims["role"]),
            sites=frozenset(str(s) for s in claims.get("sites", ())),
        )
    except (jwt.PyJWTError, KeyError, ValueError) as error:
        raise _unauthorised(f"invalid token: {type(error).__name__}") from error


def bearer_principal(settings: Settings, authorization: str) -> Principal | None:
    """The caller named by an `Authorization: Bearer` header, or None when it is missing or
    invalid (for code that must know who asked without refusing: the route answers 401)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        return decode_token(settings, token)
    except HTTPException:
        return None


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
