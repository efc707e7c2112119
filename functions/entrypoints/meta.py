"""Anonymous endpoints about the service itself: health and the OpenAPI document."""

from __future__ import annotations

import azure.functions as func

from functions.bootstrap import container
from functions.entrypoints import openapi
from functions.entrypoints.http import json_response
from functions.entrypoints.problems import http_handler

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_handler
def health(req: func.HttpRequest) -> func.HttpResponse:
    checks = container().storage.ping()
    healthy = all(checks.values())
    body = {"status": "healthy" if healthy else "unhealthy", "storage": checks}
    return json_response(body, status=200 if healthy else 503)


@bp.function_name("openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_handler
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(openapi.document())


_HEALTH_SCHEMA = {
    "type": "object",
    "required": ["status", "storage"],
    "properties": {
        "status": {"enum": ["healthy", "unhealthy"]},
        "storage": {
            "type": "object",
            "properties": {k: {"type": "boolean"} for k in ("tables", "queues", "blobs")},
            # The table service of each storage shard beyond the app's own account (DATA_SHARDS).
            "patternProperties": {"^tables-shard[1-9][0-9]*$": {"type": "boolean"}},
            "additionalProperties": False,
        },
    },
}

OPENAPI_PATHS: openapi.Paths = {
    "/health": {
        "get": {
            "operationId": "health",
            "summary": "Whether storage answers",
            "security": [],
            "responses": {
                "200": openapi.json_content("Storage answers", _HEALTH_SCHEMA),
                "503": openapi.json_content("Storage does not answer", _HEALTH_SCHEMA),
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This OpenAPI 3.1 document",
            "security": [],
            "responses": {"200": openapi.json_content("The document", {"type": "object"})},
        }
    },
}
OPENAPI_SCHEMAS: openapi.Schemas = {}
