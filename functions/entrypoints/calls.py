"""What every authenticated route of a tenant does first, in this order: the bearer token (401), the route's
GUIDs (400, validated before anything about them is logged), then authorisation (403), then the body.

    call = TenantCall(req).requiring(INSIGHTS_READ)
    body = body_fields(req, required=("contact",))
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import azure.functions as func

from functions.bootstrap import Container, container
from functions.domain.access import Principal, is_guid, require_role, require_self_or_role
from functions.domain.errors import FieldError, ValidationFailed
from functions.entrypoints.http import json_object


class TenantCall:
    """An authenticated call on a tenant's route: the container, the time, the tenant and the caller."""

    def __init__(self, req: func.HttpRequest) -> None:
        self.c: Container = container()
        self.now: datetime = self.c.now()
        self.principal: Principal = self.c.token_validator.validate(
            req.headers.get("authorization"), str(req.route_params.get("tenantId", "")), self.now
        )
        self.tenant_id = guid_param(req, "tenantId")

    @property
    def actor(self) -> str | None:
        return self.principal.object_id

    def requiring(self, role: str) -> TenantCall:
        require_role(self.principal, self.tenant_id, role)
        return self

    def requiring_self_or(self, user_id: str, role: str) -> TenantCall:
        """The user acting on their own object (the token's `oid`), or anyone with `role`."""
        require_self_or_role(self.principal, self.tenant_id, user_id, role)
        return self


def guid_param(req: func.HttpRequest, name: str) -> str:
    value = str(req.route_params.get(name, ""))
    if not is_guid(value):
        raise ValidationFailed(f"{name} must be a GUID", [FieldError(name, "must be a GUID")])
    return value.lower()


def optional_body(req: func.HttpRequest) -> dict[str, Any]:
    """An empty body is `{}`; anything else must be a JSON object."""
    return json_object(req) if req.get_body() else {}


def body_fields(
    req: func.HttpRequest, *, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The body's fields: every `required` one present, nothing but `required` and `optional` (400 naming each
    offending field otherwise). Values are the caller's to check further."""
    body = json_object(req)
    allowed = (*required, *optional)
    errors = [FieldError(name, "is not a field of this request") for name in body if name not in allowed]
    errors += [FieldError(name, "is required") for name in required if name not in body]
    if errors:
        raise ValidationFailed("the request body is not valid", errors)
    return body


def text_fields(req: func.HttpRequest, fields: tuple[str, ...]) -> dict[str, str]:
    """A body of exactly these fields, each a non-blank string."""
    body = body_fields(req, optional=fields)
    errors = [
        FieldError(name, "is required and must be a string")
        for name in fields
        if not isinstance(body.get(name), str) or not body[name].strip()
    ]
    if errors:
        raise ValidationFailed("the request body is not valid", errors)
    return {name: str(body[name]) for name in fields}
