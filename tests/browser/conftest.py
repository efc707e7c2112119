"""Browser fixtures: Debian's chromium driven by Playwright, and the whole local stack the console runs on
(Azurite, a Graph simulator with a small tenant, the development identity provider, the app in the local
host), as `make serve` would run them.

No browser is downloaded: `make test` installs Debian's chromium when it is missing (`make chromium`).
Screenshots of each page go to a temporary folder; with UPDATE_SCREENSHOTS=1 they replace docs/img/console-*
(what the README shows).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from devhost.azurite import Azurite
from devhost.identity_provider import DevIdentityProvider
from graphsim.generate import TenantSpec
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant
from tests.support.apphost import AppHost, start_app_host

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
SCREENSHOTS = ROOT / "docs" / "img"
SPEC = TenantSpec(
    seed=5, users=6, external_contacts=20, messages_per_user_per_month=6, meetings_per_user_per_month=1
)


@dataclass(frozen=True)
class Stack:
    host: AppHost
    sim: GraphSimulator
    idp: DevIdentityProvider

    @property
    def console(self) -> str:
        return f"{self.host.url}/api/console/"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Azurite() as azurite, GraphSimulator(Tenant(SPEC)) as sim, DevIdentityProvider() as idp:
        host = start_app_host(
            azurite.connection_string,
            idp.settings(),
            GRAPH_BASE_URL=sim.graph_url,
            GRAPH_STATIC_TOKEN=sim.token,
        )
        try:
            yield Stack(host, sim, idp)
        finally:
            host.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's package")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # The console's policy allows scripts from its own origin only; the accessibility scan injects axe-core.
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, bypass_csp=True, accept_downloads=True
    )
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the page raised: {errors}"


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path_factory.mktemp("shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def axe_violations(page: Page) -> list[str]:
    """Serious and critical accessibility violations on the page as it is now (axe-core, WCAG 2.1 AA)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async (tags) => await axe.run(document, {runOnly: tags})", AXE_TAGS)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
