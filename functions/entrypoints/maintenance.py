"""The maintenance timer (`%MAINTENANCE_SCHEDULE%`): runs `Container.maintenance_steps` in order (purge
re-queues and deadline flags first; functions/services/maintenance.py says how to add a step)."""

from __future__ import annotations

import azure.functions as func

from functions.bootstrap import container

bp = func.Blueprint()


@bp.function_name("maintenance")
@bp.timer_trigger(arg_name="timer", schedule="%MAINTENANCE_SCHEDULE%", run_on_startup=False)
def maintenance(timer: func.TimerRequest) -> None:
    c = container()
    c.maintenance_service.run(c.now())
