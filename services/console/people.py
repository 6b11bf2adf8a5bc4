"""The demo people offered at development sign-in, derived from the network configuration."""

from __future__ import annotations

import os
from dataclasses import dataclass

from services.runtime.auth import ALL_SITES, Role
from services.runtime.network import Network, load_network


@dataclass(frozen=True)
class Person:
    subject: str
    role: Role
    sites: tuple[str, ...]
    label: str
    home: str
    """The screen this person starts on."""


HOME = {
    Role.COACH: "/coach",
    Role.NURSE: "/nurse",
    Role.PSYCHIATRIST: "/review",
    Role.SITE_ADMIN: "/site",
    Role.OPS: "/site",
}


def home_of(role: Role) -> str:
    return HOME.get(role, "/site")


def demo_people(network: Network) -> list[Person]:
    """Every coach and site lead of network.yaml, a nurse and a psychiatrist per site, ops."""
    people: list[Person] = []
    for site in network.sites:
        short = site.site_id.removeprefix("site-")
        for coach in site.coaches:
            people.append(Person(coach, Role.COACH, (site.site_id,), f"Coach {coach} — {site.name}",
                                 home_of(Role.COACH)))  # fmt: skip
        people.append(Person(f"rn-{short}-1", Role.NURSE, (site.site_id,),
                             f"Nurse rn-{short}-1 — {site.name}", home_of(Role.NURSE)))  # fmt: skip
        people.append(Person(f"dr-{short}-1", Role.PSYCHIATRIST, (site.site_id,),
                             f"Psychiatrist dr-{short}-1 — {site.name}",
                             home_of(Role.PSYCHIATRIST)))  # fmt: skip
        if site.site_lead:
            people.append(Person(site.site_lead, Role.SITE_ADMIN, (site.site_id,),
                                 f"Site lead {site.site_lead} — {site.name}",
                                 home_of(Role.SITE_ADMIN)))  # fmt: skip
    people.append(Person("ops-1", Role.OPS, (ALL_SITES,), "Ops — every site", home_of(Role.OPS)))
    return people


def main() -> None:
    """`make demo` / `make console`: where the console is and whom to sign in as."""
    port = os.environ.get("CONSOLE_PORT", "8006")
    print(f"\nConsole: http://127.0.0.1:{port}/sign-in  (development sign-in; pick a person):")
    for person in demo_people(load_network()):
        print(f"  {person.label:<48} -> {person.home}")


if __name__ == "__main__":
    main()
