"""The browser tier: the five services and the console as real processes of one throwaway
deployment, driven by Playwright in Debian's Chromium (headless)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, sync_playwright

from demo.client import Api
from harness.servers import Servers
from services.runtime.settings import Settings
from tests.conftest import missing_infrastructure, throwaway
from tests.support.processes import service_processes

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", ROOT / ".run" / "screenshots"))
TABLET: ViewportSize = {"width": 1024, "height": 768}


@pytest.fixture(scope="package")
async def browser_settings(servers: Servers) -> AsyncIterator[Settings]:
    async with throwaway(servers, f"b{uuid.uuid4().hex[:10]}") as configured:
        yield configured


@pytest.fixture(scope="package")
def stack(browser_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """All five services and the console, shared by the tier (each test seeds its own patients)."""
    with service_processes(browser_settings, tmp_path_factory.mktemp("logs")) as api:
        yield api


@pytest.fixture(scope="package")
def playwright(stack: Api) -> Iterator[Playwright]:
    """After the stack: Playwright's sync driver runs a loop of its own in this thread, so the
    stack's async set-up (topics) must be done before it starts and undone after it stops.
    Package-scoped, so that loop is gone before any other tier's async test runs."""
    if not Path(CHROMIUM).exists() or not AXE.exists():
        missing_infrastructure(f"{CHROMIUM} and {AXE} (make install provides both)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
    )
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser, stack: Api) -> Iterator[Page]:
    """A tablet-sized tab on the console; axe is injected over CDP, so CSP stays as served."""
    context = browser.new_context(base_url=stack.urls["console"], viewport=TABLET,
                                  bypass_csp=True, timezone_id="UTC")  # fmt: skip
    context.set_default_timeout(20_000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Page, subject: str) -> None:
    page.goto("/sign-in")
    page.select_option("#subject", subject)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.evaluate(AXE.read_text())
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,"
        " help: v.help, target: v.nodes[0] && v.nodes[0].target}))"
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


AXE_RESULTS: dict[str, int] = {}


def check_screen(page: Page, name: str) -> None:
    """0 serious or critical axe violations, and a screenshot for the README."""
    violations = axe_violations(page)
    AXE_RESULTS[name] = len(violations)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert violations == [], f"{name}: {violations}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if AXE_RESULTS:
        terminalreporter.section("axe-core (serious + critical violations per screen)")
        for name, count in sorted(AXE_RESULTS.items()):
            terminalreporter.write_line(f"{name:<28} {count}")
        terminalreporter.write_line(f"screenshots in {SHOTS}")
