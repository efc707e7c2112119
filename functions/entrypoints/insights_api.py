"""REST routes of the insights: relationship analytics, who knows whom, get introduced (SPEC section 3).

Every route: the bearer token (401), the tenant GUID (400), the token's tenant and role (403: `Insights.Read`;
the introduction template is administration, `Consent.Manage`), then the input (400) and one service call,
which answers 404 when the feature is not enabled or the contact is unknown.

Each insight has a GET form (`?contact=`) and a POST `.../lookup` form (`{"contact"}` in the body). Clients
should use POST: platform request telemetry (Application Insights, proxies, access logs) records URLs, query
included, and a contact's address must not end up there. The app itself never logs URLs or bodies.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from functions.domain.access import CONSENT_MANAGE, INSIGHTS_READ, is_guid
from functions.domain.errors import FieldError, ValidationFailed
from functions.entrypoints import openapi
from functions.entrypoints.calls import TenantCall, text_fields
from functions.entrypoints.http import json_response
from functions.entrypoints.openapi import GUID, TIME
from functions.entrypoints.problems import http_handler

bp = func.Blueprint()


@bp.function_name("relationships_get")
@bp.route(route="tenants/{tenantId}/relationships", methods=["GET"])
@http_handler
def relationships_get(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(INSIGHTS_READ)
    body = call.c.insight_service.relationship(call.tenant_id, req.params.get("contact"), call.now)
    return json_response(body)


@bp.function_name("relationships_lookup")
@bp.route(route="tenants/{tenantId}/relationships/lookup", methods=["POST"])
@http_handler
def relationships_lookup(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(INSIGHTS_READ)
    contact = text_fields(req, ("contact",))["contact"]
    return json_response(call.c.insight_service.relationship(call.tenant_id, contact, call.now))


@bp.function_name("who_knows_whom_lookup")
@bp.route(route="tenants/{tenantId}/who-knows-whom/lookup", methods=["POST"])
@http_handler
def who_knows_whom_lookup(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(INSIGHTS_READ)
    contact = text_fields(req, ("contact",))["contact"]
    return json_response(call.c.insight_service.who_knows_whom(call.tenant_id, contact, call.now))


@bp.function_name("who_knows_whom_get")
@bp.route(route="tenants/{tenantId}/who-knows-whom", methods=["GET"])
@http_handler
def who_knows_whom_get(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(INSIGHTS_READ)
    body = call.c.insight_service.who_knows_whom(call.tenant_id, req.params.get("contact"), call.now)
    return json_response(body)


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
        call.tenant_id, body["contact"], body["colleagueUserId"], call.principal.object_id, call.now
    )
    return json_response(answer, status=201)


@bp.function_name("introduction_template_get")
@bp.route(route="tenants/{tenantId}/who-knows-whom/introductions/template", methods=["GET"])
@http_handler
def introduction_template_get(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(CONSENT_MANAGE)
    template = call.c.insight_service.template(call.tenant_id)
    return json_response({"subject": template.subject, "body": template.body})


@bp.function_name("introduction_template_put")
@bp.route(route="tenants/{tenantId}/who-knows-whom/introductions/template", methods=["PUT"])
@http_handler
def introduction_template_put(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(CONSENT_MANAGE)
    body = text_fields(req, ("subject", "body"))
    template = call.c.insight_service.save_template(call.tenant_id, body["subject"], body["body"], call.now)
    return json_response({"subject": template.subject, "body": template.body})


# --- OpenAPI -----------------------------------------------------------------------------------------------

_TENANT = {
    "name": "tenantId",
    "in": "path",
    "required": True,
    "description": "The Entra tenant ID",
    "schema": GUID,
}
_CONTACT = {
    "name": "contact", "in": "query", "required": True, "description": "The external contact's email address",
    "schema": {"type": "string", "format": "email", "maxLength": 254},
}  # fmt: skip
_ERRORS = {
    "400": openapi.problem("The tenant ID, the contact or the body is invalid"),
    "401": openapi.problem("The bearer token is missing or invalid"),
    "403": openapi.problem("The token is for another tenant or lacks the role"),
    "404": openapi.problem("The feature is not enabled for the tenant, or the contact is unknown"),
    "503": openapi.problem("Storage is unavailable, or a group opt-out is being applied (see Retry-After)"),
}
_BODY_ERRORS = {
    "413": openapi.problem("The body is over 64 KiB"),
    "415": openapi.problem("The body is not JSON"),
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(
    operation_id: str, summary: str, responses: dict[str, Any], *, body: str | None = None
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "security": [{"entra": []}],
        "responses": {**responses, **_ERRORS, **(_BODY_ERRORS if body else {})},
    }
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return operation


_NUMBER_OR_NULL = {"type": ["number", "null"]}
_ACCURACY = {"type": "string", "enum": ["complete", "partial"]}

OPENAPI_SCHEMAS: openapi.Schemas = {
    "Relationship": {
        "type": "object",
        "required": ["contact", "emailsSent", "emailsReceived", "meetingsSent", "meetingsReceived",
                     "timeline", "computedAt", "accuracy", "health"],
        "properties": {
            "contact": {"type": "string"},
            **{name: {"type": "integer", "minimum": 0}
               for name in ("emailsSent", "emailsReceived", "meetingsSent", "meetingsReceived")},
            "timeSpentByTeamMinutes": {"type": "number"},
            "timeSpentByCustomerMinutes": {"type": "number"},
            "averageResponseHoursByUs": _NUMBER_OR_NULL,
            "averageResponseHoursByThem": _NUMBER_OR_NULL,
            "responseRateByUs": _NUMBER_OR_NULL,
            "responseRateByThem": _NUMBER_OR_NULL,
            "lastInteraction": {
                "type": ["object", "null"],
                "properties": {"at": TIME, "kind": {"enum": ["email", "meeting"]},
                               "direction": {"enum": ["sent", "received"]}},
            },
            "timeline": {
                "type": "array", "minItems": 52, "maxItems": 52,
                "items": {"type": "object", "properties": {
                    "weekStart": {"type": "string", "format": "date"},
                    "emails": {"type": "integer"}, "meetings": {"type": "integer"}}},
            },
            "computedAt": TIME,
            "accuracy": _ACCURACY,
            "health": {
                "type": "object",
                "properties": {
                    "score": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
                    "grade": {"enum": ["good", "fair", "poor", "not_enough_info"]},
                    "trend": {"enum": ["improving", "steady", "declining", None]},
                },
            },
        },
    },
    "WhoKnowsWhom": {
        "type": "object",
        "required": ["contact", "colleagues", "computedAt", "accuracy"],
        "properties": {
            "contact": {"type": "string"},
            "colleagues": {"type": "array", "maxItems": 5, "items": {
                "type": "object",
                "required": ["userId", "displayName", "address", "strength", "band", "lastInteraction"],
                "properties": {
                    "userId": GUID, "displayName": {"type": "string"}, "address": {"type": "string"},
                    "strength": {"type": "integer", "minimum": 0, "maximum": 100},
                    "band": {"enum": ["strong", "moderate", "weak"]}, "lastInteraction": TIME,
                },
            }},
            "computedAt": TIME,
            "accuracy": _ACCURACY,
        },
    },
    "ContactLookup": {
        "type": "object", "required": ["contact"], "additionalProperties": False,
        "properties": {"contact": {"type": "string", "format": "email", "maxLength": 254}},
    },
    "IntroductionRequest": {
        "type": "object", "required": ["contact", "colleagueUserId"], "additionalProperties": False,
        "properties": {"contact": {"type": "string", "format": "email"}, "colleagueUserId": GUID},
    },
    "Introduction": {
        "type": "object", "required": ["id", "contact", "colleagueUserId", "requestedAt", "draft"],
        "properties": {
            "id": {"type": "string"}, "contact": {"type": "string"}, "colleagueUserId": GUID,
            "requestedAt": TIME,
            "draft": {"type": "object", "required": ["to", "subject", "body"], "properties": {
                "to": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"}}},
        },
    },
    "IntroductionTemplate": {
        "type": "object", "required": ["subject", "body"], "additionalProperties": False,
        "description": "Placeholders: {colleagueName} {colleagueAddress} {contactAddress} {requesterName} "
                       "{requesterAddress}; {{ and }} write braces.",
        "properties": {"subject": {"type": "string", "maxLength": 255},
                       "body": {"type": "string", "maxLength": 10000}},
    },
}  # fmt: skip

OPENAPI_PATHS: openapi.Paths = {
    "/tenants/{tenantId}/relationships": {
        "parameters": [_TENANT],
        "get": {**_op("getRelationship", "KPIs and health of one external contact (Insights.Read)",
                      {"200": openapi.json_content("The relationship", _ref("Relationship"))}),
                "parameters": [_CONTACT]},
    },
    "/tenants/{tenantId}/relationships/lookup": {
        "parameters": [_TENANT],
        "post": _op("lookupRelationship",
                    "KPIs and health of one external contact, named in the body (preferred; Insights.Read)",
                    {"200": openapi.json_content("The relationship", _ref("Relationship"))},
                    body="ContactLookup"),
    },
    "/tenants/{tenantId}/who-knows-whom/lookup": {
        "parameters": [_TENANT],
        "post": _op("lookupWhoKnowsWhom",
                    "Up to five colleagues who know the contact, named in the body (preferred; "
                    "Insights.Read)",
                    {"200": openapi.json_content("The colleagues", _ref("WhoKnowsWhom"))},
                    body="ContactLookup"),
    },
    "/tenants/{tenantId}/who-knows-whom": {
        "parameters": [_TENANT],
        "get": {**_op("getWhoKnowsWhom", "Up to five colleagues who know the contact best (Insights.Read)",
                      {"200": openapi.json_content("The colleagues", _ref("WhoKnowsWhom"))}),
                "parameters": [_CONTACT]},
    },
    "/tenants/{tenantId}/who-knows-whom/introductions": {
        "parameters": [_TENANT],
        "post": _op("requestIntroduction", "Ask a colleague for an introduction: the draft (Insights.Read)",
                    {"201": openapi.json_content("Recorded; the draft", _ref("Introduction"))},
                    body="IntroductionRequest"),
    },
    "/tenants/{tenantId}/who-knows-whom/introductions/template": {
        "parameters": [_TENANT],
        "get": _op("getIntroductionTemplate", "The tenant's introduction template (Consent.Manage)",
                   {"200": openapi.json_content("The template", _ref("IntroductionTemplate"))}),
        "put": _op("putIntroductionTemplate", "Replace the introduction template (Consent.Manage)",
                   {"200": openapi.json_content("The saved template", _ref("IntroductionTemplate"))},
                   body="IntroductionTemplate"),
    },
}  # fmt: skip
