"""The development identity provider of `make serve` (devhost/identity_provider.py), over HTTP on 127.0.0.1.

Its tokens are checked by the app's real `TokenValidator`, configured from the provider's own `settings()`
and fetching its keys over HTTP, so a token that passes here is one the app under `make serve` accepts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from devhost.identity_provider import DevIdentityProvider
from functions.adapters.tokens import TokenValidator
from functions.domain.access import CONSENT_MANAGE, INSIGHTS_READ

pytestmark = pytest.mark.integration

CONSOLE = "http://127.0.0.1:7071/api/console/"


@pytest.fixture(scope="module")
def provider() -> Iterator[DevIdentityProvider]:
    with DevIdentityProvider() as started:
        yield started


@pytest.fixture
def client(provider: DevIdentityProvider) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=provider.url, timeout=10.0) as http:
        yield http


@pytest.fixture
def validator(provider: DevIdentityProvider) -> TokenValidator:
    settings = provider.settings()
    return TokenValidator(settings["AUTH_JWKS_URL"], settings["AUTH_AUDIENCE"], settings["AUTH_ISSUER"])


def sign_in(client: httpx.Client, **fields: str | list[str]) -> httpx.Response:
    form: dict[str, str | list[str]] = {
        "redirect_uri": CONSOLE,
        "state": "s-1",
        "tenant": str(uuid.uuid4()),
        "user": str(uuid.uuid4()),
        "name": "Ada Lovelace",
        "roles": [CONSENT_MANAGE, INSIGHTS_READ],
    }
    form.update(fields)
    return client.post("/authorize", data=form)


def fragment(response: httpx.Response) -> dict[str, str]:
    """The parameters of the fragment the 303 sends the browser back with."""
    assert response.status_code == 303, response.text
    return {
        name: values[0] for name, values in parse_qs(urlsplit(response.headers["location"]).fragment).items()
    }


class _Page(HTMLParser):
    """The parts of a page the accessibility checks look at."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.lang: str | None = None
        self.title = ""
        self.inputs: list[dict[str, str | None]] = []
        self.label_targets: set[str | None] = set()
        self.buttons: list[str | None] = []
        self.h1_in_main = False
        self._open: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "html":
            self.lang = attributes.get("lang")
        elif tag == "input":
            self.inputs.append(attributes)
        elif tag == "label":
            self.label_targets.add(attributes.get("for"))
        elif tag == "button":
            self.buttons.append(attributes.get("type"))
        elif tag == "h1" and "main" in self._open:
            self.h1_in_main = True
        if tag not in ("input", "meta"):  # the void elements the page uses
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            del self._open[len(self._open) - 1 - self._open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] == "title":
            self.title += data


def test_a_token_from_the_sign_in_form_is_accepted_by_the_apps_validator_as_the_chosen_user(
    client: httpx.Client, validator: TokenValidator
) -> None:
    tenant, user = str(uuid.uuid4()), str(uuid.uuid4())

    token = fragment(sign_in(client, tenant=tenant, user=user))["access_token"]

    principal = validator.validate(f"Bearer {token}", tenant, datetime.now(UTC))
    assert principal.tenant_id == tenant
    assert principal.object_id == user
    assert principal.roles == frozenset({CONSENT_MANAGE, INSIGHTS_READ})


def test_the_token_returns_in_the_redirect_fragment_with_its_type_lifetime_and_the_state(
    client: httpx.Client,
) -> None:
    response = sign_in(client, state="abc&def=1")

    assert response.headers["location"].startswith(CONSOLE + "#")
    returned = fragment(response)
    assert returned["token_type"] == "Bearer"
    assert returned["expires_in"] == "3600"
    assert returned["state"] == "abc&def=1"


def test_a_role_left_unchecked_is_absent_from_the_token(
    client: httpx.Client, validator: TokenValidator, tenant_id: str
) -> None:
    token = fragment(sign_in(client, tenant=tenant_id, roles=[INSIGHTS_READ]))["access_token"]

    principal = validator.validate(f"Bearer {token}", tenant_id, datetime.now(UTC))
    assert principal.roles == frozenset({INSIGHTS_READ})


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://console.example.com/",
        "http://127.0.0.1@example.com/",
        "http://127.0.0.1.example.com/",
        "javascript:alert(1)//127.0.0.1/",
        "http://127.0.0.1:7071/#already",
        "",
    ],
)
def test_a_redirect_off_this_machine_is_refused_with_400_and_no_token(
    client: httpx.Client, redirect_uri: str
) -> None:
    response = sign_in(client, redirect_uri=redirect_uri)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "redirect_uri" in response.text
    assert "eyJ" not in response.text  # no JWT anywhere on the page


def test_a_tenant_that_is_not_a_guid_is_refused_with_400_saying_so(client: httpx.Client) -> None:
    response = sign_in(client, tenant="contoso.onmicrosoft.com")

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "The tenant ID must be a GUID" in response.text


def test_a_role_the_app_does_not_know_is_refused_with_400(client: httpx.Client) -> None:
    response = sign_in(client, roles=[INSIGHTS_READ, "Global.Admin"])

    assert response.status_code == 400
    assert "Unknown roles: Global.Admin" in response.text


# Every interface too: that is what the refusal is for.
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "idp.example.com"])  # noqa: S104
def test_the_provider_refuses_to_serve_anything_but_loopback(host: str) -> None:
    with pytest.raises(ValueError, match=r"development identity provider .* only serves loopback"):
        DevIdentityProvider(host)


def test_a_request_naming_another_host_is_refused_as_dns_rebinding_would_send_it(
    client: httpx.Client,
) -> None:
    response = client.get("/jwks", headers={"Host": "attacker.example.com"})

    assert response.status_code == 421


def test_the_sign_in_page_is_accessible_with_a_label_for_every_input(client: httpx.Client) -> None:
    response = client.get("/authorize", params={"redirect_uri": CONSOLE, "state": "s-1"})

    assert response.status_code == 200
    page = _Page(response.text)
    assert page.lang == "en"
    assert page.title.strip()
    assert page.h1_in_main
    assert page.buttons == ["submit"]
    visible = [attributes for attributes in page.inputs if attributes.get("type") != "hidden"]
    assert {attributes["name"] for attributes in visible} == {"tenant", "user", "name", "roles"}
    assert all(attributes.get("id") in page.label_targets for attributes in visible)


def test_the_sign_in_page_prefills_the_tenant_and_checks_both_roles(client: httpx.Client) -> None:
    tenant = str(uuid.uuid4())

    page = _Page(client.get("/authorize", params={"redirect_uri": CONSOLE, "tenant": tenant}).text)

    fields = {attributes.get("id"): attributes for attributes in page.inputs}
    assert fields["tenant"]["value"] == tenant
    assert uuid.UUID(str(fields["user"]["value"]))
    roles = [attributes for attributes in page.inputs if attributes.get("name") == "roles"]
    assert {(role["value"], "checked" in role) for role in roles} == {
        (CONSENT_MANAGE, True),
        (INSIGHTS_READ, True),
    }


def test_the_sign_in_page_escapes_a_hostile_state_and_tenant(client: httpx.Client) -> None:
    hostile = '"><script>alert(1)</script>'

    response = client.get("/authorize", params={"redirect_uri": CONSOLE, "state": hostile, "tenant": hostile})

    assert "<script" not in response.text
    fields = {attributes.get("name"): attributes for attributes in _Page(response.text).inputs}
    assert fields["state"]["value"] == hostile
    assert fields["tenant"]["value"] == hostile


def test_the_jwks_lists_the_key_that_signs_the_tokens(client: httpx.Client) -> None:
    token = fragment(sign_in(client))["access_token"]

    keys = client.get("/jwks").json()["keys"]

    (entry,) = keys
    assert entry["kid"] == jwt.get_unverified_header(token)["kid"]
    assert entry["use"] == "sig"
    assert entry["kty"] == "RSA"
    assert "alg" not in entry
