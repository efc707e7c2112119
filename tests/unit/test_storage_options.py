"""When the storage clients trust the environment: only when it configures a proxy or a CA bundle (reading it
costs every request; ignoring a configured proxy would break a deployment behind one)."""

from __future__ import annotations

import pytest

from functions.adapters.storage import client_options


@pytest.mark.parametrize(
    "name",
    [
        "HTTPS_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "NO_PROXY",
        "no_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ],
)
def test_an_environment_with_a_proxy_or_ca_bundle_is_trusted(name: str) -> None:
    assert client_options({"PATH": "/usr/bin", name: "value"})["use_env_settings"] is True


def test_an_environment_without_either_is_not_read_per_request() -> None:
    environ = {"PATH": "/usr/bin", "HOME": "/root", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    assert client_options(environ)["use_env_settings"] is False


def test_the_retry_and_timeout_options_are_kept_either_way() -> None:
    for environ in ({}, {"HTTPS_PROXY": "http://proxy:3128"}):
        options = client_options(environ)
        assert options["retry_total"] == 3
        assert options["connection_timeout"] == 5
