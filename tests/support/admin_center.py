"""Admin-center CloudEvents as the admin center would send them, for tests and the demo."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from functions.domain import times

ADMIN = {"id": "0b8f6c1e-9a55-4f0e-8a3c-6f1c2d3e4f50", "upn": "admin@contoso.example"}


def rfc3339(at: datetime) -> str:
    return times.rfc3339(at)


def cloud_event(
    event_type: str, data: dict[str, Any], *, at: datetime, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or f"evt-{uuid.uuid4()}",
        "source": "/admin-center/consent",
        "type": event_type,
        "time": rfc3339(at),
        "datacontenttype": "application/json",
        "data": data,
    }


def granted(tenant_id: str, at: datetime, groups: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"tenantId": tenant_id, "actor": ADMIN}
    if groups is not None:
        data["optedOutGroupIds"] = groups
    return cloud_event("consent.granted", data, at=at, **kw)


def revoked(tenant_id: str, at: datetime, **kw: Any) -> dict[str, Any]:
    return cloud_event("consent.revoked", {"tenantId": tenant_id, "actor": ADMIN}, at=at, **kw)


def groups_replaced(tenant_id: str, groups: list[str], at: datetime, **kw: Any) -> dict[str, Any]:
    data = {"tenantId": tenant_id, "actor": ADMIN, "groupIds": groups}
    return cloud_event("optout.groups.replaced", data, at=at, **kw)


def user_changed(
    tenant_id: str, user_id: str, at: datetime, *, opted_out: bool = True, **kw: Any
) -> dict[str, Any]:
    data = {"tenantId": tenant_id, "userId": user_id, "optedOut": opted_out}
    return cloud_event("optout.user.changed", data, at=at, **kw)


def legacy_imported(
    tenant_id: str,
    feature: str,
    at: datetime,
    *,
    granted_at: datetime,
    expires_at: datetime | None = None,
    groups: list[str] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {"tenantId": tenant_id, "feature": feature, "grantedAt": rfc3339(granted_at)}
    if expires_at is not None:
        data["expiresAt"] = rfc3339(expires_at)
    if groups is not None:
        data["optedOutGroupIds"] = groups
    return cloud_event("legacy.consent.imported", data, at=at, **kw)


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()
