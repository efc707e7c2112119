"""The app's record of its Graph subscriptions, in table `subscriptions`.

PartitionKey the tenant ID, RowKey Graph's subscription ID: a notification names both (`tenantId`,
`subscriptionId`), so believing it costs one point read. A row holds the user and resource kind, the expiry
and the SHA-256 of the subscription's `clientState` (the secret itself is never stored).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient

from functions.adapters.storage import StorageClients, translate_storage_errors
from functions.adapters.table_rows import Entity, iso, parse_iso, required_iso, safe_key
from functions.domain.subscriptions import RESOURCE_KINDS, Subscription

TABLE = "subscriptions"


class TableSubscriptionStore:
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage

    @property
    def _table(self) -> TableClient:
        return self._storage.table(TABLE)

    def get(self, tenant_id: str, subscription_id: str) -> Subscription | None:
        with translate_storage_errors():
            try:
                row = self._table.get_entity(tenant_id.lower(), safe_key(subscription_id))
            except ResourceNotFoundError:
                return None
        return _subscription(row)

    def of_tenant(self, tenant_id: str) -> list[Subscription]:
        return [_subscription(row) for row in self._rows("PartitionKey eq @pk", {"pk": tenant_id.lower()})]

    def of_user(self, tenant_id: str, user_id: str) -> list[Subscription]:
        query = "PartitionKey eq @pk and userId eq @user"
        return [
            _subscription(row)
            for row in self._rows(query, {"pk": tenant_id.lower(), "user": user_id.lower()})
        ]

    def save(self, subscription: Subscription) -> None:
        with translate_storage_errors():
            self._table.upsert_entity(_entity(subscription))

    def delete(self, tenant_id: str, subscription_id: str) -> None:
        with translate_storage_errors():
            self._table.delete_entity(tenant_id.lower(), safe_key(subscription_id))

    def tenant_ids(self) -> list[str]:
        with translate_storage_errors():
            rows = self._table.query_entities("PartitionKey ne ''", select=["PartitionKey"])
            return sorted({str(row["PartitionKey"]) for row in rows})

    def _rows(self, query: str, parameters: dict[str, Any]) -> Iterator[Entity]:
        with translate_storage_errors():
            yield from self._table.query_entities(query, parameters=parameters)


def _entity(sub: Subscription) -> Entity:
    return {
        "PartitionKey": sub.tenant_id.lower(),
        "RowKey": safe_key(sub.subscription_id),
        "subscriptionId": sub.subscription_id,
        "userId": sub.user_id.lower(),
        "kind": sub.kind,
        "clientStateSha256": sub.client_state_sha256,
        "expiresAt": iso(sub.expires_at),
        "createdAt": iso(sub.created_at),
        "renewedAt": iso(sub.renewed_at) if sub.renewed_at else "",
    }


def _subscription(row: Entity) -> Subscription:
    kind = next((k for k in RESOURCE_KINDS if k == row.get("kind")), None)
    if kind is None:
        raise ValueError(f"a stored subscription has an unknown resource kind: {row.get('kind')!r}")
    return Subscription(
        tenant_id=str(row["PartitionKey"]),
        user_id=str(row["userId"]),
        kind=kind,
        subscription_id=str(row["subscriptionId"]),
        client_state_sha256=str(row["clientStateSha256"]),
        expires_at=required_iso(row["expiresAt"]),
        created_at=required_iso(row["createdAt"]),
        renewed_at=parse_iso(row.get("renewedAt")),
    )
