"""`GET /api/tenants/{tenantId}/evidence`: the auditor's evidence export of a tenant (role `Consent.Manage`).

`?format=json` (the default) is one JSON document; `?format=zip` is one ZIP holding that document and the
tables as CSV. Either is a download (`Content-Disposition: attachment`) and is recorded in the audit log.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from functions.domain.access import CONSENT_MANAGE
from functions.domain.errors import FieldError, ValidationFailed
from functions.entrypoints import openapi
from functions.entrypoints.calls import TenantCall
from functions.entrypoints.evidence_views import (
    CSV_TABLES,
    SCHEMAS,
    evidence_filename,
    evidence_json,
    evidence_zip,
)
from functions.entrypoints.problems import http_handler
from functions.services.evidence import FORMATS, EvidenceFormat

bp = func.Blueprint()

_MEDIA_TYPES: dict[EvidenceFormat, str] = {"json": "application/json", "zip": "application/zip"}


def _format(req: func.HttpRequest) -> EvidenceFormat:
    asked = req.params.get("format", "json")
    for known in FORMATS:
        if asked == known:
            return known
    raise ValidationFailed(
        "unknown evidence format", [FieldError("format", f"must be one of {', '.join(FORMATS)}")]
    )


@bp.function_name("evidence_get")
@bp.route(route="tenants/{tenantId}/evidence", methods=["GET"])
@http_handler
def evidence_get(req: func.HttpRequest) -> func.HttpResponse:
    call = TenantCall(req).requiring(CONSENT_MANAGE)
    form = _format(req)
    evidence = call.c.evidence_service.export(call.tenant_id, call.actor, form, call.now)
    body = evidence_zip(evidence) if form == "zip" else evidence_json(evidence)
    disposition = f'attachment; filename="{evidence_filename(evidence, form)}"'
    return func.HttpResponse(
        body, status_code=200, mimetype=_MEDIA_TYPES[form],
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )  # fmt: skip


_FORMAT_PARAMETER: dict[str, Any] = {
    "name": "format", "in": "query", "required": False,
    "description": f"`json` (default): one document; `zip`: it and the CSV tables {', '.join(CSV_TABLES)}",
    "schema": {"enum": list(FORMATS), "default": "json"},
}  # fmt: skip

_ZIP: dict[str, Any] = {"type": "string", "contentMediaType": "application/zip"}

OPENAPI_PATHS: openapi.Paths = {
    "/tenants/{tenantId}/evidence": {
        "parameters": [openapi.TENANT],
        "get": openapi.operation(
            "exportEvidence",
            "Evidence for an auditor: consent and its history, opt-outs, purges and their deadlines",
            {
                "200": {
                    "description": "The evidence, as a download; recorded in the audit log",
                    "content": {
                        "application/json": {"schema": openapi.ref("Evidence")},
                        "application/zip": {"schema": _ZIP},
                    },
                }
            },
            parameters=[_FORMAT_PARAMETER],
        ),
    },
}  # fmt: skip
OPENAPI_SCHEMAS: openapi.Schemas = SCHEMAS
