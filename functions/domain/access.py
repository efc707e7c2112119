"""Who may do what: the authorisation rules of the REST API (SPEC section 3, "REST API").

Authentication (is this a genuine Entra ID token?) lives in `functions/adapters/tokens.py` and fails with
`Unauthenticated` (401). This module starts from an authenticated `Principal` and decides whether it may act
on a route; a refusal is `Forbidden` (403). Pure rules: no I/O, no clock.

The messages of `Forbidden` reach the caller as the problem's `detail`, so they name the rule that failed and
nothing from the token beyond what its holder already knows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from functions.domain.errors import Forbidden

CONSENT_MANAGE = "Consent.Manage"
INSIGHTS_READ = "Insights.Read"

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller as an authenticated Entra ID token describes it.

    `object_id` is the token's `oid` (the user, or the service principal for app-only tokens), `roles` its
    app roles, `app_id` the client application (`azp`, or `appid` in v1 tokens).
    """

    tenant_id: str
    object_id: str | None
    roles: frozenset[str]
    subject: str | None
    app_id: str | None


def is_guid(value: str) -> bool:
    """True for the canonical 8-4-4-4-12 hexadecimal form Entra uses for tenant and object IDs."""
    return bool(_GUID.fullmatch(value))


def same_guid(left: str | None, right: str | None) -> bool:
    """GUIDs compare case-insensitively; anything that is not a canonical GUID never matches."""
    return (
        left is not None
        and right is not None
        and is_guid(left)
        and is_guid(right)
        and (left.lower() == right.lower())
    )


def require_tenant(principal: Principal, tenant_id: str) -> None:
    """The token must have been issued for the route's tenant: no role reaches across tenants."""
    if not same_guid(principal.tenant_id, tenant_id):
        raise Forbidden("the token was issued for another tenant")


def require_role(principal: Principal, tenant_id: str, role: str) -> None:
    """The caller belongs to the route's tenant and holds `role`."""
    require_tenant(principal, tenant_id)
    if role not in principal.roles:
        raise Forbidden(f"the role {role} is required")


def require_self_or_role(principal: Principal, tenant_id: str, user_id: str, role: str) -> None:
    """A user may change their own opt-out without a role; anyone else acting on `user_id` needs `role`.

    The tenant check comes first: an `oid` equal to the route's user ID proves nothing in another tenant.
    """
    require_tenant(principal, tenant_id)
    if same_guid(principal.object_id, user_id):
        return
    if role not in principal.roles:
        raise Forbidden(f"the role {role} is required to act for another user")
