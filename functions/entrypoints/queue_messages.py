"""The one policy for a queue message its function cannot read: it goes to `<queue>-poison` at once, as it
came, with the reason in the log. Never a silent drop (it may be the only trace of work someone asked for)
and never `maxDequeueCount` pointless retries (reading it again will not make it readable). A person looks at
the poison queue; the maintenance timer moves `purges-poison` messages it can read back to `purges`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import azure.functions as func

from functions.bootstrap import container
from functions.domain.errors import ValidationFailed

logger = logging.getLogger(__name__)
T = TypeVar("T")


def read(msg: func.QueueMessage, queue: str, parse: Callable[[Any], T]) -> T | None:
    """The message as `parse` makes it (from the JSON value; `ValidationFailed` or `ValueError` for one it
    cannot use), or None once an unreadable message has been moved to the poison queue."""
    body = msg.get_body()
    try:
        return parse(json.loads(body))
    except (ValueError, ValidationFailed, RecursionError) as error:
        reason = error.detail if isinstance(error, ValidationFailed) else type(error).__name__
        container().work_queues.poison(queue, body.decode("utf-8", errors="replace"))
        logger.error("%s: message %r is not readable (%s); moved to %s-poison", queue, msg.id, reason, queue)
        return None
