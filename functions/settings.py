"""Typed settings, read once from the environment.

In Azure these are app settings; locally the local host copies `Values` of `local.settings.json` into the
environment (the environment wins). Nothing below `functions/` reads `os.environ` except this module, and
rules never see settings: services receive the values they need.

`SETTING_NAMES` lists every variable read here; the Bicep tests check that `infra/` sets each of them.

Schedules are checked the way the Functions host reads them (functions/ncrontab.py): start-up stops, naming
the setting, on an expression the host would refuse or never fire, and on a `MAINTENANCE_SCHEDULE` whose runs
can be more than `MAINTENANCE_LONGEST_GAP` apart.

Secrets fail closed: start-up stops, naming the setting, when `CONTACT_HASH_KEY` has less than 32 bytes of
key material (an empty or short key makes the contact hashes guessable), or when any setting still holds an
unresolved Key Vault reference (`@Microsoft.KeyVault(...)` is what App Service passes on when its identity
cannot read the vault yet; used as text it would become the key or the webhook secret).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

from functions import ncrontab
from functions.domain.errors import ConfigurationError
from functions.domain.optouts import GroupOptOutPolicy

GraphAuth = Literal["managed-identity", "client-secret", "client-certificate", "static-token"]

DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_LEGACY_RELATIONSHIP_ANALYTICS_EXPIRES_AT = "2022-09-30T23:59:59Z"
DEFAULT_LEGACY_WHO_KNOWS_WHOM_EXPIRES_AT = "2022-07-30T23:59:59Z"

# Every setting the app reads. Storage is either a connection string (`AzureWebJobsStorage`, local) or the
# identity-based `AzureWebJobsStorage__*` family (Azure); the Bicep sets the latter.
SETTING_NAMES: tuple[str, ...] = (
    "AzureWebJobsStorage",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "DATA_SHARDS",
    "ADMIN_CENTER_WEBHOOK_SECRET",
    "AUTH_JWKS_URL",
    "AUTH_AUDIENCE",
    "AUTH_ISSUER",
    "GRAPH_BASE_URL",
    "GRAPH_AUTH",
    "GRAPH_CLIENT_ID",
    "GRAPH_CLIENT_SECRET",
    "GRAPH_CERTIFICATE_PATH",
    "GRAPH_STATIC_TOKEN",
    "CONTACT_HASH_KEY",
    "INGESTION_SCHEDULE",
    "MAINTENANCE_SCHEDULE",
    "BACKUP_SCHEDULE",
    "LEGACY_RELATIONSHIP_ANALYTICS_EXPIRES_AT",
    "LEGACY_WHO_KNOWS_WHOM_EXPIRES_AT",
    "GROUP_OPTOUT_EXISTING_DATA",
    "CONSOLE_CLIENT_ID",
    "CONSOLE_API_SCOPE",
    "CONSOLE_DEV_IDP_URL",
    "GRAPH_NOTIFICATIONS",
    "GRAPH_NOTIFICATION_URL",
    "SUBSCRIPTION_SCHEDULE",
    "GRAPH_SUBSCRIPTION_MINUTES",
    "GRAPH_SUBSCRIPTION_RENEW_MINUTES",
    "REFRESH_COALESCE_SECONDS",
)

# Settings used as `%NAME%` in trigger decorators; the local host resolves them as the Functions host does.
SCHEDULE_SETTINGS: tuple[str, ...] = (
    "INGESTION_SCHEDULE",
    "MAINTENANCE_SCHEDULE",
    "BACKUP_SCHEDULE",
    "SUBSCRIPTION_SCHEDULE",
)
# The maintenance timer re-drives stalled and poisoned purges, flags deadlines, asks Graph again for the
# subscriptions a purge could not remove (every 30 minutes) and records legacy expiries: runs further apart
# would leave a stalled purge, a deadline flag or an expiry unnoticed that much longer.
MAINTENANCE_LONGEST_GAP = timedelta(minutes=60)
MAINTENANCE_WHY = (
    "purge re-drives and poison re-queues, deadline flags, Graph subscription retries and legacy expiries "
    "wait for it"
)
# Outlook messages and events: Graph refuses a subscription that lives longer (minutes).
MAX_SUBSCRIPTION_MINUTES = 10_080

_Choice = TypeVar("_Choice", bound=str)

MIN_CONTACT_HASH_KEY_BYTES = 32
_KEY_VAULT_REFERENCE = "@microsoft.keyvault("
_LOOPBACK_URL = re.compile(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)")

_CA_BUNDLE_ORDER = ("requests_ca_bundle", "curl_ca_bundle")
_CA_BUNDLES = frozenset(_CA_BUNDLE_ORDER)


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """Where storage is: a connection string, or service URIs reached with a managed identity."""

    connection_string: str | None
    blob_service_uri: str | None
    queue_service_uri: str | None
    table_service_uri: str | None
    managed_identity_client_id: str | None
    # Whether the HTTP session honours the proxy variables (see `_Reader.configures_proxy`).
    trust_environment: bool = False
    # The CA bundle the environment names (`REQUESTS_CA_BUNDLE`, else `CURL_CA_BUNDLE`), read once here.
    ca_bundle: str | None = None
    # `DATA_SHARDS`: more storage accounts for the per-user tables, each a table service URI (reached with the
    # managed identity) or a connection string. The account above is always shard 0.
    data_shards: tuple[str, ...] = ()

    @property
    def uses_identity(self) -> bool:
        return self.connection_string is None

    @property
    def table_endpoint(self) -> str:
        """The table service this account is, the same however it is named (URI or connection string)."""
        return _table_endpoint(self.connection_string or str(self.table_service_uri))

    def shard(self, index: int) -> StorageSettings:
        """Where shard `index` is (0 is this account): only its table service is ever used."""
        if index == 0:
            return self
        where = self.data_shards[index - 1]
        uri = where if _is_uri(where) else None
        return StorageSettings(
            connection_string=None if uri else where,
            blob_service_uri=None,
            queue_service_uri=None,
            table_service_uri=uri,
            managed_identity_client_id=self.managed_identity_client_id,
            trust_environment=self.trust_environment,
            ca_bundle=self.ca_bundle,
        )


@dataclass(frozen=True, slots=True)
class Settings:
    storage: StorageSettings
    webhook_secrets: tuple[str, ...]
    auth_jwks_url: str
    auth_audience: str
    auth_issuer: str
    graph_base_url: str
    graph_auth: GraphAuth
    graph_client_id: str | None
    graph_client_secret: str | None
    graph_certificate_path: str | None
    graph_static_token: str | None
    contact_hash_key: bytes
    ingestion_schedule: str
    maintenance_schedule: str
    backup_schedule: str
    legacy_relationship_analytics_expires_at: datetime
    legacy_who_knows_whom_expires_at: datetime
    group_optout_existing_data: GroupOptOutPolicy
    # The console's sign-in: MSAL against the SPA registration in Azure, or the development identity provider
    # that `make serve` starts on loopback (devhost/identity_provider.py) when no AUTH_* setting is given.
    console_client_id: str = ""
    console_api_scope: str = ""
    console_dev_idp_url: str = ""
    # Graph change notifications (off unless turned on): subscriptions per included user, renewed by the
    # `SUBSCRIPTION_SCHEDULE` timer; a notification asks for one delta round of the user, coalesced.
    graph_notifications: bool = False
    graph_notification_url: str = ""  # the API's public base, e.g. https://<app host>/api
    subscription_schedule: str = "0 0 */6 * * *"
    subscription_minutes: int = 4_320
    subscription_renew_minutes: int = 1_440
    refresh_coalesce_seconds: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate every setting; a bad value raises `ConfigurationError` naming it."""
        reader = _Reader(env)
        for name in SETTING_NAMES:
            if reader.optional(name, "").lower().startswith(_KEY_VAULT_REFERENCE):
                raise ConfigurationError(
                    f"{name} is an unresolved Key Vault reference: grant the app's identity access to the "
                    "vault (or fix the reference) and restart"
                )
        storage = _storage(reader)
        contact_hash_key = reader.optional("CONTACT_HASH_KEY", "").encode("utf-8")
        if len(contact_hash_key) < MIN_CONTACT_HASH_KEY_BYTES:
            raise ConfigurationError(
                f"CONTACT_HASH_KEY must hold at least {MIN_CONTACT_HASH_KEY_BYTES} bytes of key material "
                f"(it has {len(contact_hash_key)}); generate one with `openssl rand -base64 48`"
            )
        settings = cls(
            storage=storage,
            webhook_secrets=tuple(reader.optional("ADMIN_CENTER_WEBHOOK_SECRET", "").split()),
            auth_jwks_url=reader.optional("AUTH_JWKS_URL", ""),
            auth_audience=reader.optional("AUTH_AUDIENCE", ""),
            auth_issuer=reader.optional("AUTH_ISSUER", ""),
            graph_base_url=reader.optional("GRAPH_BASE_URL", DEFAULT_GRAPH_BASE_URL).rstrip("/"),
            graph_auth=reader.choice(
                "GRAPH_AUTH",
                ("managed-identity", "client-secret", "client-certificate", "static-token"),
                "managed-identity",
            ),
            graph_client_id=reader.optional("GRAPH_CLIENT_ID", "") or None,
            graph_client_secret=reader.optional("GRAPH_CLIENT_SECRET", "") or None,
            graph_certificate_path=reader.optional("GRAPH_CERTIFICATE_PATH", "") or None,
            graph_static_token=reader.optional("GRAPH_STATIC_TOKEN", "") or None,
            contact_hash_key=contact_hash_key,
            ingestion_schedule=reader.schedule("INGESTION_SCHEDULE", "0 0 2 * * *"),
            maintenance_schedule=reader.schedule(
                "MAINTENANCE_SCHEDULE",
                "0 */15 * * * *",
                longest_gap=MAINTENANCE_LONGEST_GAP,
                why=MAINTENANCE_WHY,
            ),
            backup_schedule=reader.schedule("BACKUP_SCHEDULE", "0 30 3 * * *"),
            legacy_relationship_analytics_expires_at=reader.instant(
                "LEGACY_RELATIONSHIP_ANALYTICS_EXPIRES_AT", DEFAULT_LEGACY_RELATIONSHIP_ANALYTICS_EXPIRES_AT
            ),
            legacy_who_knows_whom_expires_at=reader.instant(
                "LEGACY_WHO_KNOWS_WHOM_EXPIRES_AT", DEFAULT_LEGACY_WHO_KNOWS_WHOM_EXPIRES_AT
            ),
            group_optout_existing_data=reader.choice(
                "GROUP_OPTOUT_EXISTING_DATA", ("purge", "retain"), "purge"
            ),
            console_client_id=reader.optional("CONSOLE_CLIENT_ID", ""),
            console_api_scope=reader.optional("CONSOLE_API_SCOPE", ""),
            console_dev_idp_url=reader.optional("CONSOLE_DEV_IDP_URL", "").rstrip("/"),
            graph_notifications=reader.choice("GRAPH_NOTIFICATIONS", ("on", "off"), "off") == "on",
            graph_notification_url=reader.optional("GRAPH_NOTIFICATION_URL", "").rstrip("/"),
            subscription_schedule=reader.schedule("SUBSCRIPTION_SCHEDULE", "0 0 */6 * * *"),
            subscription_minutes=reader.whole(
                "GRAPH_SUBSCRIPTION_MINUTES", 4_320, 1, MAX_SUBSCRIPTION_MINUTES
            ),
            subscription_renew_minutes=reader.whole(
                "GRAPH_SUBSCRIPTION_RENEW_MINUTES", 1_440, 1, MAX_SUBSCRIPTION_MINUTES
            ),
            refresh_coalesce_seconds=reader.whole("REFRESH_COALESCE_SECONDS", 10, 0, 600),
        )
        _check_notifications(settings)
        if settings.console_dev_idp_url and not _LOOPBACK_URL.match(settings.console_dev_idp_url):
            # The development identity provider signs anyone in with any role: loopback only, never deployed.
            raise ConfigurationError(
                "CONSOLE_DEV_IDP_URL is only allowed on loopback (127.0.0.1 or localhost)"
            )
        if settings.graph_auth == "static-token" and not _LOOPBACK_URL.match(settings.graph_base_url):
            # A static bearer token is a test convenience; never let it reach the real Graph.
            raise ConfigurationError(
                "GRAPH_AUTH=static-token is only allowed when GRAPH_BASE_URL is loopback"
            )
        return settings


def _check_notifications(settings: Settings) -> None:
    if settings.subscription_renew_minutes > settings.subscription_minutes:
        raise ConfigurationError(
            "GRAPH_SUBSCRIPTION_RENEW_MINUTES must not exceed GRAPH_SUBSCRIPTION_MINUTES "
            "(a subscription would be renewed every time the timer runs)"
        )
    if not settings.graph_notifications:
        return
    url = settings.graph_notification_url
    # Graph posts notifications to https only; plain http is for the simulator on loopback.
    if not (url.startswith("https://") or _LOOPBACK_URL.match(url)):
        raise ConfigurationError(
            "GRAPH_NOTIFICATIONS=on needs GRAPH_NOTIFICATION_URL: the API's public https base (e.g. "
            f"https://<app>.azurewebsites.net/api); got {url!r}"
        )


def storage_settings(env: Mapping[str, str]) -> StorageSettings:
    """Where storage is, alone: for tools that touch storage and nothing else (the demo, benchmarks)."""
    return _storage(_Reader(env))


def _storage(reader: _Reader) -> StorageSettings:
    connection_string = reader.optional("AzureWebJobsStorage", "") or None
    settings = StorageSettings(
        connection_string=connection_string,
        blob_service_uri=reader.optional("AzureWebJobsStorage__blobServiceUri", "") or None,
        queue_service_uri=reader.optional("AzureWebJobsStorage__queueServiceUri", "") or None,
        table_service_uri=reader.optional("AzureWebJobsStorage__tableServiceUri", "") or None,
        managed_identity_client_id=reader.optional("AzureWebJobsStorage__clientId", "") or None,
        trust_environment=reader.configures_proxy(),
        ca_bundle=reader.ca_bundle(),
        data_shards=_data_shards(reader.optional("DATA_SHARDS", "")),
    )
    if settings.uses_identity and not (
        settings.blob_service_uri and settings.queue_service_uri and settings.table_service_uri
    ):
        raise ConfigurationError(
            "storage is not configured: set AzureWebJobsStorage (a connection string) or "
            "AzureWebJobsStorage__blobServiceUri, __queueServiceUri and __tableServiceUri"
        )
    own = settings.table_endpoint
    if own in {_table_endpoint(shard) for shard in settings.data_shards}:
        raise ConfigurationError("DATA_SHARDS names the app's own storage account, which is shard 0 already")
    return settings


def _data_shards(value: str) -> tuple[str, ...]:
    """The extra shards, comma-separated. An account named twice would hold a user's rows under two shard
    numbers at once, so the list must name distinct accounts (the app's own account is shard 0 already)."""
    shards = tuple(item.strip() for item in value.split(",") if item.strip())
    for shard in shards:
        if _is_uri(shard):
            if not (shard.startswith("https://") or _LOOPBACK_URL.match(shard)):
                raise ConfigurationError("DATA_SHARDS: a table service URI must be https (or loopback http)")
        elif "accountname=" not in shard.lower():
            raise ConfigurationError(
                "DATA_SHARDS: each shard is a table service URI (https://<account>.table.core.windows.net) "
                "or a connection string naming an AccountName; one item is neither"
            )
    endpoints = [_table_endpoint(shard) for shard in shards]
    if len(set(endpoints)) != len(endpoints):
        raise ConfigurationError("DATA_SHARDS names the same storage account more than once")
    return shards


def _is_uri(shard: str) -> bool:
    return shard.lower().startswith(("https://", "http://"))


def _table_endpoint(shard: str) -> str:
    """The table endpoint a shard names, comparable across the two ways of naming one."""
    if _is_uri(shard):
        return shard.rstrip("/").lower()
    fields = dict(
        field.split("=", 1) for field in shard.split(";") if "=" in field
    )  # values (keys, SAS) may hold "=" themselves, hence maxsplit 1
    fields = {name.strip().lower(): value.strip() for name, value in fields.items()}
    if "tableendpoint" in fields:
        return fields["tableendpoint"].rstrip("/").lower()
    suffix = fields.get("endpointsuffix", "core.windows.net")
    return f"https://{fields.get('accountname', '').lower()}.table.{suffix.lower()}"


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def optional(self, name: str, default: str) -> str:
        return self._env.get(name, default).strip()

    def configures_proxy(self) -> bool:
        """Whether a proxy (any `*_proxy`, or `no_proxy`) is set. An HTTP session that trusts the environment
        re-reads all of it twice per request, measured at about a fifth of a storage request's Python CPU; so
        it is trusted only when there is a proxy to honour (with its `no_proxy` exceptions, which only the
        session applies), and a deployment behind a proxy behaves exactly as the SDK's default."""
        return any(name.lower().endswith("_proxy") for name in self._env)

    def ca_bundle(self) -> str | None:
        """The CA bundle the environment names, in the order `requests` looks: handed to the clients once as
        `connection_verify` instead of being looked up again on every request."""
        by_name = {name.lower(): value for name, value in self._env.items() if name.lower() in _CA_BUNDLES}
        return next((by_name[name] for name in _CA_BUNDLE_ORDER if by_name.get(name)), None)

    def choice(self, name: str, allowed: tuple[_Choice, ...], default: _Choice) -> _Choice:
        value = self.optional(name, default)
        for option in allowed:
            if value == option:
                return option
        raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")

    def schedule(
        self, name: str, default: str, *, longest_gap: timedelta | None = None, why: str = ""
    ) -> str:
        """An NCRONTAB expression the Functions host accepts and fires within four years
        (functions/ncrontab.py); with `longest_gap`, one whose runs are never further apart than that (`why`
        says what waits for them)."""
        value = self.optional(name, default)
        try:
            schedule = ncrontab.check(value)
        except ncrontab.NeverFires:
            raise ConfigurationError(
                f"{name} never fires in the next four years, so its timer would never run: {value!r}"
            ) from None
        except ncrontab.ScheduleError as error:
            raise ConfigurationError(
                f"{name} is not a six-field NCRONTAB expression the Functions host accepts ({error}): "
                f"{value!r}"
            ) from None
        if longest_gap is not None:
            gap = schedule.longest_gap()
            if gap is None or gap > longest_gap:
                apart = "a day or more" if gap is None else f"{gap.total_seconds() / 60:g} minutes"
                raise ConfigurationError(
                    f"{name} must run at least every {longest_gap.total_seconds() / 60:g} minutes ({why}); "
                    f"its runs can be {apart} apart: {value!r}"
                )
        return value

    def whole(self, name: str, default: int, low: int, high: int) -> int:
        value = self.optional(name, str(default))
        if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
            raise ConfigurationError(f"{name} must be a whole number from {low} to {high}; got {value!r}")
        return int(value)

    def instant(self, name: str, default: str) -> datetime:
        value = self.optional(name, default)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ConfigurationError(f"{name} is not an ISO 8601 instant: {value!r}") from None
        if parsed.tzinfo is None:
            raise ConfigurationError(f"{name} must carry a time zone (e.g. Z): {value!r}")
        return parsed.astimezone(UTC)
