"""Tokens that cannot be forged with a default secret: startup refuses weak HS256 secrets
outside DEV_MODE, RS256/ES256 tokens verify against a JWKS (and HS256 is then refused), and a
token's lifetime, issuer and audience are checked."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import HTTPException

from services.runtime.auth import (
    DEFAULT_JWT_SECRET,
    InsecureTokenSettings,
    Role,
    check_token_settings,
    decode_token,
    mint_token,
)
from services.runtime.service import Service
from services.runtime.settings import Settings

STRONG = "a-production-secret-of-at-least-32-bytes!"


def production(**overrides: Any) -> Settings:
    return Settings(dev_mode=False, **overrides)


@pytest.mark.parametrize("secret", [DEFAULT_JWT_SECRET, "short-secret", "x" * 31])
def test_startup_refuses_a_default_or_short_secret_outside_dev_mode(secret: str) -> None:
    with pytest.raises(InsecureTokenSettings):
        check_token_settings(production(jwt_secret=secret))
    with pytest.raises(InsecureTokenSettings):
        Service.create("intake", production(jwt_secret=secret).for_service("intake"),
                       title="t", description="d")  # fmt: skip


def test_dev_mode_and_a_32_byte_secret_start() -> None:
    check_token_settings(Settings(dev_mode=True))
    check_token_settings(production(jwt_secret="x" * 32))


def test_dev_mode_is_off_unless_set() -> None:
    assert Settings.model_fields["dev_mode"].default is False


def _claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": "dr-1", "role": "psychiatrist", "sites": ["site-north"], "iss": "kap-care",
        "aud": "kap-care", "iat": now, "exp": now + timedelta(hours=1),
    }  # fmt: skip
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _refused(settings: Settings, token: str) -> str:
    with pytest.raises(HTTPException) as refused:
        decode_token(settings, token)
    assert refused.value.status_code == 401
    return str(refused.value.detail)


@pytest.mark.parametrize(
    "wrong",
    [{"iss": "someone-else"}, {"aud": "another-app"}, {"iss": None}, {"aud": None}],
)
def test_issuer_and_audience_are_required_and_checked(wrong: dict[str, Any]) -> None:
    settings = production(jwt_secret=STRONG)
    assert _refused(settings, jwt.encode(_claims(**wrong), STRONG, algorithm="HS256"))


def test_a_token_valid_for_longer_than_the_bound_is_refused() -> None:
    settings = production(jwt_secret=STRONG, jwt_max_ttl_s=3600)
    now = datetime.now(UTC)
    long_lived = jwt.encode(_claims(exp=now + timedelta(hours=2)), STRONG, algorithm="HS256")
    assert "TokenLifetimeTooLong" in _refused(settings, long_lived)
    with pytest.raises(ValueError, match="at most 3600"):
        mint_token(settings, "dr-1", Role.PSYCHIATRIST, ["*"], ttl=timedelta(hours=2))


def _jwks(path: Path, *keys: tuple[str, Any]) -> Settings:
    jwks = {"keys": [{**json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(
        key.public_key())), "kid": f"kid-{alg}", "alg": alg} for alg, key in keys]}  # fmt: skip
    path.write_text(json.dumps(jwks))
    return production(jwt_jwks_file=str(path))


def test_rs256_and_es256_tokens_verify_against_the_jwks_and_services_hold_no_secret(
    tmp_path: Path,
) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    settings = _jwks(tmp_path / "jwks.json", ("RS256", rsa_key), ("ES256", ec_key))
    check_token_settings(settings)  # the default HS256 secret is irrelevant then

    for alg, key in (("RS256", rsa_key), ("ES256", ec_key)):
        token = jwt.encode(_claims(), key, algorithm=alg, headers={"kid": f"kid-{alg}"})
        assert decode_token(settings, token).role is Role.PSYCHIATRIST

    forged = jwt.encode(_claims(), DEFAULT_JWT_SECRET, algorithm="HS256",
                        headers={"kid": "kid-RS256"})  # fmt: skip
    assert _refused(settings, forged)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    unknown = jwt.encode(_claims(), stranger, algorithm="RS256", headers={"kid": "kid-RS256"})
    assert _refused(settings, unknown)


def test_a_jwks_file_that_does_not_load_stops_startup(tmp_path: Path) -> None:
    broken = tmp_path / "jwks.json"
    broken.write_text("{}")
    with pytest.raises(jwt.PyJWKSetError):
        check_token_settings(production(jwt_jwks_file=str(broken)))
