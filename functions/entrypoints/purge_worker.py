"""Queue trigger on `purges`: one message `{"tenantId", "purgeId"}` advances one purge as far as it can go.

The handler raises when the purge cannot finish now (busy elsewhere, verification found something, storage
failed), so the host retries it and, after `maxDequeueCount`, parks it in `purges-poison`, from where the
maintenance timer moves it back. A message that is not a purge message goes to `purges-poison` at once
(functions/entrypoints/queue_messages.py).
"""

from __future__ import annotations

import json
import logging

import azure.functions as func

from functions.adapters.purge_queue import parse_purge_message
from functions.adapters.queues import PURGE_QUEUE
from functions.bootstrap import container
from functions.domain.errors import ValidationFailed
from functions.entrypoints import queue_messages
from functions.services.ports.queues import PurgeMessage

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("purge_worker")
@bp.queue_trigger(arg_name="msg", queue_name=PURGE_QUEUE, connection="AzureWebJobsStorage")
def purge_worker(msg: func.QueueMessage) -> None:
    message = queue_messages.read(msg, PURGE_QUEUE, purge_command)
    if message is None:
        return
    c = container()
    run = c.purge_service.run(message.tenant_id, message.purge_id, c.now)
    if run.record is not None:
        logger.info(
            "purge %s of tenant %s: %s -> %s",
            run.record.id, run.record.tenant_id, ", ".join(run.actions), run.record.status,
        )  # fmt: skip


def purge_command(data: object) -> PurgeMessage:
    message = parse_purge_message(json.dumps(data))
    if message is None:
        raise ValidationFailed("not a purge message: it names no tenantId and purgeId")
    return message
