"""The consent API's responses: JSON views of consent, opt-outs, purges, audit entries and ingestion progress,
and their JSON Schemas for the OpenAPI document.

The views and the schemas sit side by side so that a change to one is seen next to the other; the tests
validate real responses against these schemas.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, get_args

from functions.domain.audit import AuditEntry, AuditPage
from functions.domain.consent import TenantConsent, feature_status
from functions.domain.events import CHANGE_SOURCES, MAX_GROUP_IDS, Provenance
from functions.domain.inclusion import REASONS
from functions.domain.ingestion import WindowStatus
from functions.domain.optouts import GroupOptOuts, UserOptOut
from functions.domain.progress import IngestionProgress
from functions.domain.purge import GroupScope, PurgeRecord
from functions.domain.purge_subscriptions import GraphSubscriptions
from functions.domain.scope import FEATURES
from functions.domain.times import rfc3339
from functions.entrypoints.openapi import COUNT, COUNTS, GUID, NULLABLE_STRING, NULLABLE_TIME, TIME, obj, ref


def _time(value: datetime | None) -> str | None:
    return rfc3339(value) if value else None


def provenance_view(provenance: Provenance | None) -> dict[str, Any] | None:
    if provenance is None:
        return None
    return {
        "actorId": provenance.actor_id,
        "eventId": provenance.event_id,
        "eventTime": _time(provenance.event_time),
        "source": provenance.source,
        "recordedAt": _time(provenance.recorded_at),
    }


def groups_view(groups: GroupOptOuts) -> list[dict[str, Any]]:
    return [
        {"groupId": e.group_id, "source": e.source, "addedAt": _time(e.added_at)}
        for e in sorted(groups.entries.values(), key=lambda e: e.group_id)
    ]


def users_view(users: list[UserOptOut]) -> list[dict[str, Any]]:
    return [
        {"userId": u.user_id, "optedOutAt": _time(u.changed.recorded_at), "purgeId": u.purge_id}
        for u in users
    ]


def consent_view(consent: TenantConsent, groups: GroupOptOuts, now: datetime) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for feature in FEATURES:
        status = feature_status(consent, feature, now)
        record = consent.legacy.get(feature)
        features[feature] = {
            "enabled": status.enabled,
            "basis": status.basis,
            "legacy": None
            if record is None
            else {
                "status": record.status_at(now),
                "grantedAt": _time(record.granted_at),
                "expiresAt": _time(record.expires_at),
                "optedOutGroupIds": sorted(record.opted_out_group_ids),
            },
        }
    return {
        "tenantId": consent.tenant_id,
        "state": consent.state,
        "version": consent.version,
        "granted": provenance_view(consent.granted),
        "revoked": provenance_view(consent.revoked),
        "features": features,
        "optedOutGroups": groups_view(groups),
        "evaluatedAt": _time(now),
    }


def purge_view(record: PurgeRecord) -> dict[str, Any]:
    scope = record.scope
    scope_view: dict[str, Any] = {"kind": scope.kind, "tenantId": scope.tenant_id}
    if isinstance(scope, GroupScope):
        scope_view["groupIds"] = sorted(scope.group_ids)
    elif scope.user_id:
        scope_view["userId"] = scope.user_id
    elif scope.feature:
        scope_view["feature"] = scope.feature
    return {
        "id": record.id,
        "scope": scope_view,
        "reason": record.reason,
        "status": record.status,
        "requestedAt": _time(record.requested_at),
        "requestedBy": record.requested_by,
        "liveDeadline": _time(record.live_deadline),
        "backupDeadline": _time(record.backup_deadline),
        "liveDeletedAt": _time(record.live_deleted_at),
        "backupsDeletedAt": _time(record.backups_deleted_at),
        "verifiedAt": _time(record.verified_at),
        "steps": [
            {
                "name": s.name,
                "at": _time(s.at),
                "counts": dict(s.counts),
                "durationMs": s.duration_ms,
                "error": s.error,
            }
            for s in record.steps
        ],
        "counts": dict(record.counts),
        # the purge function's progress (functions/services/purge.py)
        "startedAt": _time(record.started_at),
        "sweepAt": _time(record.fence_at),
        "completedAt": _time(record.completed_at),
        "attempts": record.attempts,
        "verification": None if record.verification is None else dict(record.verification),
        "deadlineFlags": list(record.deadline_flags),
        "members": None if record.members is None else list(record.members),
        "lastError": record.last_error,
        "graphSubscriptions": _graph_subscriptions_view(record.graph_subscriptions),
    }


def _graph_subscriptions_view(graph: GraphSubscriptions | None) -> dict[str, Any] | None:
    """The scope's subscriptions at Graph; `stopsBy` is when Graph delivers nothing more for those it did not
    confirm deleted (null once `removed`). The subscription IDs stay on the record, for the retries."""
    if graph is None:
        return None
    return {
        "state": graph.state,
        "verifiedAtGraph": graph.state == "removed",
        "deleted": graph.deleted,
        "pending": len(graph.pending),
        "stopsBy": _time(graph.stops_by),
        "nextAttemptAt": _time(graph.retry_at),
        "attempts": graph.attempts,
        "lastAttemptAt": _time(graph.last_attempt_at),
        "lastError": graph.last_error,
    }


def audit_entry_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": _time(entry.at),
        "kind": entry.kind,
        "outcome": entry.outcome,
        "actorId": entry.actor_id,
        "eventId": entry.event_id,
        "webhookId": entry.webhook_id,
        "eventType": entry.event_type,
        "subjectIds": list(entry.subject_ids),
        "purgeId": entry.purge_id,
        "counts": dict(entry.counts),
        "detail": entry.detail,
    }


def audit_page_view(page: AuditPage) -> dict[str, Any]:
    return {"entries": [audit_entry_view(e) for e in page.entries], "continuation": page.continuation}


def ingestion_view(progress: IngestionProgress) -> dict[str, Any]:
    return {
        "tenantId": progress.tenant_id,
        "phase": progress.phase,
        "reason": progress.reason,
        "accuracy": progress.accuracy,
        "users": {"total": progress.users, "backfilled": progress.users_backfilled},
        "backfillWindows": {"total": progress.windows, "done": progress.windows_done},
        "windowsByStatus": dict(progress.statuses),
        "failingUsers": [
            {
                "userId": f.user_id,
                "windows": list(f.windows),
                "attempts": f.attempts,
                "error": f.error,
                "since": _time(f.since),
            }
            for f in progress.failing
        ],
        "membershipPending": progress.membership_pending,
        "hiddenCursors": progress.hidden_cursors,
        "backfillStartedAt": _time(progress.backfill_started_at),
        "estimatedBackfillEnd": _time(progress.estimated_backfill_end),
        "lastIncrementalAt": _time(progress.last_incremental_at),
    }


# --- JSON Schemas ------------------------------------------------------------------------------------------


SCHEMAS: dict[str, dict[str, Any]] = {
    "Provenance": obj(
        {
            "actorId": NULLABLE_STRING,
            "eventId": {"type": "string"},
            "eventTime": TIME,
            "source": {"enum": list(CHANGE_SOURCES)},
            "recordedAt": TIME,
        }
    ),
    "GroupOptOut": obj(
        {"groupId": GUID, "source": {"enum": ["admin", "consent-grant", "legacy-migration"]}, "addedAt": TIME}
    ),
    "UserOptOut": obj({"userId": GUID, "optedOutAt": TIME, "purgeId": NULLABLE_STRING}),
    "FeatureConsent": obj(
        {
            "enabled": {"type": "boolean"},
            "basis": {"enum": ["consent", "legacy", "none"]},
            "legacy": {
                "oneOf": [
                    {"type": "null"},
                    obj(
                        {
                            "status": {"enum": ["active", "superseded", "expired"]},
                            "grantedAt": TIME,
                            "expiresAt": TIME,
                            "optedOutGroupIds": {"type": "array", "items": GUID},
                        }
                    ),
                ]
            },
        }
    ),
    "Consent": obj(
        {
            "tenantId": GUID,
            "state": {"enum": ["none", "granted", "revoked"]},
            "version": {"type": "integer", "minimum": 0},
            "granted": {"oneOf": [{"type": "null"}, ref("Provenance")]},
            "revoked": {"oneOf": [{"type": "null"}, ref("Provenance")]},
            "features": obj({f: ref("FeatureConsent") for f in FEATURES}),
            "optedOutGroups": {"type": "array", "items": ref("GroupOptOut")},
            "evaluatedAt": TIME,
        }
    ),
    "GrantRequest": obj(
        {"optedOutGroupIds": {"type": "array", "items": GUID, "maxItems": MAX_GROUP_IDS}}, required=[]
    ),
    "Revocation": obj(
        {"tenantId": GUID, "state": {"const": "revoked"}, "outcome": {"type": "string"}, "purgeId": GUID}
    ),
    "OptOuts": obj(
        {
            "groups": {"type": "array", "items": ref("GroupOptOut")},
            "users": {"type": "array", "items": ref("UserOptOut")},
        }
    ),
    "GroupsRequest": obj({"groupIds": {"type": "array", "items": GUID, "maxItems": MAX_GROUP_IDS}}),
    "GroupsChange": obj(
        {
            "groups": {"type": "array", "items": ref("GroupOptOut")},
            "added": {"type": "array", "items": GUID},
            "removed": {"type": "array", "items": GUID},
            "outcome": {"type": "string"},
            "purgeId": {"oneOf": [{"type": "null"}, GUID]},
        }
    ),
    "UserOptOutChange": obj(
        {
            "tenantId": GUID,
            "userId": GUID,
            "optedOut": {"type": "boolean"},
            "outcome": {"type": "string"},
            "purgeId": {"oneOf": [{"type": "null"}, GUID]},
        }
    ),
    "PurgeScope": obj(
        {
            "kind": {"enum": ["tenant", "user", "feature", "groups"]},
            "tenantId": GUID,
            "userId": GUID,
            "feature": {"enum": list(FEATURES)},
            "groupIds": {"type": "array", "items": GUID},
        },
        required=["kind", "tenantId"],
    ),
    "Purge": obj(
        {
            "id": GUID,
            "scope": ref("PurgeScope"),
            "reason": {"type": "string"},
            "status": {"type": "string"},
            "requestedAt": TIME,
            "requestedBy": NULLABLE_STRING,
            "liveDeadline": TIME,
            "backupDeadline": TIME,
            "liveDeletedAt": NULLABLE_TIME,
            "backupsDeletedAt": NULLABLE_TIME,
            "verifiedAt": NULLABLE_TIME,
            "steps": {
                "type": "array",
                "items": obj(
                    {
                        "name": {"type": "string"},
                        "at": TIME,
                        "counts": COUNTS,
                        "durationMs": {"type": ["integer", "null"]},
                        "error": {
                            **NULLABLE_STRING,
                            "description": "a step that could not do its work: the error's class",
                        },
                    }
                ),
            },
            "counts": COUNTS,
            "startedAt": NULLABLE_TIME,
            "sweepAt": NULLABLE_TIME,
            "completedAt": NULLABLE_TIME,
            "attempts": {"type": "integer", "minimum": 0},
            "verification": {"oneOf": [{"type": "null"}, COUNTS]},
            "deadlineFlags": {
                "type": "array",
                "items": {
                    "enum": [
                        "live-deadline-near",
                        "live-deadline-passed",
                        "backup-deadline-near",
                        "backup-deadline-passed",
                    ]
                },
            },
            "members": {"oneOf": [{"type": "null"}, {"type": "array", "items": GUID}]},
            "lastError": NULLABLE_STRING,
            "graphSubscriptions": {
                "description": (
                    "The scope's change-notification subscriptions at Microsoft Graph (null: none to remove, "
                    "Graph not asked). `removed`: Graph listed none after the deletions. `pending`: Graph "
                    "could not be reached or refused; asked again until it answers or `stopsBy`. `expired`: "
                    "never confirmed by Graph, but past `stopsBy`, when Graph stops delivering for them"
                ),
                "oneOf": [
                    {"type": "null"},
                    obj(
                        {
                            "state": {"enum": ["pending", "removed", "expired"]},
                            "verifiedAtGraph": {"type": "boolean"},
                            "deleted": {"type": "integer", "minimum": 0},
                            "pending": {"type": "integer", "minimum": 0},
                            "stopsBy": NULLABLE_TIME,
                            "nextAttemptAt": NULLABLE_TIME,
                            "attempts": {"type": "integer", "minimum": 0},
                            "lastAttemptAt": NULLABLE_TIME,
                            "lastError": NULLABLE_STRING,
                        }
                    ),
                ],
            },
        }
    ),
    "PurgeList": obj({"purges": {"type": "array", "items": ref("Purge")}, "continuation": NULLABLE_STRING}),
    "AuditEntry": obj(
        {
            "id": {"type": "string"},
            "at": TIME,
            "kind": {"type": "string"},
            "outcome": {"type": "string"},
            "actorId": NULLABLE_STRING,
            "eventId": NULLABLE_STRING,
            "webhookId": NULLABLE_STRING,
            "eventType": NULLABLE_STRING,
            "subjectIds": {"type": "array", "items": {"type": "string"}},
            "purgeId": NULLABLE_STRING,
            "counts": COUNTS,
            "detail": NULLABLE_STRING,
        }
    ),
    "AuditPage": obj(
        {"entries": {"type": "array", "items": ref("AuditEntry")}, "continuation": NULLABLE_STRING}
    ),
    "IngestionProgress": obj(
        {
            "tenantId": GUID,
            "phase": {"enum": ["off", "not-started", "backfilling", "current"]},
            "reason": {"enum": list(REASONS)},
            "accuracy": {"enum": ["complete", "partial"]},
            "users": obj({"total": COUNT, "backfilled": COUNT}),
            "backfillWindows": obj({"total": COUNT, "done": COUNT}),
            "windowsByStatus": {
                "type": "object",
                "propertyNames": {"enum": list(get_args(WindowStatus))},
                "additionalProperties": COUNT,
            },
            "failingUsers": {
                "type": "array",
                "items": obj(
                    {
                        "userId": GUID,
                        "windows": {"type": "array", "items": {"type": "string"}},
                        "attempts": COUNT,
                        "error": NULLABLE_STRING,
                        "since": TIME,
                    }
                ),
            },
            "membershipPending": {"type": "boolean"},
            "hiddenCursors": COUNT,
            "backfillStartedAt": NULLABLE_TIME,
            "estimatedBackfillEnd": NULLABLE_TIME,
            "lastIncrementalAt": NULLABLE_TIME,
        }
    ),
}
