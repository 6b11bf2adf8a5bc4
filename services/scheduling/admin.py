"""Site admins manage scheduling's clinic network: sites (hours, closed days, rooms and chairs,
REMS certification) and providers (role, sites, weekly availability, absences)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.runtime.auth import Principal, Role, require
from services.runtime.errors import invalid_field
from services.scheduling.certification import SiteCertifications
from services.scheduling.errors import UnknownProvider
from services.scheduling.network import Absence, ClinicNetwork, Provider, Site
from services.scheduling.network_store import NetworkStore

ADMINS = (Role.SITE_ADMIN,)
VIEWERS = (
    Role.SITE_ADMIN,
    Role.OPS,
    Role.PSYCHIATRIST,
    Role.NURSE,
    Role.THERAPIST,
    Role.INTAKE_COORDINATOR,
)


def admin_routes(networks: NetworkStore, certifications: SiteCertifications) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["scheduling admin"])

    @router.get("/network")
    async def read_network(
        principal: Annotated[Principal, Depends(require(*VIEWERS))],
    ) -> ClinicNetwork:
        network = await networks.load()
        sites = tuple(s for s in network.sites if principal.may_access(s.site_id))
        providers = tuple(
            p for p in network.providers if any(principal.may_access(s) for s in p.sites)
        )
        return ClinicNetwork(sites=sites, providers=providers)

    @router.put("/sites/{site_id}")
    async def put_site(
        site_id: str, site: Site, principal: Annotated[Principal, Depends(require(*ADMINS))]
    ) -> Site:
        """Create or replace a site. A REMS certification change applies to new bookings, and
        every patient with an active esketamine course at the site hears of it
        (SiteCertificationChanged), so a dose is checked against the site's certification."""
        principal.require_site(site_id)
        if site.site_id != site_id:
            raise invalid_field(("body", "site_id"), "must match the path")
        await certifications.put(site, principal.subject)
        return site

    @router.put("/providers/{provider_id}")
    async def put_provider(
        provider_id: str,
        provider: Provider,
        principal: Annotated[Principal, Depends(require(*ADMINS))],
    ) -> Provider:
        """Create or replace a provider. The caller's scope must cover every site of the stored
        provider (so no admin takes over another site's provider) and of the new body."""
        stored = (await networks.load()).provider(provider_id)
        for site_id in (*(stored.sites if stored else ()), *provider.sites):
            principal.require_site(site_id)
        if provider.provider_id != provider_id:
            raise invalid_field(("body", "provider_id"), "must match the path")
        await networks.put(provider)
        return provider

    @router.post("/providers/{provider_id}/absences")
    async def add_absence(
        provider_id: str,
        absence: Absence,
        principal: Annotated[Principal, Depends(require(*ADMINS))],
    ) -> Provider:
        provider = (await networks.load()).provider(provider_id)
        if provider is None:
            raise UnknownProvider(provider_id)
        for site_id in provider.sites:
            principal.require_site(site_id)
        updated = provider.model_copy(update={"absences": (*provider.absences, absence)})
        await networks.put(updated)
        return updated

    return router
