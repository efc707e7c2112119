"""Builds the FunctionApp from the blueprints. `function_app.py` calls this once; tests may call it again."""

from __future__ import annotations

from types import ModuleType

import azure.functions as func

from functions.bootstrap import container
from functions.entrypoints import (
    consent_api,
    console,
    evidence_api,
    ingestion,
    insights_api,
    maintenance,
    meta,
    notifications,
    purge_worker,
    webhooks,
)

# One module per trigger family; each exposes `bp` and documents its HTTP routes in `OPENAPI_PATHS`.
BLUEPRINT_MODULES: tuple[ModuleType, ...] = (
    meta, webhooks, consent_api, evidence_api, purge_worker, maintenance, insights_api, ingestion, console,
    notifications,
)  # fmt: skip


def create_app(*, check_settings: bool = True) -> func.FunctionApp:
    """The app. With `check_settings` (what the host's import does) the settings are read now, so a missing
    or unsafe one (e.g. a short `CONTACT_HASH_KEY`, an unresolved Key Vault reference) stops start-up with a
    message naming it instead of failing the first request."""
    if check_settings:
        container()
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for module in BLUEPRINT_MODULES:
        app.register_functions(module.bp)
    return app
