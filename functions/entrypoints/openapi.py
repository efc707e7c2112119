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
