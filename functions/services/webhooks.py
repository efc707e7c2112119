"""The admin-center webhook: idempotent delivery of an authenticated, validated CloudEvent.

The first delivery of a `webhook-id` claims a receipt, applies the event and stores its response (202);
a repeated delivery with the same body gets that response again (200) and nothing else happens. The same
id with another body is refused (409): the sender reused an id. A delivery that arrives while the first one
is still being processed gets 409 and is retried by the sender; a claim abandoned by a crashed instance is
taken over after `lease`. If applying the event fails, the claim is released so the retry can apply it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, assert_never

from functions.domain.audit import AuditEntry
from functions.domain.errors import ConcurrencyConflict, Conflict
from functions.domain.events import (
    CloudEvent,
    ConsentGranted,
    ConsentRevoked,
    GroupsReplaced,
    LegacyConsentImported,
    UserOptOutChanged,
)
from functions.services.consent import ChangeResult, ConsentService
from functions.services.optouts import OptOutService
from functions.services.ports.consent import AuditLog, Receipt, ReceiptStore

DEFAULT_LEASE = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    status: int  # 202 first delivery, 200 repeated delivery
    body: dict[str, Any]


class WebhookService:
    def __init__(
        self,
        receipts: ReceiptStore,
        consent: ConsentService,
        optouts: OptOutService,
        audit: AuditLog,
        *,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self._receipts, self._consent, self._optouts, self._audit = receipts, consent, optouts, audit
        self._lease = lease

    def deliver(self, webhook_id: str, body: bytes, event: CloudEvent, now: datetime) -> WebhookResponse:
        digest = hashlib.sha256(body).hexdigest()
        claimed, receipt = self._receipts.claim(webhook_id, digest, now)
        if not claimed:
            repeated = self._repeated(receipt, digest, event, now)
            if isinstance(repeated, WebhookResponse):
                return repeated
            receipt = repeated
        try:
            result = self._apply(webhook_id, event, now)
        except BaseException:
            self._receipts.release(receipt)
            raise
        response: dict[str, Any] = {
            "webhookId": webhook_id,
            "eventId": event.id,
            "type": event.type,
            "outcome": result.outcome,
        }
        if result.purge_id:
            response["purgeId"] = result.purge_id
        self._receipts.complete(receipt, 202, json.dumps(response, separators=(",", ":")))
        self._received(event, webhook_id, now, result.outcome)
        return WebhookResponse(202, response)

    def _repeated(
        self, receipt: Receipt, digest: str, event: CloudEvent, now: datetime
    ) -> WebhookResponse | Receipt:
        """The stored response of a completed delivery, or our claim on an abandoned one."""
        if receipt.body_sha256 != digest:
            self._received(event, receipt.webhook_id, now, "rejected", "webhook-id reused with another body")
            raise Conflict("this webhook-id was already delivered with a different body")
        if receipt.state == "done" and receipt.status and receipt.body:
            self._received(event, receipt.webhook_id, now, "repeated")
            return WebhookResponse(200, json.loads(receipt.body))
        if now - receipt.claimed_at < self._lease:
            raise Conflict("this webhook-id is being processed; retry later")
        try:
            return self._receipts.take_over(receipt, now)
        except ConcurrencyConflict:
            raise Conflict("this webhook-id is being processed; retry later") from None

    def _apply(self, webhook_id: str, event: CloudEvent, now: datetime) -> ChangeResult:
        provenance = event.provenance(now)
        match event.data:
            case ConsentGranted(tenant_id=tenant, opted_out_group_ids=groups):
                return self._consent.grant(tenant, groups, provenance, webhook_id=webhook_id)
            case ConsentRevoked(tenant_id=tenant):
                return self._consent.revoke(tenant, provenance, webhook_id=webhook_id)
            case GroupsReplaced(tenant_id=tenant, group_ids=groups):
                return self._optouts.replace_groups(tenant, groups, provenance, webhook_id=webhook_id).result
            case UserOptOutChanged(tenant_id=tenant, user_id=user, opted_out=opted_out):
                return self._optouts.set_user(
                    tenant, user, opted_out=opted_out, provenance=provenance, webhook_id=webhook_id
                )
            case LegacyConsentImported() as legacy:
                return self._consent.import_legacy(legacy, provenance, webhook_id=webhook_id)
            case unexpected:
                assert_never(unexpected)

    def _received(
        self, event: CloudEvent, webhook_id: str, now: datetime, outcome: str, detail: str | None = None
    ) -> None:
        self._audit.append(
            AuditEntry(
                tenant_id=event.tenant_id, at=now, kind="webhook.received", outcome=outcome,
                event_id=event.id, webhook_id=webhook_id, event_type=event.type, detail=detail,
            )
        )  # fmt: skip

    def rejected(self, tenant_id: str, webhook_id: str, now: datetime, detail: str) -> None:
        """Audit a signed delivery refused as invalid (the tenant named in it is a GUID)."""
        self._audit.append(
            AuditEntry(
                tenant_id=tenant_id, at=now, kind="webhook.received", outcome="rejected",
                webhook_id=webhook_id, detail=detail,
            )
        )  # fmt: skip
