"""Queue trigger on `purges`: one message `{"tenantId", "purgeId"}` advances one purge as far as it can go.

The handler raises when the purge cannot finish now (busy elsewhere, verification found something, storage
failed), so the host retries it and, after `maxDequeueCount`, parks it in `purges-poison`, from where the
maintenance timer moves it back. A message that is not a purge message is logged and dropped: there is no
purge it could belong to.
"""

from __future__ import annotations

import logging

import azure.functions as func

from functions.adapters.purge_queue import parse_purge_message
from functions.adapters.queues import PURGE_QUEUE
from functions.bootstrap import container

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("purge_worker")
@bp.queue_trigger(arg_name="msg", queue_name=PURGE_QUEUE, connection="AzureWebJobsStorage")
def purge_worker(msg: func.QueueMessage) -> None:
    message = parse_purge_message(msg.get_body())
    if message is None:
        logger.error("dropped a message on %s that is not a purge message (id %s)", PURGE_QUEUE, msg.id)
        return
    c = container()
    run = c.purge_service.run(message.tenant_id, message.purge_id, c.now)
    if run.record is not None:
        logger.info(
            "purge %s of tenant %s: %s -> %s",
            run.record.id, run.record.tenant_id, ", ".join(run.actions), run.record.status,
        )  # fmt: skip
