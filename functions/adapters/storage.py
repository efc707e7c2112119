"""Azure Storage clients, built once from settings: a connection string locally, managed identity in Azure.

Every table, queue and blob adapter gets its client from `StorageClients`, which creates the table, queue or
container on first use (idempotently) so that a fresh account or Azurite needs no provisioning step.
Queue clients encode messages as base64, which is what the Functions host expects.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from azure.core.exceptions import AzureError, ResourceExistsError, ServiceRequestError
from azure.core.pipeline.transport import RequestsTransport

# The SDK's own adapter (larger read blocks for downloads); it is what RequestsTransport mounts itself.
from azure.core.pipeline.transport._bigger_block_size_http_adapters import BiggerBlockSizeHTTPAdapter
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure.storage.queue import (
    QueueClient,
    QueueServiceClient,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)
from urllib3.util.retry import Retry

from functions.adapters.table_transport import TableTransport
from functions.domain.errors import StorageError, StorageUnavailable

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from functions.settings import StorageSettings

# Fail fast rather than let the SDK's default back-off hold a request for a minute.
_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 3, "retry_backoff_factor": 0.2, "connection_timeout": 5}
# Blob and queue clients take their back-off as `initial_backoff`/`increment_base` (15 s and 3 by default,
# a minute of retries against storage that is down); tables ignore these two.
_CLIENT_OPTIONS.update({"initial_backoff": 0.5, "increment_base": 1.5, "random_jitter_range": 0.5})
# Connections kept open per host: one for every thread that may send at once (the host's 16 queue messages,
# 32 changeset senders, 8 inclusion readers). `requests` keeps 10, so under ingestion about one storage
# request in twelve opened a connection of its own and dropped it afterwards.
POOL_CONNECTIONS = 64
_READ_TIMEOUT = 300  # azure-core's default, which RequestsTransport applies


class StorageClients:
    """The storage clients, built once and lazily. `client_options` adds keywords to every client (a
    benchmark's request hook, a test's transport)."""

    def __init__(
        self,
        settings: StorageSettings,
        credential: TokenCredential | None = None,
        *,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._settings = settings
        self._credential = credential
        self._lock = threading.Lock()
        self._tables: dict[str, TableClient] = {}
        self._queues: dict[str, QueueClient] = {}
        self._containers: dict[str, ContainerClient] = {}
        self._client_options = dict(client_options or {})
        self._options = {**_CLIENT_OPTIONS, **self._client_options}

    def _with_transport(self, *, tables: bool = False) -> dict[str, Any]:
        """The client options, with a transport of this client's own unless the caller brought one. Tables get
        the lighter one (functions/adapters/table_transport.py) unless a proxy is configured."""
        if "transport" in self._client_options:
            return self._options
        if tables and not self._settings.trust_environment:
            light = TableTransport(
                pool_connections=POOL_CONNECTIONS,
                connection_timeout=_CLIENT_OPTIONS["connection_timeout"],
                read_timeout=_READ_TIMEOUT,
                ca_bundle=self._settings.ca_bundle,
            )
            return {**self._options, "transport": light}
        return {**self._options, "transport": self._transport()}

    def _transport(self) -> RequestsTransport:
        """What RequestsTransport would build itself, with a larger connection pool. Untrusted, the session
        reads neither proxies nor ~/.netrc (the SDK signs requests itself); a CA bundle the environment names
        is passed explicitly, so it holds without a per-request lookup."""
        session = requests.Session()
        session.trust_env = self._settings.trust_environment
        adapter = BiggerBlockSizeHTTPAdapter(
            max_retries=Retry(total=False, redirect=False, raise_on_status=False),  # the SDK's policy retries
            pool_maxsize=POOL_CONNECTIONS,
        )
        for prefix in ("http://", "https://"):
            session.mount(prefix, adapter)
        verify = {"connection_verify": self._settings.ca_bundle} if self._settings.ca_bundle else {}
        return RequestsTransport(
            session=session,
            use_env_settings=self._settings.trust_environment,
            connection_timeout=_CLIENT_OPTIONS["connection_timeout"],
            **verify,
        )

    @cached_property
    def shards(self) -> tuple[StorageClients, ...]:
        """Every account that holds the per-user tables: this one (shard 0), then `DATA_SHARDS` in order."""
        extra = (self._settings.shard(index) for index in range(1, len(self._settings.data_shards) + 1))
        return (
            self,
            *(
                StorageClients(
                    where,
                    self.credential if where.uses_identity else None,
                    client_options=self._client_options,
                )
                for where in extra
            ),
        )

    def shard_of(self, tenant_id: str, user_id: str) -> StorageClients:
        """The account that holds one user's rows of the per-user tables; a shard beyond this account is noted
        for the tenant (functions/adapters/shard_placements.py), so a purge knows where rows may be."""
        shards = self.shards
        index = shard_index(tenant_id, user_id, len(shards))
        if index:
            self._placements.note(tenant_id, shards[index].table_endpoint)
        return shards[index]

    @property
    def table_endpoint(self) -> str:
        return self._settings.table_endpoint

    @cached_property
    def _placements(self) -> ShardPlacements:
        return ShardPlacements(self.table(SHARDS_TABLE))

    @cached_property
    def credential(self) -> TokenCredential:
        if self._credential is None:
            from azure.identity import ManagedIdentityCredential  # noqa: PLC0415  (only Azure needs it)

            self._credential = ManagedIdentityCredential(client_id=self._settings.managed_identity_client_id)
        return self._credential

    @cached_property
    def table_service(self) -> TableServiceClient:
        s = self._settings
        if s.connection_string:
            return TableServiceClient.from_connection_string(
                s.connection_string, **self._with_transport(tables=True)
            )
        return TableServiceClient(
            str(s.table_service_uri), credential=self.credential, **self._with_transport(tables=True)
        )

    @cached_property
    def queue_service(self) -> QueueServiceClient:
        s = self._settings
        if s.connection_string:
            return QueueServiceClient.from_connection_string(s.connection_string, **self._with_transport())
        return QueueServiceClient(
            str(s.queue_service_uri), credential=self.credential, **self._with_transport()
        )

    @cached_property
    def blob_service(self) -> BlobServiceClient:
        s = self._settings
        if s.connection_string:
            return BlobServiceClient.from_connection_string(s.connection_string, **self._with_transport())
        return BlobServiceClient(
            str(s.blob_service_uri), credential=self.credential, **self._with_transport()
        )

    def table(self, name: str) -> TableClient:
        """The client of table `name`, created if it does not exist yet."""
        with self._lock:
            client = self._tables.get(name)
            if client is None:
                client = self.table_service.get_table_client(name)
                # ResourceExistsError: created concurrently by another instance.
                with translate_storage_errors(), contextlib.suppress(ResourceExistsError):
                    self.table_service.create_table_if_not_exists(name)
                self._tables[name] = client
            return client

    def queue(self, name: str) -> QueueClient:
        """The client of queue `name` (base64 messages, as the Functions host expects), created if needed."""
        with self._lock:
            client = self._queues.get(name)
            if client is None:
                client = self.queue_service.get_queue_client(
                    name,
                    message_encode_policy=TextBase64EncodePolicy(),
                    message_decode_policy=TextBase64DecodePolicy(),
                )
                with translate_storage_errors(), contextlib.suppress(ResourceExistsError):
                    client.create_queue()
                self._queues[name] = client
            return client

    def container(self, name: str) -> ContainerClient:
        with self._lock:
            client = self._containers.get(name)
            if client is None:
                client = self.blob_service.get_container_client(name)
                with translate_storage_errors(), contextlib.suppress(ResourceExistsError):
                    client.create_container()
                self._containers[name] = client
            return client

    def ping(self) -> dict[str, bool]:
        """Whether each storage service answers; used by `GET /api/health`."""
        results: dict[str, bool] = {}
        probes: dict[str, Callable[[], object]] = {
            "tables": lambda: next(iter(self.table_service.list_tables(results_per_page=1)), None),
            "queues": lambda: next(iter(self.queue_service.list_queues(results_per_page=1)), None),
            "blobs": lambda: next(iter(self.blob_service.list_containers(results_per_page=1)), None),
        }
        for index, shard in enumerate(self.shards[1:], start=1):
            probes[f"tables-shard{index}"] = functools.partial(_first_table, shard)
        for name, probe in probes.items():
            try:
                probe()
            except AzureError:
                results[name] = False
            else:
                results[name] = True
        return results


def shard_index(tenant_id: str, user_id: str, count: int) -> int:
    """Which of `count` shards holds a user's rows. A hash of the two IDs, so that every instance agrees
    without a lookup table and users spread evenly; it moves users when `count` changes (SPEC, Data
    shards)."""
    if count == 1:
        return 0
    digest = hashlib.sha256(f"{tenant_id.lower()}_{user_id.lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def _first_table(shard: StorageClients) -> object:
    return next(iter(shard.table_service.list_tables(results_per_page=1)), None)


class translate_storage_errors:  # noqa: N801  (used as a context manager, reads like one)
    """Turn Azure SDK exceptions into the app's `StorageError` family at the adapter boundary."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or not isinstance(exc, AzureError):
            return
        if isinstance(exc, ServiceRequestError):
            raise StorageUnavailable(f"storage did not answer: {exc.message}") from exc
        raise StorageError(f"storage failed: {type(exc).__name__}: {exc.message}") from exc


SHARDS_TABLE = "shards"  # on the app's own account: which shards hold rows of which tenant


class ShardPlacements:
    """Notes, once per process, that a tenant has rows on a shard (read by
    functions/adapters/shard_placements.py)."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self._lock = threading.Lock()
        self._noted: set[tuple[str, str]] = set()

    def note(self, tenant_id: str, endpoint: str) -> None:
        key = (tenant_id.lower(), endpoint)
        with self._lock:
            if key in self._noted:
                return
        with translate_storage_errors():
            self._table.upsert_entity(placement_row(*key))
        with self._lock:
            self._noted.add(key)


def placement_row(tenant_id: str, endpoint: str) -> dict[str, str]:
    # An endpoint holds "/", which a RowKey may not: the row is keyed by its hash and keeps the endpoint.
    row_key = hashlib.sha256(endpoint.encode()).hexdigest()[:32]
    return {"PartitionKey": tenant_id.lower(), "RowKey": row_key, "endpoint": endpoint}
