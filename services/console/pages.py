"""Rendering helpers shared by the screens: templates, success redirects, refusals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.console.backend import Backend, Refusal
from services.console.people import home_of
from services.console.signin import Viewer
from services.console.views import local
from services.runtime.auth import Role
from services.runtime.network import Network

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["local"] = local


def screen_for(who: str, *roles: Role) -> Callable[[Viewer], None]:
    """A screen's role check: anyone else is answered 403, naming who the screen is for."""

    def check(viewer: Viewer) -> None:
        if viewer.principal.role not in roles:
            raise HTTPException(403, f"This screen is for {who}.")

    return check


def backend(request: Request) -> Backend:
    b: Backend = request.app.state.backend
    return b


def network(request: Request) -> Network:
    n: Network = request.app.state.network
    return n


def zone_of(request: Request, site_id: str) -> ZoneInfo:
    site = network(request).site(site_id)
    return site.zone if site else ZoneInfo("UTC")


def my_sites(request: Request, viewer: Viewer) -> list[str]:
    """The network's sites within the viewer's token scope."""
    return [s.site_id for s in network(request).sites if viewer.principal.may_access(s.site_id)]


def render(request: Request, name: str, viewer: Viewer | None, status: int = 200,
           **context: Any) -> HTMLResponse:  # fmt: skip
    return templates.TemplateResponse(
        request, name, {"viewer": viewer, "home": home_of(viewer.principal.role) if viewer else "/",
                        "network": network(request), **context}, status_code=status,
    )  # fmt: skip


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def done(request: Request, url: str) -> Response:
    """After a command the service accepted: the page again, with the new state."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def refused(request: Request, viewer: Viewer, refusal: Refusal, back: str) -> Response:
    """The refusal in plain words with the service's exact reasons: swapped in next to the
    button under htmx; a page of its own without JavaScript."""
    if is_htmx(request):
        return render(request, "_refusal.html", viewer, refusal=refusal)
    return render(request, "refused.html", viewer, status=refusal.status, refusal=refusal,
                  back=back)  # fmt: skip


def observed_at(form_value: object, zone: ZoneInfo) -> str | None:
    """A late entry's time from a `datetime-local` field, read in the site's time zone."""
    text = str(form_value or "").strip()
    if not text:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=zone).isoformat()
