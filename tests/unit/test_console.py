"""The console's files and sign-in configuration (functions/entrypoints/console.py): which files can be named,
how the page is told to sign in, the content security policy, and that every file the page loads is there."""

from __future__ import annotations

import re

import pytest

from functions.domain.errors import ConfigurationError, NotFound
from functions.entrypoints.console import STATIC, console_config, security_headers, static_file
from functions.settings import Settings

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "CONTACT_HASH_KEY": "k" * 32}


def settings(**values: str) -> Settings:
    return Settings.from_env(BASE | values)


def test_the_empty_path_is_the_page() -> None:
    assert static_file("") == STATIC / "index.html"


def test_a_module_of_the_page_is_served_by_its_name() -> None:
    assert static_file("app.js") == STATIC / "app.js"


@pytest.mark.parametrize(
    "path",
    ["../entrypoints/console.py", "vendor/../../settings.py", "..", ".hidden", "app.js/..", "APP.JS",
     "a b.js", "missing.js", "vendor", "/etc/passwd", "%2e%2e/x.js"],
    ids=["parent", "parent inside a folder", "dots", "hidden file", "trailing parent", "upper case", "space",
         "absent file", "a folder", "absolute path", "encoded dots"],
)  # fmt: skip
def test_anything_but_a_plain_name_of_a_console_file_is_not_found(path: str) -> None:
    with pytest.raises(NotFound):
        static_file(path)


def test_with_a_development_identity_provider_the_page_signs_in_there() -> None:
    config = console_config(settings(CONSOLE_DEV_IDP_URL="http://127.0.0.1:7080/"))
    assert config == {"auth": {"mode": "development", "signInUrl": "http://127.0.0.1:7080/authorize"}}


def test_with_an_spa_registration_the_page_signs_in_with_msal_for_the_api_scope() -> None:
    config = console_config(settings(CONSOLE_CLIENT_ID="spa-id", AUTH_AUDIENCE="api://consent-insights"))
    assert config["auth"]["mode"] == "msal"
    assert config["auth"]["clientId"] == "spa-id"
    assert config["auth"]["scopes"] == ["api://consent-insights/.default"]
    assert config["auth"]["authority"] == "https://login.microsoftonline.com/organizations"


def test_a_configured_api_scope_wins_over_the_default() -> None:
    config = console_config(settings(CONSOLE_CLIENT_ID="spa", CONSOLE_API_SCOPE="api://x/Console.Use"))
    assert config["auth"]["scopes"] == ["api://x/Console.Use"]


def test_without_either_the_page_says_sign_in_is_not_configured() -> None:
    assert console_config(settings()) == {"auth": {"mode": "none"}}


@pytest.mark.parametrize("url", ["https://idp.example", "http://10.0.0.4:7080", "http://127.0.0.1.example"])
def test_a_development_identity_provider_off_loopback_stops_start_up(url: str) -> None:
    with pytest.raises(ConfigurationError, match="CONSOLE_DEV_IDP_URL"):
        settings(CONSOLE_DEV_IDP_URL=url)


def test_the_policy_allows_scripts_from_this_origin_only_and_no_framing() -> None:
    policy = security_headers(settings())["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


def test_every_file_the_page_loads_is_served() -> None:
    page = (STATIC / "index.html").read_text()
    named = re.findall(r'(?:src|href)="([^"#]+)"', page)
    imports = [
        name
        for module in STATIC.glob("*.js")
        for name in re.findall(r'from "\./([^"]+)"', module.read_text())
    ]
    assert named
    assert imports
    for name in [*named, *imports]:
        assert static_file(name).is_file(), name
