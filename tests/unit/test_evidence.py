"""The evidence an auditor takes away (functions/domain/evidence.py, functions/entrypoints/evidence_views.py):
whether each purge deadline was met, what the export holds and in which order, and that its CSV cannot
carry a spreadsheet formula."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain.consent import ConsentChange, TenantConsent, grant, revoke
from functions.domain.events import Provenance
from functions.domain.evidence import gather_evidence
from functions.domain.optouts import GroupOptOuts, change_user
from functions.domain.purge import BACKUP_DEADLINE, LIVE_DEADLINE, PurgeRecord, deadline_outcomes, new_purge
from functions.domain.purge_subscriptions import GraphSubscriptions, PendingSubscription
from functions.domain.scope import Scope
from functions.entrypoints.evidence_views import csv_tables, evidence_view, evidence_zip

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())
HOUR = timedelta(hours=1)


def change(at: datetime = T0, actor: str | None = "admin") -> Provenance:
    return Provenance(actor, f"evt-{uuid.uuid4()}", at, "webhook", at)


def user_purge(at: datetime = T0, user: str | None = None) -> PurgeRecord:
    scope = Scope("user", TENANT, user_id=user or str(uuid.uuid4()))
    return new_purge(scope, "user-opt-out", change(at))


def done(record: PurgeRecord, *, verified: datetime | None, backups: datetime | None) -> PurgeRecord:
    return replace(record, verified_at=verified, live_deleted_at=verified, backups_deleted_at=backups)


@pytest.mark.parametrize(
    ("verified_after", "backups_after", "now_after", "expected"),
    [
        (2 * HOUR, 2 * HOUR, 3 * HOUR, ("met", "met")),
        (LIVE_DEADLINE + HOUR, LIVE_DEADLINE + HOUR, LIVE_DEADLINE + 2 * HOUR, ("met-late", "met")),
        (None, None, HOUR, ("pending", "pending")),
        (None, None, LIVE_DEADLINE + HOUR, ("missed", "pending")),
        (None, None, BACKUP_DEADLINE + HOUR, ("missed", "missed")),
        (2 * HOUR, None, BACKUP_DEADLINE + HOUR, ("met", "missed")),
    ],
    ids=["both in time", "live late", "nothing due", "live passed", "both passed", "backups never deleted"],
)
def test_each_deadline_is_met_met_late_pending_or_missed(
    verified_after: timedelta | None,
    backups_after: timedelta | None,
    now_after: timedelta,
    expected: tuple[str, str],
) -> None:
    record = done(
        user_purge(),
        verified=None if verified_after is None else T0 + verified_after,
        backups=None if backups_after is None else T0 + backups_after,
    )
    assert deadline_outcomes(record, T0 + now_after) == expected


def test_backups_deleted_but_not_verified_do_not_count_as_deleted() -> None:
    record = replace(user_purge(), backups_deleted_at=T0 + HOUR)
    assert deadline_outcomes(record, T0 + 2 * HOUR) == ("pending", "pending")


@given(
    verified=st.timedeltas(timedelta(0), timedelta(days=60)),
    now=st.timedeltas(timedelta(0), timedelta(days=90)),
)
def test_a_deadline_once_met_late_or_missed_is_never_reported_met(
    verified: timedelta, now: timedelta
) -> None:
    record = done(user_purge(), verified=T0 + verified, backups=T0 + verified)
    live, backups = deadline_outcomes(record, T0 + max(now, verified))
    assert (live == "met") == (verified <= LIVE_DEADLINE)
    assert (backups == "met") == (verified <= BACKUP_DEADLINE)


def a_tenant() -> tuple[TenantConsent, list[ConsentChange], GroupOptOuts]:
    granted = grant(TenantConsent(TENANT), change(T0))
    revoked = revoke(granted.consent, change(T0 + HOUR), "purge-1")
    return revoked.consent, [*revoked.changes, *granted.changes], GroupOptOuts(TENANT)


def test_the_history_is_oldest_first_and_the_purges_newest_first() -> None:
    consent, history, groups = a_tenant()
    older, newer = user_purge(T0), user_purge(T0 + HOUR)
    evidence = gather_evidence(
        TENANT,
        consent=consent,
        history=history,
        groups=groups,
        users=[],
        purges=[older, newer],
        now=T0 + 2 * HOUR,
    )
    assert [c.kind for c in evidence.history] == ["granted", "revoked"]
    assert [p.record.id for p in evidence.purges] == [newer.id, older.id]


def test_only_users_who_are_out_now_are_listed_as_opted_out() -> None:
    consent, history, groups = a_tenant()
    out = change_user(
        None, tenant_id=TENANT, user_id="u-out", opted_out=True, provenance=change(), purge_id="p"
    )
    back = change_user(
        None, tenant_id=TENANT, user_id="u-back", opted_out=False, provenance=change(), purge_id=""
    )
    users = [u for u in (out.user, back.user) if u is not None]
    evidence = gather_evidence(
        TENANT, consent=consent, history=history, groups=groups, users=users, purges=[], now=T0
    )
    assert [u.user_id for u in evidence.users] == ["u-out"]


def test_missed_and_late_deadlines_are_counted_apart_from_pending_ones() -> None:
    consent, history, groups = a_tenant()
    late = done(user_purge(), verified=T0 + LIVE_DEADLINE + HOUR, backups=T0 + LIVE_DEADLINE + HOUR)
    open_ = user_purge(T0 + 2 * LIVE_DEADLINE)
    evidence = gather_evidence(
        TENANT, consent=consent, history=history, groups=groups, users=[], purges=[late, open_],
        now=T0 + 2 * LIVE_DEADLINE + HOUR,
    )  # fmt: skip
    assert (evidence.deadlines_missed, evidence.deadlines_pending) == (1, 2)


def test_a_value_a_spreadsheet_would_run_as_a_formula_is_written_as_text() -> None:
    consent = TenantConsent(TENANT)
    granted = grant(consent, change(T0, actor='=HYPERLINK("http://x")'))
    evidence = gather_evidence(
        TENANT, consent=granted.consent, history=granted.changes, groups=GroupOptOuts(TENANT), users=[],
        purges=[], now=T0,
    )  # fmt: skip
    (row,) = csv.DictReader(io.StringIO(csv_tables(evidence)["consent-history.csv"]))
    assert row["actorId"] == '\'=HYPERLINK("http://x")'


def test_the_zip_holds_the_json_view_and_one_csv_per_table_with_a_row_per_record() -> None:
    consent, history, groups = a_tenant()
    purges = [user_purge(T0), user_purge(T0 + HOUR)]
    evidence = gather_evidence(
        TENANT, consent=consent, history=history, groups=groups, users=[], purges=purges, now=T0 + 2 * HOUR
    )
    archive = zipfile.ZipFile(io.BytesIO(evidence_zip(evidence)))
    assert json.loads(archive.read("evidence.json")) == evidence_view(evidence)
    rows = list(csv.DictReader(io.StringIO(archive.read("purges.csv").decode())))
    assert [r["id"] for r in rows] == [p.record.id for p in evidence.purges]
    history_rows = list(csv.DictReader(io.StringIO(archive.read("consent-history.csv").decode())))
    assert [r["kind"] for r in history_rows] == ["granted", "revoked"]


def test_a_purge_graph_never_confirmed_says_so_in_its_csv_row_rather_than_a_zero() -> None:
    graph = GraphSubscriptions(
        state="expired",
        pending=(PendingSubscription(str(uuid.uuid4()), T0 + 3 * HOUR),),
        attempts=4,
        last_attempt_at=T0 + 3 * HOUR,
        last_error="GraphError",
    )
    purge = replace(done(user_purge(T0), verified=T0 + HOUR, backups=T0 + HOUR), graph_subscriptions=graph)
    evidence = gather_evidence(
        TENANT, consent=TenantConsent(TENANT), history=[], groups=GroupOptOuts(TENANT), users=[],
        purges=[purge], now=T0 + 4 * HOUR,
    )  # fmt: skip
    (row,) = csv.DictReader(io.StringIO(csv_tables(evidence)["purges.csv"]))
    assert (
        row["graphSubscriptions"]
        == "expired: 1 not confirmed by Graph, no delivery after 2026-11-27T12:00:00Z"
    )
