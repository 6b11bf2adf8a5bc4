"""Who is signed in: the bearer token in an HttpOnly, SameSite=Strict cookie, and the CSRF
token every form carries (an HMAC of that cookie, so it is per session and needs no store)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request, Response
from starlette.datastructures import FormData

from services.runtime.auth import Principal, decode_token
from services.runtime.settings import Settings

COOKIE = "kap_console"
PRE_COOKIE = "kap_console_pre"
"""Before sign-in: a random value the sign-in form must echo (double-submit)."""
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


class SignInRequired(Exception):
    """No valid session cookie: the edge answers with a redirect to /sign-in."""


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    token: str
    csrf: str

    @property
    def sites(self) -> list[str]:
        return sorted(self.principal.sites)


def csrf_of(secret: str, cookie: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + cookie.encode(), hashlib.sha256).hexdigest()[:40]


def viewer_of(request: Request) -> Viewer:
    """The signed-in person, or SignInRequired. The token is verified like the services do."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInRequired
    jwt: Settings = request.app.state.jwt
    try:
        principal = decode_token(jwt, token)
    except HTTPException as error:
        raise SignInRequired from error
    return Viewer(principal, token, csrf_of(jwt.jwt_secret, token))


async def posted(request: Request) -> tuple[Viewer, FormData]:
    """A signed-in form post whose CSRF token matches the session's (403 otherwise)."""
    viewer = viewer_of(request)
    form = await request.form()
    sent = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
    if not hmac.compare_digest(sent, viewer.csrf):
        raise HTTPException(403, "The form expired or did not come from this console; reload.")
    return viewer, form


def set_session(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure,
                        max_age=8 * 3600, path="/")  # fmt: skip
    response.delete_cookie(PRE_COOKIE, path="/")


def pre_session(request: Request, response: Response, secure: bool) -> str:
    """The sign-in form's double-submit value: reuse the cookie's, or set a new one."""
    value = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    response.set_cookie(PRE_COOKIE, value, httponly=True, samesite="strict", secure=secure,
                        max_age=3600, path="/")  # fmt: skip
    return value
