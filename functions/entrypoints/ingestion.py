"""Ingestion and backup triggers: the daily scheduling timer, the `ingest` queue worker, the backup timer.

`ingest` messages (JSON, base64 on the wire):
- `{"type": "tenant.schedule", "tenantId"}`: schedule that tenant now (a grant sends it for the backfill);
- `{"type": "window", "tenantId", "userId", "window", "start", "end"}`: ingest one user's window.
A failed run raises, so the host retries it and, after `maxDequeueCount`, moves it to `ingest-poison`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func

from functions.bootstrap import container
from functions.domain.errors import ValidationFailed
from functions.services.ingestion import WindowRequest
from functions.services.scheduling import parse_schedule_message

bp = func.Blueprint()
logger = logging.getLogger(__name__)

INGEST_QUEUE = "ingest"
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
    data = _message(msg)
    c = container()
    kind = data.get("type")
    if kind == "tenant.schedule":
        c.scheduling_service.schedule_tenant(parse_schedule_message(data), c.now())
    elif kind == "window":
        c.ingestion_worker.run(WindowRequest.from_message(data))
    else:
        raise ValidationFailed(f"unknown ingest message type {kind!r}")


@bp.function_name("backup_daily")
@bp.timer_trigger(schedule="%BACKUP_SCHEDULE%", arg_name="timer", run_on_startup=False)
def backup_daily(timer: func.TimerRequest) -> None:
    c = container()
    results = c.backup_service.back_up_all(c.now())
    logger.info("backup: %d tenant(s), %d record(s)", len(results), sum(r.records for r in results))


def _message(msg: func.QueueMessage) -> dict[str, Any]:
    try:
        data = json.loads(msg.get_body())
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("an ingest message is not JSON") from None
    if not isinstance(data, dict):
        raise ValidationFailed("an ingest message is a JSON object")
    return data
