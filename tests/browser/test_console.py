"""The console in a real Chromium, as its users walk it: sign in locally, grant, watch ingestion finish, open
a contact's card, opt a colleague out and see them vanish, withdraw, watch the purge verify, download the
evidence. Every page passes an accessibility scan (no serious or critical violation), works from the
keyboard, and reads at 1280 px and 390 px wide."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Stack

pytestmark = pytest.mark.browser

INGESTION_TIMEOUT_MS = 180_000
PURGE_TIMEOUT_MS = 120_000


def sign_in(
    page: Page, stack: Stack, tenant: str, *, roles: tuple[str, ...] = ("Consent.Manage", "Insights.Read")
) -> None:
    """Through the development identity provider's page, as a person would."""
    page.goto(stack.console.rstrip("/"))  # without the slash: the console redirects to /api/console/
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sign in (development)")).to_be_visible()
    page.get_by_label("Tenant ID").fill(tenant)
    page.get_by_label("Display name").fill("Ada Admin")
    for role in ("Consent.Manage", "Insights.Read"):
        box = page.get_by_label(role)
        if (role in roles) != box.is_checked():
            box.click()
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Ada Admin")).to_be_visible()


def confirm(page: Page, button: str) -> None:
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=button).click()


def top_contact(stack: Stack) -> str:
    tenant = httpx.get(f"{stack.sim.url}/_sim/tenant", timeout=10).json()
    address: str = tenant["topContacts"][0]
    return address


def open_card(page: Page, contact: str) -> None:
    page.get_by_role("link", name="Relationship card").click()
    page.get_by_label("Contact's email address").fill(contact)
    page.get_by_role("button", name="Show").click()


def shoot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"console-{name}.png"), full_page=True)


def test_an_administrator_walks_the_life_of_a_tenant_from_grant_to_verified_purge_and_evidence(
    page: Page, stack: Stack, screenshots: Path, tmp_path: Path
) -> None:
    tenant = str(uuid.uuid4())
    sign_in(page, stack, tenant)
    expect(page.get_by_role("heading", name="Compliance", level=1)).to_be_visible()
    expect(page.get_by_test_id("consent-state")).to_have_text("none")

    page.get_by_role("button", name="Grant consent").click()
    confirm(page, "Grant")
    expect(page.get_by_test_id("consent-state")).to_have_text("granted")
    # The grant queues the backfill; the page follows it until every window has landed.
    expect(page.get_by_test_id("ingestion-phase")).to_have_text("current", timeout=INGESTION_TIMEOUT_MS)
    expect(page.get_by_label(re.compile(r"^Backfill: 72 of 72 windows"))).to_be_visible()
    shoot(page, screenshots, "compliance")

    contact = top_contact(stack)
    open_card(page, contact)
    expect(page.get_by_test_id("health-score")).to_be_visible()
    colleagues = page.get_by_test_id("colleagues").locator("li")
    expect(colleagues.first).to_be_visible()
    expect(page.locator("canvas")).to_have_count(1)
    first = colleagues.first
    colleague_id = first.get_attribute("data-user-id")
    assert colleague_id
    name = first.locator("strong").inner_text()
    first.get_by_role("button", name=f"Get introduced by {name}").click()
    expect(page.get_by_role("link", name="Open in mail")).to_have_attribute("href", re.compile(r"^mailto:"))
    shoot(page, screenshots, "card")

    page.get_by_role("link", name="Compliance").click()
    page.get_by_label("User object ID").fill(colleague_id)
    page.get_by_role("button", name="Opt user out").click()
    confirm(page, "Opt out and delete")
    expect(page.get_by_role("status").first).to_contain_text("User opted out")
    open_card(page, contact)
    expect(page.get_by_test_id("health-score")).to_be_visible()
    expect(page.locator(f'[data-user-id="{colleague_id}"]')).to_have_count(0)

    page.get_by_role("link", name="Compliance").click()
    page.get_by_role("button", name="Withdraw consent").click()
    confirm(page, "Withdraw and delete")
    expect(page.get_by_test_id("consent-state")).to_have_text("revoked")
    # The tenant purge: its verification finds nothing left (the page follows it).
    tenant_purge = page.locator("tr", has_text="consent-revoked")
    expect(tenant_purge.get_by_text("0 left")).to_be_visible(timeout=PURGE_TIMEOUT_MS)

    page.get_by_role("link", name="Evidence").click()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download JSON").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"evidence-{tenant}-")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    evidence = json.loads(saved.read_text())
    assert [c["kind"] for c in evidence["consentHistory"]] == ["granted", "revoked"]
    assert {p["purge"]["reason"] for p in evidence["purges"]} >= {"consent-revoked", "user-opt-out"}
    page.get_by_role("button", name="Printable view").click()
    expect(page.get_by_test_id("deadlines-missed")).to_have_text("0 deadlines missed")
    shoot(page, screenshots, "evidence")
