"""When the storage clients trust the environment: only when it configures a proxy or a CA bundle (reading it
costs every request; ignoring a configured proxy would break a deployment behind one). Settings decide it,
from the environment they are given."""

from __future__ import annotations

import pytest

from functions.settings import storage_settings

AZURITE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}


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
    assert storage_settings({**AZURITE, "PATH": "/usr/bin", name: "value"}).trust_environment is True


def test_an_environment_without_either_is_not_read_per_request() -> None:
    environ = {**AZURITE, "PATH": "/usr/bin", "HOME": "/root"}
    assert storage_settings(environ).trust_environment is False
