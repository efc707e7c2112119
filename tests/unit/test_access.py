"""Authorisation of the REST API: the token's tenant must be the route's, and the role must be held."""

from __future__ import annotations

import uuid

import pytest

from functions.domain.access import (
    CONSENT_MANAGE,
    INSIGHTS_READ,
    Principal,
    require_role,
    require_self_or_role,
)
from functions.domain.errors import Forbidden


def principal(tenant_id: str, *roles: str, oid: str | None = None) -> Principal:
    return Principal(
        tenant_id=tenant_id, object_id=oid, roles=frozenset(roles), subject="subject", app_id="client-app"
    )


def test_a_role_holder_of_the_routes_tenant_is_allowed(tenant_id: str) -> None:
    require_role(principal(tenant_id, CONSENT_MANAGE), tenant_id, CONSENT_MANAGE)


def test_the_tenant_comparison_ignores_the_case_of_the_guid(tenant_id: str) -> None:
    require_role(principal(tenant_id.upper(), INSIGHTS_READ), tenant_id.lower(), INSIGHTS_READ)


def test_a_token_of_another_tenant_is_forbidden_even_with_the_role(tenant_id: str) -> None:
    other_tenant = str(uuid.uuid4())
    with pytest.raises(Forbidden, match="another tenant"):
        require_role(principal(other_tenant, CONSENT_MANAGE), tenant_id, CONSENT_MANAGE)


def test_a_route_tenant_that_is_not_a_guid_matches_no_token() -> None:
    with pytest.raises(Forbidden):
        require_role(principal("contoso", CONSENT_MANAGE), "contoso", CONSENT_MANAGE)


def test_a_missing_role_is_forbidden(tenant_id: str) -> None:
    with pytest.raises(Forbidden, match=CONSENT_MANAGE):
        require_role(principal(tenant_id, INSIGHTS_READ), tenant_id, CONSENT_MANAGE)


def test_a_user_may_change_their_own_opt_out_without_a_role(tenant_id: str) -> None:
    user_id = str(uuid.uuid4())
    require_self_or_role(principal(tenant_id, oid=user_id.upper()), tenant_id, user_id, CONSENT_MANAGE)


def test_changing_another_users_opt_out_without_the_role_is_forbidden(tenant_id: str) -> None:
    me, someone_else = str(uuid.uuid4()), str(uuid.uuid4())
    with pytest.raises(Forbidden, match="another user"):
        require_self_or_role(principal(tenant_id, oid=me), tenant_id, someone_else, CONSENT_MANAGE)


def test_an_admin_with_the_role_may_change_another_users_opt_out(tenant_id: str) -> None:
    admin, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    require_self_or_role(principal(tenant_id, CONSENT_MANAGE, oid=admin), tenant_id, user_id, CONSENT_MANAGE)


def test_an_app_only_token_without_oid_needs_the_role_for_any_user(tenant_id: str) -> None:
    with pytest.raises(Forbidden):
        require_self_or_role(principal(tenant_id), tenant_id, str(uuid.uuid4()), CONSENT_MANAGE)


def test_ones_own_oid_does_not_reach_into_another_tenant(tenant_id: str) -> None:
    user_id = str(uuid.uuid4())
    with pytest.raises(Forbidden, match="another tenant"):
        require_self_or_role(principal(str(uuid.uuid4()), oid=user_id), tenant_id, user_id, CONSENT_MANAGE)
