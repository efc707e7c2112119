"""REST routes for consent, opt-outs, purges (read), the audit log and the ingestion progress of a tenant
(SPEC section 3).

Every route: the bearer token first (401), then the route's GUIDs (400), then authorisation (403: the
token's tenant, the `Consent.Manage` role, or the user acting on their own opt-out), then the body
(413 / 415 / 400), then one service call.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from functions.domain.access import CONSENT_MANAGE
from functions.domain.errors import ValidationFailed
from functions.domain.events import FieldReader
from functions.entrypoints import openapi
from functions.entrypoints.calls import TenantCall, guid_param, optional_body
from functions.entrypoints.consent_views import (
    SCHEMAS,
    audit_page_view,
    consent_view,
    groups_view,
    ingestion_view,
    purge_view,
    users_view,
)
from functions.entrypoints.http import json_object, json_response, query_integer
from functions.entrypoints.openapi import ref
from functions.entrypoints.problems import http_handler
from functions.services import admin_reads
from functions.services.consent import api_provenance

bp = func.Blueprint()

DEFAULT_AUDIT_PAGE = 50
MAX_AUDIT_PAGE = 200
DEFAULT_PURGE_PAGE = 50
MAX_PURGE_PAGE = 200


def _manager(req: func.HttpRequest) -> TenantCall:
    return TenantCall(req).requiring(CONSENT_MANAGE)


def _strict(body: dict[str, Any], allowed: tuple[str, ...]) -> FieldReader:
    reader = FieldReader()
    for name in body:
        if name not in allowed:
            reader.error(name, "is not a field of this request")
    return reader


def _valid(reader: FieldReader) -> None:
    if reader.errors:
        raise ValidationFailed("the request body is not valid", reader.errors)


# --- consent -----------------------------------------------------------------------------------------------


@bp.function_name("consent_get")
@bp.route(route="tenants/{tenantId}/consent", methods=["GET"])
@http_handler
def consent_get(req: func.HttpRequest) -> func.HttpResponse:
    call = _manager(req)
    consent, groups = call.c.consent_service.overview(call.tenant_id)
    return json_response(consent_view(consent, groups, call.now))


@bp.function_name("consent_put")
@bp.route(route="tenants/{tenantId}/consent", methods=["PUT"])
@http_handler
def consent_put(req: func.HttpRequest) -> func.HttpResponse:
    call = _manager(req)
    body = optional_body(req)
    reader = _strict(body, ("optedOutGroupIds",))
    groups = reader.guids(body, "optedOutGroupIds", "optedOutGroupIds", required=False)
    _valid(reader)
    service = call.c.consent_service
    service.grant(call.tenant_id, groups, api_provenance(call.actor, call.now))
    consent, current_groups = service.overview(call.tenant_id)
    return json_response(consent_view(consent, current_groups, call.now))


@bp.function_name("consent_delete")
@bp.route(route="tenants/{tenantId}/consent", methods=["DELETE"])
@http_handler
def consent_delete(req: func.HttpRequest) -> func.HttpResponse:
    call = _manager(req)
    provenance = api_provenance(call.actor, call.now)
    result = call.c.consent_service.revoke(call.tenant_id, provenance)
    body = {
        "tenantId": call.tenant_id,
        "state": "revoked",
        "outcome": result.outcome,
        "purgeId": result.purge_id,
    }
    return json_response(body, status=202)


# --- opt-outs ----------------------------------------------------------------------------------------------


@bp.function_name("optouts_get")
@bp.route(route="tenants/{tenantId}/opt-outs", methods=["GET"])
@http_handler
def optouts_get(req: func.HttpRequest) -> func.HttpResponse:
    call = _manager(req)
    lists = call.c.optout_service.lists(call.tenant_id)
    return json_response({"groups": groups_view(lists.groups), "users": users_view(lists.users)})


@bp.function_name("optout_groups_put")
@bp.route(route="tenants/{tenantId}/opt-outs/groups", methods=["PUT"])
@http_handler
def optout_groups_put(req: func.HttpRequest) -> func.HttpResponse:
    call = _manager(req)
    body = json_object(req)
    reader = _strict(body, ("groupIds",))
    group_ids = reader.guids(body, "groupIds", "groupIds")
    _valid(reader)
    change = call.c.optout_service.replace_groups(
        call.tenant_id, group_ids, api_provenance(call.actor, call.now)
    )
    response = {
        "groups": groups_view(change.groups),
        "added": sorted(change.added),
        "removed": sorted(change.removed),
        "outcome": change.result.outcome,
        "purgeId": change.result.purge_id,
    }
    return json_response(response, status=202 if change.result.purge_id else 200)


def _user_change(req: func.HttpRequest, opted_out: bool) -> func.HttpResponse:
    call = TenantCall(req)
    user_id = guid_param(req, "userId")
    call.requiring_self_or(user_id, CONSENT_MANAGE)
    _valid(_strict(optional_body(req), ()))
    result = call.c.optout_service.set_user(
        call.tenant_id, user_id, opted_out=opted_out, provenance=api_provenance(call.actor, call.now),
    )  # fmt: skip
    body = {
        "tenantId": call.tenant_id,
        "userId": user_id,
        "optedOut": opted_out,
        "outcome": result.outcome,
        "purgeId": result.purge_id,
    }
    return json_response(body, status=202 if opted_out else 200)


@bp.function_name("optout_user_put")
@bp.route(route="tenants/{tenantId}/opt-outs/users/{userId}", methods=["PUT"])
@http_handler
def optout_user_put(req: func.HttpRequest) -> func.HttpResponse:
    return _user_change(req, opted_out=True)


@bp.function_name("optout_user_delete")
@bp.route(route="tenants/{tenantId}/opt-outs/users/{userId}", methods=["DELETE"])
@http_handler
def optout_user_delete(req: func.HttpRequest) -> func.HttpResponse:
    return _user_change(req, opted_out=False)


# --- purges and audit (read only) --------------------------------------------------------------------------


@bp.function_name("purges_list")
@bp.route(route="tenants/{tenantId}/purges", methods=["GET"])
@http_handler
def purges_list(req: func.HttpRequest) -> func.HttpResponse:
    call = _manager(req)
    limit = query_integer(req, "limit", default=DEFAULT_PURGE_PAGE, minimum=1, maximum=MAX_PURGE_PAGE)
    continuation = req.params.get("continuation") or None
    page = admin_reads.purge_page(call.c.purge_store, call.tenant_id, limit, continuation)
    return json_response({"purges": [purge_view(p) for p in page.records], "continuation": page.continuation})


@bp.function_name("purge_get")
@bp.route(route="tenants/{tenantId}/purges/{purgeId}", methods=["GET"])
@http_handler
def purge_get(req: func.HttpRequest) -> func.HttpResponse:
    call = _manager(req)
    purge_id = guid_param(req, "purgeId")
    return json_response(purge_view(admin_reads.purge_of(call.c.purge_store, call.tenant_id, purge_id)))


@bp.function_name("audit_get")
@bp.route(route="tenants/{tenantId}/audit", methods=["GET"])
@http_handler
def audit_get(req: func.HttpRequest) -> func.HttpResponse:
    call = _manager(req)
    limit = query_integer(req, "limit", default=DEFAULT_AUDIT_PAGE, minimum=1, maximum=MAX_AUDIT_PAGE)
    continuation = req.params.get("continuation") or None
    page = admin_reads.audit_page(call.c.audit_log, call.tenant_id, limit, continuation)
    return json_response(audit_page_view(page))


@bp.function_name("ingestion_get")
@bp.route(route="tenants/{tenantId}/ingestion", methods=["GET"])
@http_handler
def ingestion_get(req: func.HttpRequest) -> func.HttpResponse:
    call = _manager(req)
    c = call.c
    return json_response(
        ingestion_view(admin_reads.ingestion_status(c.cursor_store, c.inclusion, call.tenant_id, call.now))
    )


# --- OpenAPI -----------------------------------------------------------------------------------------------


_operation, _path_param, _paging, openapi.TENANT = (
    openapi.operation,
    openapi.path_param,
    openapi.paging,
    openapi.TENANT,
)


def _json(description: str, schema: str) -> dict[str, Any]:
    return openapi.json_content(description, ref(schema))


OPENAPI_PATHS: openapi.Paths = {
    "/tenants/{tenantId}/consent": {
        "parameters": [openapi.TENANT],
        "get": openapi.operation("getConsent", "The consent, per-feature enablement and opted-out groups",
                          {"200": _json("The consent", "Consent")}),
        "put": openapi.operation("grantConsent", "Grant the consent (both features)",
                          {"200": _json("The consent after the grant", "Consent")}, body="GrantRequest",
                          body_required=False),
        "delete": openapi.operation("revokeConsent", "Withdraw the consent; starts a tenant purge",
                             {"202": _json("Revoked; the purge is queued", "Revocation")}),
    },
    "/tenants/{tenantId}/opt-outs": {
        "parameters": [openapi.TENANT],
        "get": openapi.operation("getOptOuts", "Opted-out groups and users",
                          {"200": _json("The opt-outs", "OptOuts")}),
    },
    "/tenants/{tenantId}/opt-outs/groups": {
        "parameters": [openapi.TENANT],
        "put": openapi.operation(
            "replaceGroupOptOuts", "Replace the opted-out groups",
            {
                "200": _json("Replaced; no purge needed", "GroupsChange"),
                "202": _json("Replaced; a purge of the new groups' members is queued", "GroupsChange"),
            },
            body="GroupsRequest",
        ),
    },
    "/tenants/{tenantId}/opt-outs/users/{userId}": {
        "parameters": [openapi.TENANT, openapi.path_param("userId", "The user's Entra object ID")],
        "put": openapi.operation("optUserOut", "Opt a user out (the user themselves, or Consent.Manage)",
                          {"202": _json("Opted out; a user purge is queued", "UserOptOutChange")}),
        "delete": openapi.operation("optUserIn", "Opt a user back in",
                             {"200": _json("Opted back in", "UserOptOutChange")}),
    },
    "/tenants/{tenantId}/purges": {
        "parameters": [openapi.TENANT],
        "get": openapi.operation(
            "listPurges", "Purge records, newest first", {"200": _json("A page of purges", "PurgeList")},
            parameters=openapi.paging(DEFAULT_PURGE_PAGE, MAX_PURGE_PAGE),
        ),
    },
    "/tenants/{tenantId}/purges/{purgeId}": {
        "parameters": [openapi.TENANT, openapi.path_param("purgeId", "The purge ID")],
        "get": openapi.operation("getPurge", "One purge record", {
            "200": _json("The purge", "Purge"), "404": openapi.problem("No such purge for this tenant"),
        }),
    },
    "/tenants/{tenantId}/audit": {
        "parameters": [openapi.TENANT],
        "get": openapi.operation(
            "getAudit", "Audit entries, newest first", {"200": _json("A page of entries", "AuditPage")},
            parameters=openapi.paging(DEFAULT_AUDIT_PAGE, MAX_AUDIT_PAGE),
        ),
    },
    "/tenants/{tenantId}/ingestion": {
        "parameters": [openapi.TENANT],
        "get": openapi.operation(
            "getIngestion", "Ingestion progress: backfill done of total, failing users, accuracy",
            {"200": _json("The progress (included users only)", "IngestionProgress")},
        ),
    },
}  # fmt: skip
OPENAPI_SCHEMAS: openapi.Schemas = SCHEMAS
