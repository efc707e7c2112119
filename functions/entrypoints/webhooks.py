"""`POST /api/webhooks/admin-center`: consent and opt-out events from the Microsoft 365 admin center.

Order of checks: size (413, before any work), the Standard Webhooks signature (401 without detail; an
unsigned body is never parsed), content type (415), JSON (400), the CloudEvent and its data (400 with
`errors`), then the idempotent delivery (202 new, 200 repeated webhook-id, 409 reused id or in flight).
"""

from __future__ import annotations

from typing import Any, assert_never

import azure.functions as func

from functions.bootstrap import container
from functions.domain.access import is_guid
from functions.domain.errors import ValidationFailed
from functions.domain.events import (
    EVENT_DATA,
    EVENT_TYPES,
    MAX_GROUP_IDS,
    MAX_TEXT,
    DataField,
    EventType,
    parse_event,
)
from functions.domain.scope import FEATURES
from functions.entrypoints import openapi
from functions.entrypoints.http import json_object, json_response, raw_body
from functions.entrypoints.openapi import GUID, TIME, ref
from functions.entrypoints.problems import http_handler

bp = func.Blueprint()


@bp.function_name("admin_center_webhook")
@bp.route(route="webhooks/admin-center", methods=["POST"])
@http_handler
def admin_center_webhook(req: func.HttpRequest) -> func.HttpResponse:
    c = container()
    now = c.now()
    body = raw_body(req)
    webhook_id = c.webhook_verifier.verify(dict(req.headers.items()), body, now)
    document = json_object(req, body)
    try:
        event = parse_event(document, now)
    except ValidationFailed as error:
        tenant_id = _claimed_tenant(document)
        if tenant_id:
            fields = ", ".join(e.field for e in error.errors)
            c.webhook_service.rejected(tenant_id, webhook_id, now, f"invalid event: {fields}"[:500])
        raise
    response = c.webhook_service.deliver(webhook_id, body, event, now)
    return json_response(response.body, status=response.status)


def _claimed_tenant(document: dict[str, Any]) -> str | None:
    """The tenant a signed but invalid event names, if it names one, so its audit log shows the refusal."""
    data = document.get("data")
    tenant = data.get("tenantId") if isinstance(data, dict) else None
    return tenant.lower() if isinstance(tenant, str) and is_guid(tenant) else None


# --- OpenAPI -----------------------------------------------------------------------------------------------

# Text the parser takes: not blank, at most MAX_TEXT characters.
_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "pattern": r"\S"}
_ACTOR = {
    "type": "object",
    "required": ["id", "upn"],
    "properties": {"id": GUID, "upn": _TEXT},
    "additionalProperties": False,
}


def _field_schema(spec: DataField) -> dict[str, Any]:
    match spec.kind:
        case "guid":
            return GUID
        case "actor":
            return _ACTOR
        case "guid-list":
            return {"type": "array", "items": GUID, "maxItems": MAX_GROUP_IDS}
        case "bool":
            return {"type": "boolean"}
        case "feature":
            return {"enum": list(FEATURES)}
        case "time":
            # JSON Schema cannot compare two fields; the parser refuses an `after` that is not later.
            return TIME | {"description": f"must be after {spec.after}"} if spec.after else TIME
        case _:
            assert_never(spec.kind)


def data_schema(event_type: EventType) -> dict[str, Any]:
    """The JSON Schema of an event type's `data`, derived from the contract the parser reads."""
    fields = EVENT_DATA[event_type].fields
    return {
        "type": "object",
        "required": [f.name for f in fields if f.required],
        "properties": {f.name: _field_schema(f) for f in fields},
        "additionalProperties": False,
    }


OPENAPI_SCHEMAS: openapi.Schemas = {
    "AdminCenterEvent": {
        "description": "A CloudEvents 1.0 event (structured JSON) from the Microsoft 365 admin center.",
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": _TEXT,
            "source": _TEXT,
            "type": {"enum": list(EVENT_TYPES)},
            "time": TIME,
            "subject": _TEXT,
            "datacontenttype": {"const": "application/json"},
            "dataschema": _TEXT,
            "data": {"type": "object"},
        },
        "allOf": [
            {"if": {"properties": {"type": {"const": t}}}, "then": {"properties": {"data": data_schema(t)}}}
            for t in EVENT_TYPES
        ],
    },
    "WebhookReceipt": {
        "type": "object",
        "required": ["webhookId", "eventId", "type", "outcome"],
        "properties": {
            "webhookId": {"type": "string"},
            "eventId": {"type": "string"},
            "type": {"enum": list(EVENT_TYPES)},
            "outcome": {
                "enum": ["applied", "stale", "unchanged", "duplicate"],
                "description": "`stale`: older than the last change of its subject, so no state changed",
            },
            "purgeId": {
                **GUID,
                "description": "the purge a withdrawal or an opt-out asks for, a stale one's included",
            },
        },
        "additionalProperties": False,
    },
}

_SIGNATURE_HEADERS = [
    {"name": "webhook-id", "in": "header", "required": True, "schema": {"type": "string"}},
    {"name": "webhook-timestamp", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "Unix seconds; within 5 minutes of our clock"},
    {"name": "webhook-signature", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "`v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>`, several space-separated allowed"},
]  # fmt: skip
_EVENT_CONTENT = {"schema": ref("AdminCenterEvent")}

OPENAPI_PATHS: openapi.Paths = {
    "/webhooks/admin-center": {
        "post": {
            "operationId": "adminCenterWebhook",
            "summary": "Consent and opt-out events, signed per Standard Webhooks",
            "security": [{"standardWebhooks": []}],
            "parameters": _SIGNATURE_HEADERS,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": _EVENT_CONTENT,
                    "application/cloudevents+json": _EVENT_CONTENT,
                },
            },
            "responses": {
                "202": openapi.json_content("A new event, processed", ref("WebhookReceipt")),
                "200": openapi.json_content(
                    "A repeated webhook-id: the first response again", ref("WebhookReceipt")
                ),
                "400": openapi.problem("Not JSON, or not a valid admin-center CloudEvent (see `errors`)"),
                "401": openapi.problem("The signature is missing, wrong or outside the 5-minute tolerance"),
                "409": openapi.problem("The webhook-id was used for another body, or is being processed"),
                "413": openapi.problem("The body is over 64 KiB"),
                "415": openapi.problem("The body is not JSON"),
            },
        }
    }
}  # fmt: skip
