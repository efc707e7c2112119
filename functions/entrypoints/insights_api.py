"""REST routes of the insights: relationship analytics of a contact or an account, who knows whom, get
introduced, and the tenant's insight settings (SPEC section 3).

Every route: the bearer token (401), the tenant GUID (400), the token's tenant and role (403: `Insights.Read`;
the introduction template and the settings are administration, `Consent.Manage`), then the input (400) and
one service call, which answers 404 when the feature is not enabled or the contact is unknown. The JSON of
each answer is functions/entrypoints/insights_views.py's.

Each insight has a GET form (`?contact=`, or the domain in the path) and a POST `.../lookup` form (in the
body). Clients should use POST: platform request telemetry (Application Insights, proxies, access logs)
records URLs, query included, and a contact's address must not end up there. The app itself never logs URLs
or bodies.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from functions.domain.access import CONSENT_MANAGE, INSIGHTS_READ, is_guid
from functions.domain.errors import FieldError, ValidationFailed
from functions.entrypoints import openapi
from functions.entrypoints.calls import TenantCall, body_fields, text_fields
from functions.entrypoints.http import json_object, json_response
from functions.entrypoints.insights_views import (
    SCHEMAS,
    account_view,
    introduction_view,
    relationship_view,
    settings_view,
    template_view,
    who_knows_whom_view,
)
from functions.entrypoints.problems import http_handler

bp = func.Blueprint()

MAX_KNOWN_CONTACTS = 1000


@bp.function_name("relationships_get")
@bp.route(route="tenants/{tenantId}/relationships", methods=["GET"])
@http_handler
def relationships_get(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(INSIGHTS_READ)
    answer = call.c.insight_service.relationship(call.tenant_id, req.params.get("contact"), call.now)
    return json_response(relationship_view(answer))


@bp.function_name("relationships_lookup")
@bp.route(route="tenants/{tenantId}/relationships/lookup", methods=["POST"])
@http_handler
def relationships_lookup(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(INSIGHTS_READ)
    contact = text_fields(req, ("contact",))["contact"]
    return json_response(
        relationship_view(call.c.insight_service.relationship(call.tenant_id, contact, call.now))
    )


@bp.function_name("who_knows_whom_get")
@bp.route(route="tenants/{tenantId}/who-knows-whom", methods=["GET"])
@http_handler
def who_knows_whom_get(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(INSIGHTS_READ)
    answer = call.c.insight_service.who_knows_whom(call.tenant_id, req.params.get("contact"), call.now)
    return json_response(who_knows_whom_view(answer))


@bp.function_name("who_knows_whom_lookup")
@bp.route(route="tenants/{tenantId}/who-knows-whom/lookup", methods=["POST"])
@http_handler
def who_knows_whom_lookup(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(INSIGHTS_READ)
    contact = text_fields(req, ("contact",))["contact"]
    answer = call.c.insight_service.who_knows_whom(call.tenant_id, contact, call.now)
    return json_response(who_knows_whom_view(answer))


@bp.function_name("account_get")
@bp.route(route="tenants/{tenantId}/accounts/{domain}/relationships", methods=["GET"])
@http_handler
def account_get(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(INSIGHTS_READ)
    domain = str(req.route_params.get("domain", ""))
    return json_response(account_view(call.c.insight_service.account(call.tenant_id, domain, call.now)))


@bp.function_name("account_lookup")
@bp.route(route="tenants/{tenantId}/accounts/lookup", methods=["POST"])
@http_handler
def account_lookup(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(INSIGHTS_READ)
    body = body_fields(req, required=("domain",), optional=("knownContacts",))
    domain, known = body["domain"], body.get("knownContacts", [])
    errors = []
    if not isinstance(domain, str):
        errors.append(FieldError("domain", "must be a string"))
    if (
        not isinstance(known, list)
        or len(known) > MAX_KNOWN_CONTACTS
        or not all(isinstance(a, str) for a in known)
    ):
        errors.append(
            FieldError("knownContacts", f"must be a list of at most {MAX_KNOWN_CONTACTS} addresses")
        )
    if errors:
        raise ValidationFailed("the request body is not valid", errors)
    answer = call.c.insight_service.account(call.tenant_id, domain, call.now, tuple(known))
    return json_response(account_view(answer))


@bp.function_name("introductions_post")
@bp.route(route="tenants/{tenantId}/who-knows-whom/introductions", methods=["POST"])
@http_handler
def introductions_post(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(INSIGHTS_READ)
    body = text_fields(req, ("contact", "colleagueUserId"))
    if not is_guid(body["colleagueUserId"]):
        raise ValidationFailed(
            "colleagueUserId must be a GUID", [FieldError("colleagueUserId", "must be a GUID")]
        )
    answer = call.c.insight_service.introduce(
        call.tenant_id, body["contact"], body["colleagueUserId"], call.actor, call.now
    )
    return json_response(introduction_view(answer), status=201)


@bp.function_name("introduction_template_get")
@bp.route(route="tenants/{tenantId}/who-knows-whom/introductions/template", methods=["GET"])
@http_handler
def introduction_template_get(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(CONSENT_MANAGE)
    return json_response(template_view(call.c.insight_service.template(call.tenant_id)))


@bp.function_name("introduction_template_put")
@bp.route(route="tenants/{tenantId}/who-knows-whom/introductions/template", methods=["PUT"])
@http_handler
def introduction_template_put(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(CONSENT_MANAGE)
    body = text_fields(req, ("subject", "body"))
    template = call.c.insight_service.save_template(call.tenant_id, body["subject"], body["body"], call.now)
    return json_response(template_view(template))


@bp.function_name("insight_settings_get")
@bp.route(route="tenants/{tenantId}/insights/settings", methods=["GET"])
@http_handler
def insight_settings_get(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(CONSENT_MANAGE)
    return json_response(settings_view(call.c.insight_settings.current(call.tenant_id)))


@bp.function_name("insight_settings_put")
@bp.route(route="tenants/{tenantId}/insights/settings", methods=["PUT"])
@http_handler
def insight_settings_put(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(CONSENT_MANAGE)
    config = call.c.insight_settings.replace(call.tenant_id, json_object(req), call.actor, call.now)
    return json_response(settings_view(config, changed=True))


# --- OpenAPI -----------------------------------------------------------------------------------------------

_CONTACT = {
    "name": "contact", "in": "query", "required": True,
    "description": "The external contact's email address (prefer the POST lookup: URLs end up in telemetry)",
    "schema": {"type": "string", "format": "email", "maxLength": 254},
}  # fmt: skip
_DOMAIN = {
    "name": "domain", "in": "path", "required": True, "description": "The account's email domain",
    "schema": {"type": "string", "maxLength": 253},
}  # fmt: skip
_INSIGHT_ERRORS = {
    "404": openapi.problem("The feature is not enabled for the tenant, or the contact or account is unknown"),
    "503": openapi.problem("Storage is unavailable, or a group opt-out is being applied (see Retry-After)"),
}


def _op(operation_id: str, summary: str, schema: str, *, status: str = "200", **extra: Any) -> dict[str, Any]:
    return openapi.operation(
        operation_id, summary, {status: openapi.json_content(summary, openapi.ref(schema))},
        errors=_INSIGHT_ERRORS, **extra,
    )  # fmt: skip


OPENAPI_SCHEMAS: openapi.Schemas = SCHEMAS

OPENAPI_PATHS: openapi.Paths = {
    "/tenants/{tenantId}/relationships": {
        "parameters": [openapi.TENANT],
        "get": _op("getRelationship", "KPIs and health of one external contact (Insights.Read)",
                   "Relationship", parameters=[_CONTACT]),
    },
    "/tenants/{tenantId}/relationships/lookup": {
        "parameters": [openapi.TENANT],
        "post": _op("lookupRelationship", "KPIs and health of a contact named in the body (Insights.Read)",
                    "Relationship", body="ContactLookup"),
    },
    "/tenants/{tenantId}/who-knows-whom": {
        "parameters": [openapi.TENANT],
        "get": _op("getWhoKnowsWhom", "Up to five colleagues who know the contact best (Insights.Read)",
                   "WhoKnowsWhom", parameters=[_CONTACT]),
    },
    "/tenants/{tenantId}/who-knows-whom/lookup": {
        "parameters": [openapi.TENANT],
        "post": _op("lookupWhoKnowsWhom", "Colleagues who know a contact named in the body (Insights.Read)",
                    "WhoKnowsWhom", body="ContactLookup"),
    },
    "/tenants/{tenantId}/accounts/{domain}/relationships": {
        "parameters": [openapi.TENANT, _DOMAIN],
        "get": _op("getAccount", "KPIs and health over the contacts of one email domain (Insights.Read)",
                   "Account"),
    },
    "/tenants/{tenantId}/accounts/lookup": {
        "parameters": [openapi.TENANT],
        "post": _op("lookupAccount", "An account's relationships, its domain in the body (Insights.Read)",
                    "Account", body="AccountLookup"),
    },
    "/tenants/{tenantId}/who-knows-whom/introductions": {
        "parameters": [openapi.TENANT],
        "post": _op("requestIntroduction", "Ask a colleague for an introduction: the draft (Insights.Read)",
                    "Introduction", status="201", body="IntroductionRequest"),
    },
    "/tenants/{tenantId}/who-knows-whom/introductions/template": {
        "parameters": [openapi.TENANT],
        "get": _op("getIntroductionTemplate", "The tenant's introduction template (Consent.Manage)",
                   "IntroductionTemplate"),
        "put": _op("putIntroductionTemplate", "Replace the introduction template (Consent.Manage)",
                   "IntroductionTemplate", body="IntroductionTemplate"),
    },
    "/tenants/{tenantId}/insights/settings": {
        "parameters": [openapi.TENANT],
        "get": _op("getInsightSettings", "Health weights, grade bounds and cadence (Consent.Manage)",
                   "InsightSettings"),
        "put": _op("putInsightSettings", "Replace the insight settings; audited (Consent.Manage)",
                   "InsightSettingsSaved", body="InsightSettings"),
    },
}  # fmt: skip
