"""Each console page on its own: accessible (axe-core finds no serious or critical violation), usable from the
keyboard, readable at 1280 px and 390 px wide, and honest about what a person may see: a reader gets the
card only, a tenant without the feature is told why, an unknown contact is said to be unknown."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Stack, axe_violations
from tests.browser.test_console import open_card, sign_in, top_contact

pytestmark = pytest.mark.browser

WIDTHS = (1280, 390)


@dataclass(frozen=True)
class Ingested:
    tenant: str
    contact: str


@pytest.fixture(scope="module")
def ingested(stack: Stack) -> Ingested:
    """A tenant granted through the API with one opt-out and a year ingested (what the pages then show)."""
    tenant = str(uuid.uuid4())
    token = stack.idp.mint(tenant, str(uuid.uuid4()), ["Consent.Manage"])
    headers = {"Authorization": f"Bearer {token}"}
    assert stack.host.put(f"/api/tenants/{tenant}/consent", headers=headers).status_code == 200
    stack.host.wait_for_queues_idle(timeout=180)
    user = str(uuid.uuid4())
    assert stack.host.put(f"/api/tenants/{tenant}/opt-outs/users/{user}", headers=headers).status_code == 202
    return Ingested(tenant, top_contact(stack))


def fits(page: Page, width: int) -> None:
    """Nothing but the tables' own scrolling boxes is wider than the window, and no value is shown as a
    programming word (null, undefined, NaN) instead of what it means."""
    overflow = page.evaluate("() => document.scrollingElement.scrollWidth")
    assert overflow <= width + 1, f"the page is {overflow} px wide in a {width} px window"
    text = page.locator("main").inner_text()
    assert not re.search(r"\b(null|undefined|NaN)\b", text), text


@pytest.mark.parametrize("width", WIDTHS)
def test_the_compliance_page_is_accessible_and_fits(
    page: Page, stack: Stack, ingested: Ingested, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, stack, ingested.tenant)
    expect(page.get_by_test_id("ingestion-phase")).to_have_text("current")
    expect(page.get_by_role("table", name="Purges, newest first")).to_be_visible()
    assert axe_violations(page) == []
    fits(page, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_relationship_card_is_accessible_and_fits(
    page: Page, stack: Stack, ingested: Ingested, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, stack, ingested.tenant)
    open_card(page, ingested.contact)
    expect(page.get_by_test_id("health-score")).to_be_visible()
    expect(page.get_by_test_id("colleagues")).to_be_visible()
    assert axe_violations(page) == []
    fits(page, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_evidence_page_and_its_printable_view_are_accessible(
    page: Page, stack: Stack, ingested: Ingested, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, stack, ingested.tenant)
    page.get_by_role("link", name="Evidence").click()
    page.get_by_role("button", name="Printable view").click()
    expect(page.get_by_role("table", name="Purges")).to_be_visible()
    assert axe_violations(page) == []
    fits(page, width)


def test_the_sign_in_pages_are_accessible(page: Page, stack: Stack) -> None:
    page.goto(stack.console)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Tenant ID")).to_be_visible()
    assert axe_violations(page) == []


def test_a_person_signs_in_and_moves_between_pages_with_the_keyboard_only(
    page: Page, stack: Stack, ingested: Ingested
) -> None:
    page.goto(stack.console)
    sign_in_button = page.get_by_role("button", name="Sign in")
    expect(sign_in_button).to_be_visible()
    for _ in range(10):  # skip link, the navigation, then the button
        page.keyboard.press("Tab")
        if sign_in_button.evaluate("b => b === document.activeElement"):
            break
    page.keyboard.press("Enter")
    page.get_by_label("Tenant ID").fill(ingested.tenant)
    page.get_by_label("Tenant ID").press("Enter")  # submits the form
    expect(page.get_by_role("heading", name="Compliance", level=1)).to_be_visible()
    # A page moves focus to its main region once it has rendered; a keyboard user waits for that.
    expect(page.locator("#main")).to_be_focused()
    card_link = page.get_by_role("link", name="Relationship card")
    card_link.focus()
    page.keyboard.press("Enter")
    contact = page.get_by_label("Contact's email address")
    expect(contact).to_be_visible()
    contact.fill(ingested.contact)
    contact.press("Enter")
    expect(page.get_by_test_id("health-score")).to_be_visible()


def test_a_reader_sees_the_card_and_not_the_compliance_pages(
    page: Page, stack: Stack, ingested: Ingested
) -> None:
    sign_in(page, stack, ingested.tenant, roles=("Insights.Read",))
    expect(page.get_by_role("heading", name="Relationship card", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Compliance")).to_be_hidden()
    page.goto(stack.console + "#/compliance")
    page.reload()
    expect(page.get_by_text("This page needs the role Consent.Manage")).to_be_visible()


def test_a_tenant_without_the_feature_is_told_why(page: Page, stack: Stack) -> None:
    sign_in(page, stack, str(uuid.uuid4()))
    open_card(page, "someone@customer.example")
    expect(page.get_by_text("relationship_analytics is not enabled for this tenant")).to_be_visible()
    expect(page.get_by_text("who_knows_whom is not enabled for this tenant")).to_be_visible()


def test_the_console_loads_nothing_from_another_origin(page: Page, stack: Stack) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(stack.console)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    foreign = [url for url in requested if not url.startswith(stack.host.url)]
    assert foreign == []
    policy = httpx.get(stack.console, timeout=10).headers["content-security-policy"]
    assert "script-src 'self'" in policy
