"""Graph change notifications: the two routes Graph posts to, the renewal timer and the `refresh` worker.

- `POST /api/graph/notifications` and `POST /api/graph/lifecycle` (anonymous: Graph sends no bearer token;
  each notification carries its subscription's `clientState`, checked in constant time by the service).
  With `?validationToken=...` (Graph's handshake when a subscription is made) the answer is the token as
  plain text, 200, with `X-Content-Type-Options: nosniff` and `Content-Security-Policy: default-src 'none'`
  (it is caller text on our origin). Otherwise the answer is 202 once the notifications are handed on (Graph
  wants an answer within seconds; the work is a coalesced queue message), also for ones that are dropped or
  not believed, so the answer tells a caller nothing about which subscriptions exist. An item whose tenant
  or subscription ID is not a GUID, as Graph always sends them, is dropped without a storage read.
- `subscriptions_sync` timer (`%SUBSCRIPTION_SCHEDULE%`): renews before expiry, recreates lost ones,
  deletes those of users no longer included (everyone's when notifications are off).
- `refresh` queue: `{"type": "user.refresh", "tenantId", "userId"}` runs one delta round of the user;
  `{"type": "subscriptions.sync", "tenantId"}` reconciles one tenant's subscriptions. Failures raise, so
  the host retries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from functions.adapters.queues import REFRESH_QUEUE
from functions.bootstrap import container
from functions.domain.access import is_guid
from functions.domain.errors import ValidationFailed
from functions.domain.subscriptions import parse_change_notifications, parse_lifecycle_notifications
from functions.entrypoints import queue_messages
from functions.entrypoints.http import json_object, raw_body
from functions.entrypoints.problems import http_handler

bp = func.Blueprint()
logger = logging.getLogger(__name__)

STORAGE_CONNECTION = "AzureWebJobsStorage"
MAX_VALIDATION_TOKEN = 1024
# Graph batches notifications into one POST; a refused batch would be sent again and again, so the limit is
# the size of a large batch of basic notifications (about half a KiB each), not the API's 64 KiB.
MAX_NOTIFICATION_BYTES = 1024 * 1024


@bp.function_name("graph_notifications")
@bp.route(route="graph/notifications", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_handler
def graph_notifications(req: func.HttpRequest) -> func.HttpResponse:
    if (handshake := _validation(req)) is not None:
        return handshake
    c = container()
    notifications = parse_change_notifications(json_object(req, raw_body(req, MAX_NOTIFICATION_BYTES)))
    result = c.subscription_service.notified(notifications, c.now())
    logger.info("notifications: %s", result)
    return func.HttpResponse(status_code=202)


@bp.function_name("graph_lifecycle")
@bp.route(route="graph/lifecycle", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_handler
def graph_lifecycle(req: func.HttpRequest) -> func.HttpResponse:
    if (handshake := _validation(req)) is not None:
        return handshake
    c = container()
    notifications = parse_lifecycle_notifications(json_object(req, raw_body(req, MAX_NOTIFICATION_BYTES)))
    c.subscription_service.lifecycle(notifications, c.now())
    return func.HttpResponse(status_code=202)


# The echo is caller text on the app's origin: a browser must neither sniff it into HTML nor run anything
# in it. Graph reads the body only, and ignores both.
_ECHO_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'"}


def _validation(req: func.HttpRequest) -> func.HttpResponse | None:
    """Graph's handshake: echo the (already URL-decoded) token as text/plain, 200, never to be rendered."""
    token = req.params.get("validationToken")
    if token is None:
        return None
    if len(token) > MAX_VALIDATION_TOKEN:
        raise ValidationFailed(f"the validation token is longer than {MAX_VALIDATION_TOKEN} characters")
    return func.HttpResponse(
        token, status_code=200, mimetype="text/plain", charset="utf-8", headers=dict(_ECHO_HEADERS)
    )


@bp.function_name("subscriptions_sync")
@bp.timer_trigger(schedule="%SUBSCRIPTION_SCHEDULE%", arg_name="timer", run_on_startup=False)
def subscriptions_sync(timer: func.TimerRequest) -> None:
    c = container()
    results = c.subscription_service.sync_all(c.now())
    logger.info(
        "subscriptions: %d tenant(s), %d created, %d renewed, %d deleted",
        len(results), sum(r.created for r in results), sum(r.renewed for r in results),
        sum(r.deleted for r in results),
    )  # fmt: skip


@bp.function_name("refresh_worker")
@bp.queue_trigger(arg_name="msg", queue_name=REFRESH_QUEUE, connection=STORAGE_CONNECTION)
def refresh_worker(msg: func.QueueMessage) -> None:
    command = queue_messages.read(msg, REFRESH_QUEUE, refresh_command)
    c = container()
    if isinstance(command, RefreshUser):
        outcome = c.subscription_service.refresh(command.tenant_id, command.user_id, c.now())
        logger.info("refresh of %s/%s: %s", command.tenant_id, command.user_id, outcome)
    elif isinstance(command, SyncSubscriptions):
        c.subscription_service.sync_tenant(command.tenant_id, c.now())


@dataclass(frozen=True, slots=True)
class RefreshUser:
    tenant_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class SyncSubscriptions:
    tenant_id: str


def refresh_command(data: Any) -> RefreshUser | SyncSubscriptions:
    kind = data.get("type") if isinstance(data, dict) else None
    tenant_id = data.get("tenantId") if isinstance(data, dict) else None
    if not isinstance(tenant_id, str) or not is_guid(tenant_id):
        raise ValidationFailed("a refresh message names its tenant by GUID")
    if kind == "subscriptions.sync":
        return SyncSubscriptions(tenant_id.lower())
    user_id = data.get("userId")
    if kind == "user.refresh" and isinstance(user_id, str) and is_guid(user_id):
        return RefreshUser(tenant_id.lower(), user_id.lower())
    raise ValidationFailed(f"not a refresh message (type {kind!r})")


# --- OpenAPI -----------------------------------------------------------------------------------------------

_VALIDATION = {
    "name": "validationToken",
    "in": "query",
    "required": False,
    "description": "Graph's handshake when it creates a subscription: answered with the token as text/plain",
    "schema": {"type": "string", "maxLength": MAX_VALIDATION_TOKEN},
}


def _route(operation_id: str, summary: str, schema: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "security": [],
            "parameters": [_VALIDATION],
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
            },
            "responses": {
                "200": {
                    "description": "The validation token",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "202": {"description": "Handed on (or dropped: the answer does not say)"},
                "400": {"description": "Not Graph's notification shape"},
            },
        }
    }


OPENAPI_PATHS = {
    "/graph/notifications": _route(
        "graphNotifications",
        "Change notifications from Microsoft Graph (basic: IDs only)",
        "GraphNotifications",
    ),
    "/graph/lifecycle": _route(
        "graphLifecycle", "Lifecycle notifications from Microsoft Graph", "GraphLifecycleNotifications"
    ),
}
_ITEM = {
    "type": "object",
    "required": ["subscriptionId", "tenantId"],
    "properties": {
        "subscriptionId": {"type": "string"},
        "tenantId": {"type": "string"},
        "clientState": {"type": "string", "maxLength": 128},
        "changeType": {"type": "string"},
        "resource": {"type": "string"},
        "lifecycleEvent": {"enum": ["reauthorizationRequired", "subscriptionRemoved", "missed"]},
    },
}
OPENAPI_SCHEMAS = {
    "GraphNotifications": {
        "type": "object",
        "required": ["value"],
        "properties": {"value": {"type": "array", "items": _ITEM}},
    },
    "GraphLifecycleNotifications": {
        "type": "object",
        "required": ["value"],
        "properties": {"value": {"type": "array", "items": _ITEM}},
    },
}
