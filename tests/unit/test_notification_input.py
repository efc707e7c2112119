"""What anyone on the internet can post to the two anonymous Graph routes, called as the host calls them over
the in-memory container: IDs that are not Graph's are dropped before any storage read and still answered 202
(never 500 for caller input), and the validation handshake's echo cannot be read as anything but text."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

from functions.bootstrap import Container, install
from functions.domain.errors import StorageError
from functions.domain.subscriptions import Subscription
from functions.entrypoints.notifications import graph_lifecycle, graph_notifications
from tests.support.container import app_settings, memory_container
from tests.support.purge_fakes import MemorySubscriptionStore

API = "https://consent-insights.example/api"
_REFUSED_IN_KEYS = "/\\#?"


class ReadCountingStore(MemorySubscriptionStore):
    """The subscriptions table: each point read is noted, and a key the table service refuses (a character
    it does not allow, or over its 1 KiB) fails as the table adapter fails, with a `StorageError`."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, str]] = []

    def get(self, tenant_id: str, subscription_id: str) -> Subscription | None:
        self.reads.append((tenant_id, subscription_id))
        if len(tenant_id) > 1024 or any(c in _REFUSED_IN_KEYS or ord(c) < 0x20 for c in tenant_id):
            raise StorageError("storage failed: HttpResponseError: The request URI is invalid")
        return super().get(tenant_id, subscription_id)


@pytest.fixture
def store() -> Iterator[ReadCountingStore]:
    rows = ReadCountingStore()
    settings = app_settings(GRAPH_NOTIFICATIONS="on", GRAPH_NOTIFICATION_URL=API)
    c: Container = memory_container(settings=settings, subscription_store=rows)
    install(c)
    yield rows
    install(None)


def post(route: str, body: Any = None, params: dict[str, str] | None = None) -> func.HttpRequest:
    """As the host hands it over: the query already URL-decoded into `params`."""
    return func.HttpRequest(
        "POST", f"http://localhost/api/graph/{route}", headers={"content-type": "application/json"},
        params=params, body=b"" if body is None else json.dumps(body).encode(),
    )  # fmt: skip


def item(**fields: Any) -> dict[str, Any]:
    base = {
        "subscriptionId": str(uuid.uuid4()),
        "tenantId": str(uuid.uuid4()),
        "clientState": "a-guess",
        "changeType": "created",
        "resource": f"users/{uuid.uuid4()}/messages/AAMk",
        "lifecycleEvent": "missed",
    }
    return base | fields


NOT_GRAPHS = {
    "tenant-with-a-slash": {"tenantId": "a/b"},
    "tenant-with-a-hash": {"tenantId": "x#y"},
    "tenant-over-a-kib": {"tenantId": "t" * 2000},
    "tenant-not-a-guid": {"tenantId": "contoso.onmicrosoft.com"},
    "subscription-not-a-guid": {"subscriptionId": "s" * 2000},
}


@pytest.mark.parametrize("fields", NOT_GRAPHS.values(), ids=NOT_GRAPHS.keys())
def test_a_change_notification_with_ids_graph_never_sends_is_answered_202_without_a_storage_read(
    store: ReadCountingStore, fields: dict[str, str]
) -> None:
    """A tenant ID that is no GUID used to be read as a table key: one read per item, and 500 when the table
    refused the key."""
    response = graph_notifications(post("notifications", {"value": [item(**fields)] * 3}))
    assert response.status_code == 202
    assert store.reads == []


@pytest.mark.parametrize("fields", NOT_GRAPHS.values(), ids=NOT_GRAPHS.keys())
def test_a_lifecycle_notification_with_ids_graph_never_sends_is_answered_202_without_a_storage_read(
    store: ReadCountingStore, fields: dict[str, str]
) -> None:
    response = graph_lifecycle(post("lifecycle", {"value": [item(**fields)]}))
    assert response.status_code == 202
    assert store.reads == []


def test_in_a_batch_only_the_items_with_has_graph_ids_are_looked_up(store: ReadCountingStore) -> None:
    good = item()
    body = {"value": [item(tenantId="a/b"), good, item(subscriptionId="not-a-guid")]}
    assert graph_notifications(post("notifications", body)).status_code == 202
    assert store.reads == [(good["tenantId"], good["subscriptionId"])]


# --- the validation handshake ------------------------------------------------------------------------------


@pytest.mark.parametrize(("route", "handler"), [("notifications", graph_notifications),
                                                ("lifecycle", graph_lifecycle)])  # fmt: skip
def test_the_echoed_validation_token_is_plain_text_a_browser_will_not_sniff_or_run(
    store: ReadCountingStore, route: str, handler: Any
) -> None:
    token = "<script>alert(1)</script>"
    response = handler(post(route, params={"validationToken": token}))
    assert (response.status_code, response.get_body().decode()) == (200, token)
    assert response.mimetype == "text/plain"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'"
