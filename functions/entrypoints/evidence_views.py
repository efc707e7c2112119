"""The evidence export in the forms an auditor takes away: one JSON document, or one ZIP holding that document
and a CSV file per table (consent history, opt-outs, purges). Its JSON Schema sits beside the view.

Every cell is an object ID, an enumerated word, a time or a count. A cell that a spreadsheet would run as a
formula (a leading `=`, `+`, `-`, `@`, tab or carriage return) is still written with a leading `'`, so a
value that came from outside (an actor's ID in a webhook) cannot become one.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from typing import Any, get_args

from functions.domain.consent import ChangeKind, ConsentChange
from functions.domain.evidence import Evidence, PurgeEvidence
from functions.domain.purge import DeadlineOutcome, GroupScope
from functions.domain.purge_subscriptions import GraphSubscriptions
from functions.domain.times import rfc3339
from functions.entrypoints.consent_views import (
    consent_view,
    groups_view,
    provenance_view,
    purge_view,
    users_view,
)
from functions.entrypoints.openapi import COUNT, GUID, TIME, obj, ref

CSV_TABLES: tuple[str, ...] = ("consent-history.csv", "opt-outs.csv", "purges.csv")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PURGE_COLUMNS: tuple[str, ...] = (
    "id", "scope", "subject", "reason", "status", "requestedAt", "requestedBy",
    "liveDeadline", "liveDeletedAt", "verifiedAt", "liveDeadlineOutcome",
    "backupDeadline", "backupsDeletedAt", "backupDeadlineOutcome", "completedAt", "verification", "steps",
    "graphSubscriptions",
)  # fmt: skip


def evidence_view(evidence: Evidence) -> dict[str, Any]:
    return {
        "tenantId": evidence.tenant_id,
        "generatedAt": rfc3339(evidence.generated_at),
        "summary": {
            "consentChanges": len(evidence.history),
            "purges": len(evidence.purges),
            "deadlinesMissed": evidence.deadlines_missed,
            "deadlinesPending": evidence.deadlines_pending,
        },
        "consent": consent_view(evidence.consent, evidence.groups, evidence.generated_at),
        "consentHistory": [_change_view(change) for change in evidence.history],
        "optOuts": {"groups": groups_view(evidence.groups), "users": users_view(list(evidence.users))},
        "purges": [
            {"purge": purge_view(p.record), "liveDeadline": p.live, "backupDeadline": p.backups}
            for p in evidence.purges
        ],
    }


def evidence_filename(evidence: Evidence, extension: str) -> str:
    return f"evidence-{evidence.tenant_id}-{evidence.generated_at.strftime('%Y%m%dT%H%M%SZ')}.{extension}"


def evidence_json(evidence: Evidence) -> bytes:
    return json.dumps(evidence_view(evidence), indent=2).encode()


def evidence_zip(evidence: Evidence) -> bytes:
    """evidence.json and the three CSV tables, stamped with the export's time."""
    stamp = evidence.generated_at.timetuple()[:6]
    files = {
        "evidence.json": evidence_json(evidence),
        **{n: t.encode() for n, t in csv_tables(evidence).items()},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), data)
    return buffer.getvalue()


def csv_tables(evidence: Evidence) -> dict[str, str]:
    history, optouts, purges = CSV_TABLES
    return {
        history: _csv(
            ("recordedAt", "kind", "feature", "groupIds", "source", "actorId", "eventId", "eventTime"),
            (_change_row(change) for change in evidence.history),
        ),
        optouts: _csv(
            ("kind", "id", "source", "since", "purgeId"),
            [
                *(("group", e.group_id, e.source, rfc3339(e.added_at), "") for e in _groups(evidence)),
                *(
                    ("user", u.user_id, u.changed.source, rfc3339(u.changed.recorded_at), u.purge_id or "")
                    for u in evidence.users
                ),
            ],
        ),
        purges: _csv(PURGE_COLUMNS, (_purge_row(p) for p in evidence.purges)),
    }


def _change_view(change: ConsentChange) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "feature": change.feature,
        "groupIds": sorted(change.group_ids),
        "provenance": provenance_view(change.provenance),
    }


def _change_row(change: ConsentChange) -> tuple[str, ...]:
    p = change.provenance
    return (
        rfc3339(p.recorded_at), change.kind, change.feature or "", " ".join(sorted(change.group_ids)),
        p.source, p.actor_id or "", p.event_id, rfc3339(p.event_time),
    )  # fmt: skip


def _groups(evidence: Evidence) -> list[Any]:
    return sorted(evidence.groups.entries.values(), key=lambda e: e.group_id)


def _purge_row(purge: PurgeEvidence) -> tuple[str, ...]:
    r = purge.record
    scope = r.scope
    if isinstance(scope, GroupScope):
        subject = " ".join(sorted(scope.group_ids))
    else:
        subject = scope.user_id or scope.feature or scope.tenant_id
    verification = ";".join(f"{k}={v}" for k, v in sorted((r.verification or {}).items()))
    steps = ";".join(f"{s.name}@{rfc3339(s.at)}" for s in r.steps)
    return (
        r.id, scope.kind, subject, r.reason, r.status, rfc3339(r.requested_at), r.requested_by or "",
        rfc3339(r.live_deadline), _t(r.live_deleted_at), _t(r.verified_at), purge.live,
        rfc3339(r.backup_deadline), _t(r.backups_deleted_at), purge.backups, _t(r.completed_at),
        verification, steps, _graph_cell(r.graph_subscriptions),
    )  # fmt: skip


def _graph_cell(graph: GraphSubscriptions | None) -> str:
    """`removed` (verified at Graph), or the state with what Graph did not confirm and until when."""
    if graph is None or graph.state == "removed":
        return graph.state if graph else ""
    return (
        f"{graph.state}: {len(graph.pending)} not confirmed by Graph, no delivery after {_t(graph.stops_by)}"
    )


def _t(value: Any) -> str:
    return rfc3339(value) if value else ""


def _csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


_OUTCOME = {"enum": list(get_args(DeadlineOutcome))}

SCHEMAS: dict[str, dict[str, Any]] = {
    "ConsentChange": obj(
        {
            "kind": {"enum": list(get_args(ChangeKind))},
            "feature": {"type": ["string", "null"]},
            "groupIds": {"type": "array", "items": GUID},
            "provenance": ref("Provenance"),
        }
    ),
    "Evidence": obj(
        {
            "tenantId": GUID,
            "generatedAt": TIME,
            "summary": obj(
                {
                    "consentChanges": COUNT,
                    "purges": COUNT,
                    "deadlinesMissed": COUNT,
                    "deadlinesPending": COUNT,
                }
            ),
            "consent": ref("Consent"),
            "consentHistory": {"type": "array", "items": ref("ConsentChange")},
            "optOuts": ref("OptOuts"),
            "purges": {
                "type": "array",
                "items": obj({"purge": ref("Purge"), "liveDeadline": _OUTCOME, "backupDeadline": _OUTCOME}),
            },
        }
    ),
}
