"""The OpenAPI 3.1 document, assembled from the `OPENAPI_PATHS` / `OPENAPI_SCHEMAS` of each blueprint module.

Each entry-point module documents its own routes next to their handlers; `tests/unit/test_openapi.py`
checks that the document and the registered routes agree.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

Paths = dict[str, dict[str, Any]]
Schemas = dict[str, dict[str, Any]]

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def json_content(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A response object with a JSON body of `schema`."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def problem(description: str) -> dict[str, Any]:
    """A response object carrying an RFC 9457 problem document."""
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


# --- pieces every blueprint's documentation shares ----------------------------------------------------------

GUID: dict[str, Any] = {
    "type": "string",
    "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
NULLABLE_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
NULLABLE_NUMBER: dict[str, Any] = {"type": ["number", "null"]}
COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
COUNTS: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "integer"}}
ACCURACY: dict[str, Any] = {"type": "string", "enum": ["complete", "partial"]}
AUTH_ERRORS: dict[str, Any] = {
    "400": problem("A route ID is not a GUID, or the query or body is invalid"),
    "401": problem("The bearer token is missing or invalid"),
    "403": problem("The token is for another tenant or lacks the role"),
}
BODY_ERRORS: dict[str, Any] = {
    "413": problem("The body is over 64 KiB"),
    "415": problem("The body is not JSON"),
}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A closed object schema: every property required unless `required` says otherwise."""
    return {
        "type": "object",
        "required": list(properties) if required is None else required,
        "properties": properties,
        "additionalProperties": False,
    }


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": GUID}


TENANT = path_param("tenantId", "The Entra tenant ID")


def paging(default: int, maximum: int) -> list[dict[str, Any]]:
    """The `limit` and `continuation` query parameters of a paged list."""
    return [
        {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": maximum, "default": default}},
        {"name": "continuation", "in": "query", "required": False,
         "description": "The `continuation` of the previous page", "schema": {"type": "string"}},
    ]  # fmt: skip


def operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    body: str | None = None,
    body_required: bool = True,
    errors: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An operation behind an Entra token: its responses plus the shared 400/401/403 (and 413/415 with a
    body), `errors` adding or overriding any."""
    described: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "security": [{"entra": []}],
        "responses": {**responses, **AUTH_ERRORS, **(BODY_ERRORS if body else {}), **(errors or {})},
        **extra,
    }
    if body:
        described["requestBody"] = {
            "required": body_required, "content": {"application/json": {"schema": ref(body)}}
        }  # fmt: skip
    return described


@functools.cache
def _build() -> dict[str, Any]:
    from functions.app import BLUEPRINT_MODULES  # noqa: PLC0415  (app imports this module's users)

    paths: Paths = {}
    schemas: Schemas = {"Problem": PROBLEM_SCHEMA}
    for module in BLUEPRINT_MODULES:
        for path, operations in getattr(module, "OPENAPI_PATHS", {}).items():
            paths.setdefault(path, {}).update(operations)
        schemas.update(getattr(module, "OPENAPI_SCHEMAS", {}))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "m365-consent-insights",
            "version": "0.1.0",
            "description": "Consent-gated Microsoft 365 relationship insights for Dynamics 365 Sales.",
        },
        "servers": [{"url": "/api"}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "entra": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "standardWebhooks": {"type": "apiKey", "in": "header", "name": "webhook-signature"},
            },
        },
        "security": [{"entra": []}],
        "paths": dict(sorted(paths.items())),
    }


def document() -> dict[str, Any]:
    return copy.deepcopy(_build())
