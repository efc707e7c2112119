"""Get-introduced requests and the tenant's introduction template, in table `introductions`.

PartitionKey tenantId; RowKey `request-{invTicks}-{uuid}` per request (newest first: who asked, which
colleague, the contact's hash, when; never the contact's address or the draft) and `template` (the
admin-configured subject and body, when one was saved).

ScopedStore: tenant scope = the partition (template included); user scope = the requests the user made or
was asked for; feature scope `who_knows_whom` = every request (get introduced is part of that feature);
`relationship_analytics` = nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from functions.adapters import table_batch
from functions.adapters.scoped_table import ScopedTableStore, ScopeFilter
from functions.adapters.storage import translate_storage_errors
from functions.adapters.table_rows import Entity, insert, inverted_ticks, iso, required_iso
from functions.domain.introductions import IntroductionRequest, IntroductionTemplate
from functions.domain.scope import Scope

TABLE = "introductions"
_REQUEST = "request-"
_TEMPLATE = "template"


class TableIntroductionStore(ScopedTableStore):
    name = TABLE

    def record(self, request: IntroductionRequest) -> IntroductionRequest:
        stored = replace(request, id=str(uuid.uuid4()))
        entity: Entity = {
            "PartitionKey": request.tenant_id.lower(),
            "RowKey": f"{_REQUEST}{inverted_ticks(request.requested_at)}-{stored.id}",
            "requestId": stored.id,
            "requesterId": request.requester_id.lower(),
            "colleagueUserId": request.colleague_user_id.lower(),
            "contact": request.contact,
            "requestedAt": iso(request.requested_at),
        }
        with translate_storage_errors():
            insert(self._table, entity)
        return stored

    def requests(self, tenant_id: str) -> list[IntroductionRequest]:
        """The tenant's requests, newest first."""
        start, end = table_batch.prefix_range(_REQUEST)
        query = "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end"
        return [
            _request_from(row)
            for row in self._rows(query, {"pk": tenant_id.lower(), "start": start, "end": end})
        ]

    def template(self, tenant_id: str) -> IntroductionTemplate | None:
        with translate_storage_errors():
            try:
                row = self._table.get_entity(tenant_id.lower(), _TEMPLATE)
            except ResourceNotFoundError:
                return None
        return IntroductionTemplate(subject=str(row["subject"]), body=str(row["body"]))

    def save_template(self, tenant_id: str, template: IntroductionTemplate, at: datetime) -> None:
        entity: Entity = {
            "PartitionKey": tenant_id.lower(),
            "RowKey": _TEMPLATE,
            "subject": template.subject,
            "body": template.body,
            "savedAt": iso(at),
        }
        with translate_storage_errors():
            self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    # --- ScopedStore ----------------------------------------------------------------------------------------

    def scope_filter(self, scope: Scope) -> ScopeFilter | None:
        return _scope_query(scope)


def _scope_query(scope: Scope) -> tuple[str, dict[str, Any]] | None:
    pk = scope.tenant_id.lower()
    if scope.kind == "tenant":
        return "PartitionKey eq @pk", {"pk": pk}
    start, end = table_batch.prefix_range(_REQUEST)
    requests = "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end"
    if scope.kind == "user":
        user = str(scope.user_id).lower()
        # The SDK substitutes @names between spaces only, so no parenthesis may touch one.
        query = f"{requests} and ( requesterId eq @user or colleagueUserId eq @user )"
        return query, {"pk": pk, "start": start, "end": end, "user": user}
    if scope.feature == "who_knows_whom":
        return requests, {"pk": pk, "start": start, "end": end}
    return None


def _request_from(row: Any) -> IntroductionRequest:
    return IntroductionRequest(
        tenant_id=str(row["PartitionKey"]),
        requester_id=row.get("requesterId") or "",
        colleague_user_id=row.get("colleagueUserId") or "",
        contact=row.get("contact") or "",
        requested_at=required_iso(row["requestedAt"]),
        id=row.get("requestId") or "",
    )
