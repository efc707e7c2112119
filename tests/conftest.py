"""Fixtures shared by every tier.

One Azurite per test session (started here, stopped at the end), shared by all tests: each test uses its own
tenant ID (`tenant_id`), so tests never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from devhost.azurite import Azurite
from functions.adapters.storage import StorageClients
from functions.settings import Settings

WEBHOOK_SECRET = "whsec_" + "dGVzdC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5YWI="  # base64 of a test-only secret
CONTACT_HASH_KEY = "test-contact-hash-key-of-at-least-32-bytes"


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    with Azurite() as instance:
        yield instance


@pytest.fixture(scope="session")
def storage_connection_string(azurite: Azurite) -> str:
    return azurite.connection_string


def base_env(connection_string: str, **overrides: str) -> dict[str, str]:
    """The settings a test app runs with; pass overrides as keyword arguments."""
    env = {
        "AzureWebJobsStorage": connection_string,
        "ADMIN_CENTER_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "AUTH_JWKS_URL": "http://127.0.0.1:9/jwks",
        "AUTH_AUDIENCE": "api://m365-consent-insights",
        "AUTH_ISSUER": "https://login.microsoftonline.com/{tenantId}/v2.0",
        "CONTACT_HASH_KEY": CONTACT_HASH_KEY,
        "GRAPH_BASE_URL": "http://127.0.0.1:9/v1.0",
        "GRAPH_AUTH": "static-token",
        "GRAPH_STATIC_TOKEN": "simulator-token",
        # Timers read their schedules as %NAME%; a host refuses to start without them (tests fire by hand).
        "INGESTION_SCHEDULE": "0 0 2 * * *",
        "MAINTENANCE_SCHEDULE": "0 */15 * * * *",
        "BACKUP_SCHEDULE": "0 30 3 * * *",
        "SUBSCRIPTION_SCHEDULE": "0 0 */6 * * *",
    }
    env.update(overrides)
    return env


@pytest.fixture
def settings(storage_connection_string: str) -> Settings:
    return Settings.from_env(base_env(storage_connection_string))


@pytest.fixture(scope="session")
def storage_clients(storage_connection_string: str) -> StorageClients:
    return StorageClients(Settings.from_env(base_env(storage_connection_string)).storage)


SHARDS = 3  # the app's account and two more of the session's Azurite


@pytest.fixture(scope="session")
def sharded_env(azurite: Azurite) -> dict[str, str]:
    """Settings of an app whose per-user tables are spread over three accounts of the session's Azurite."""
    return base_env(azurite.connection_string, DATA_SHARDS=azurite.data_shards(SHARDS - 1))


@pytest.fixture
def sharded_storage(sharded_env: dict[str, str]) -> StorageClients:
    return StorageClients(Settings.from_env(sharded_env).storage)


@pytest.fixture
def tenant_id() -> str:
    """A tenant of this test alone, so tests can share one Azurite."""
    return str(uuid.uuid4())


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)
