"""Reading a purge through the REST API until it is verified, as a client would."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from tests.support.consent_client import ConsentClient

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s")


def purge_view(client: ConsentClient, tenant_id: str, purge_id: str) -> dict[str, Any]:
    response = client.get(f"/api/tenants/{tenant_id}/purges/{purge_id}", tenant_id)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def verified(client: ConsentClient, tenant_id: str, purge_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        view = purge_view(client, tenant_id, purge_id)
        return view if view["status"] == "verified" else None

    return eventually(probe)
