"""Ingestion and backup triggers: the daily scheduling timer, the `ingest` and `membership` queue workers,
the backup timer.

`ingest` messages (JSON, base64 on the wire):
- `{"type": "tenant.schedule", "tenantId"}`: schedule that tenant now (a grant sends it for the backfill);
- `{"type": "window", "tenantId", "userId", "window", "start", "end"}`: ingest one user's window.
`membership` messages: `{"type": "groups.resolve", "tenantId"}`: resolve the tenant's opted-out groups now
(their own queue, so a group opt-out never waits behind a backfill's windows).
A failed run raises, so the host retries it and, after `maxDequeueCount`, moves it to `<queue>-poison`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from functions.adapters.queues import INGEST_QUEUE, MEMBERSHIP_QUEUE
from functions.bootstrap import container
from functions.domain.errors import ValidationFailed
from functions.entrypoints import queue_messages
from functions.services.ingestion import WindowRequest
from functions.services.membership import parse_tenant_message

bp = func.Blueprint()
logger = logging.getLogger(__name__)

STORAGE_CONNECTION = "AzureWebJobsStorage"


@bp.function_name("ingestion_schedule")
@bp.timer_trigger(schedule="%INGESTION_SCHEDULE%", arg_name="timer", run_on_startup=False)
def ingestion_schedule(timer: func.TimerRequest) -> None:
    c = container()
    results = c.scheduling_service.schedule_all(c.now())
    queued = sum(r.windows_queued for r in results)
    logger.info("ingestion: %d tenant(s) looked at, %d window(s) queued", len(results), queued)


@bp.function_name("ingestion_worker")
@bp.queue_trigger(arg_name="msg", queue_name=INGEST_QUEUE, connection=STORAGE_CONNECTION)
def ingestion_worker(msg: func.QueueMessage) -> None:
    command = queue_messages.read(msg, INGEST_QUEUE, ingest_command)
    c = container()
    if isinstance(command, ScheduleTenant):
        c.scheduling_service.schedule_tenant(command.tenant_id, c.now())
    elif isinstance(command, WindowRequest):
        c.ingestion_worker.run(command)


@bp.function_name("membership_worker")
@bp.queue_trigger(arg_name="msg", queue_name=MEMBERSHIP_QUEUE, connection=STORAGE_CONNECTION)
def membership_worker(msg: func.QueueMessage) -> None:
    command = queue_messages.read(msg, MEMBERSHIP_QUEUE, membership_command)
    if command is not None:
        c = container()
        c.membership_service.resolve(command.tenant_id, c.now())


@bp.function_name("backup_daily")
@bp.timer_trigger(schedule="%BACKUP_SCHEDULE%", arg_name="timer", run_on_startup=False)
def backup_daily(timer: func.TimerRequest) -> None:
    c = container()
    results = c.backup_service.back_up_all(c.now())
    logger.info("backup: %d tenant(s), %d record(s)", len(results), sum(r.records for r in results))


@dataclass(frozen=True, slots=True)
class ScheduleTenant:
    tenant_id: str


def ingest_command(data: Any) -> ScheduleTenant | WindowRequest:
    kind = data.get("type") if isinstance(data, dict) else None
    if kind == "tenant.schedule":
        return ScheduleTenant(parse_tenant_message(data))
    if kind == "window":
        return WindowRequest.from_message(data)
    raise ValidationFailed(f"not an ingest message (type {kind!r})")


@dataclass(frozen=True, slots=True)
class ResolveGroups:
    tenant_id: str


def membership_command(data: Any) -> ResolveGroups:
    if not isinstance(data, dict) or data.get("type") != "groups.resolve":
        raise ValidationFailed("not a groups.resolve message")
    return ResolveGroups(parse_tenant_message(data))
