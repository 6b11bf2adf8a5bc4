"""Composition root of the console: settings, the backend client, sign-in and the screens."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from services.console import oidc
from services.console.backend import Backend
from services.console.pages import is_htmx, render
from services.console.people import Person, demo_people, home_of
from services.console.screens import coach, nurse, review, site
from services.console.settings import ConsoleSettings
from services.console.signin import (
    COOKIE,
    PRE_COOKIE,
    SignInRequired,
    posted,
    pre_session,
    set_session,
    viewer_of,
)  # fmt: skip
from services.runtime.auth import check_token_settings, mint_token
from services.runtime.logging import configure_logging, get_logger
from services.runtime.network import load_network

log = get_logger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


def create_app(settings: ConsoleSettings, transport: httpx.AsyncBaseTransport | None = None,
               provider_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:  # fmt: skip
    """`transport` lets tests put fake services behind the backend client, and
    `provider_transport` a fake OpenID Connect provider behind the sign-in."""
    configure_logging("console", settings.jwt.log_level)
    check_token_settings(settings.jwt)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request lines carry patient ids

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=15.0, transport=transport) as client:
            app.state.backend = Backend(settings.service_urls(), client)
            yield

    app = FastAPI(title="KAP clinic console", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.state.settings, app.state.jwt = settings, settings.jwt
    app.state.network = load_network()
    people = {p.subject: p for p in demo_people(app.state.network)}
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    extra = {"transport": provider_transport} if provider_transport else {}
    provider = oidc.oidc_client(settings, **extra)
    if provider is not None:
        app.add_middleware(
            SessionMiddleware,
            secret_key=oidc.state_key(settings.jwt.jwt_secret),
            session_cookie="kap_console_oidc",
            max_age=600,
            same_site="lax",
            https_only=settings.console_cookie_secure,
        )
    for screen in (coach, nurse, review, site):
        app.include_router(screen.router)

    @app.middleware("http")
    async def timing(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                     ) -> Response:  # fmt: skip
        """Server render time in a Server-Timing header; the log names the route, never data."""
        started = time.perf_counter()
        response = await call_next(request)
        spent = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"render;dur={spent:.1f}"
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        )
        return response

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, _error: SignInRequired) -> Response:
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": "/sign-in"})
        return RedirectResponse("/sign-in", status_code=303)

    @app.exception_handler(HTTPException)
    async def error_page(request: Request, error: HTTPException) -> Response:
        try:
            viewer = viewer_of(request)
        except SignInRequired:
            viewer = None
        return render(request, "error.html", viewer, status=error.status_code,
                      message=str(error.detail), code=error.status_code)  # fmt: skip

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/")
    async def home(request: Request) -> Response:
        try:
            viewer = viewer_of(request)
        except SignInRequired:
            return RedirectResponse("/sign-in", status_code=303)
        return RedirectResponse(home_of(viewer.principal.role), status_code=303)

    @app.get("/sign-in")
    async def sign_in_page(request: Request) -> Response:
        response = HTMLResponse("")
        pre = pre_session(request, response, settings.console_cookie_secure)
        page = render(request, "signin.html", None, pre=pre,
                      people=list(people.values()) if settings.console_dev_sign_in else [],
                      dev=settings.console_dev_sign_in,
                      oidc=bool(settings.console_oidc_issuer))  # fmt: skip
        page.raw_headers.extend(h for h in response.raw_headers if h[0] == b"set-cookie")
        return page

    @app.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        """Development sign-in as a demo person; 404 unless CONSOLE_DEV_SIGN_IN is on."""
        if not settings.console_dev_sign_in:
            raise HTTPException(404, "Development sign-in is off in this deployment.")
        form = await request.form()
        if not form.get("pre") or form.get("pre") != request.cookies.get(PRE_COOKIE):
            raise HTTPException(403, "The sign-in form expired; reload the page.")
        person: Person | None = people.get(str(form.get("subject", "")))
        if person is None:
            raise HTTPException(404, "No such demo person.")
        token = mint_token(settings.jwt, person.subject, person.role, person.sites)
        response = RedirectResponse(person.home, status_code=303)
        set_session(response, token, settings.console_cookie_secure)
        log.info("console_signed_in", role=person.role.value)
        return response

    @app.get("/sign-in/oidc")
    async def sign_in_with_provider(request: Request) -> Response:
        """Production sign-in: off to the OpenID Connect provider (404 when none is set)."""
        if provider is None:
            raise HTTPException(404, "No OpenID Connect provider is configured.")
        callback = request.url_for("oidc_callback")
        redirect: Response = await provider.authorize_redirect(request, callback)
        return redirect

    @app.get("/sign-in/oidc/callback", name="oidc_callback")
    async def provider_callback(request: Request) -> Response:
        """Back from the provider: the ID token (signature, issuer, audience, nonce checked by
        authlib) says who this is; the console mints the platform token for them."""
        if provider is None:
            raise HTTPException(404, "No OpenID Connect provider is configured.")
        try:
            answer = await provider.authorize_access_token(request)
            person = oidc.person_of(answer.get("userinfo") or {}, settings)
        except oidc.OAuthError as error:
            log.warning("console_oidc_refused", reason=error.error)
            raise HTTPException(403, "The sign-in provider did not confirm who you are.") from error
        except oidc.SignInRefused as error:
            log.warning("console_oidc_refused", reason=str(error))
            raise HTTPException(403, f"Signed in, but {error}; ask your administrator.") from error
        token = mint_token(settings.jwt, person.subject, person.role, person.sites)
        response = RedirectResponse(home_of(person.role), status_code=303)
        set_session(response, token, settings.console_cookie_secure)
        log.info("console_signed_in", role=person.role.value, via="oidc")
        return response

    @app.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        await posted(request)
        response = RedirectResponse("/sign-in", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    return app
