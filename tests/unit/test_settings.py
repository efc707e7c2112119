"""Settings: defaults, and every bad value refused with a `ConfigurationError` naming the setting."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from devhost.azurite import ROOT
from functions.domain.errors import ConfigurationError
from functions.settings import SCHEDULE_SETTINGS, SETTING_NAMES, Settings
from tests.conftest import base_env

CONNECTION = "UseDevelopmentStorage=true"
KEY = {"CONTACT_HASH_KEY": "k" * 32}


def settings_with(**overrides: str) -> Settings:
    return Settings.from_env(base_env(CONNECTION, **overrides))


def test_defaults_apply_when_optional_settings_are_absent() -> None:
    settings = Settings.from_env({"AzureWebJobsStorage": CONNECTION} | KEY)
    assert settings.graph_base_url == "https://graph.microsoft.com/v1.0"
    assert settings.graph_auth == "managed-identity"
    assert settings.group_optout_existing_data == "purge"
    assert (settings.ingestion_schedule, settings.maintenance_schedule, settings.backup_schedule) == (
        "0 0 2 * * *",
        "0 */15 * * * *",
        "0 30 3 * * *",
    )
    assert settings.legacy_relationship_analytics_expires_at == datetime(2022, 9, 30, 23, 59, 59, tzinfo=UTC)
    assert settings.legacy_who_knows_whom_expires_at == datetime(2022, 7, 30, 23, 59, 59, tzinfo=UTC)
    assert settings.webhook_secrets == ()


def test_several_webhook_secrets_separated_by_spaces_are_all_kept_for_rotation() -> None:
    assert settings_with(ADMIN_CENTER_WEBHOOK_SECRET="whsec_a  whsec_b").webhook_secrets == (
        "whsec_a",
        "whsec_b",
    )


def test_a_trailing_slash_on_the_graph_url_is_dropped() -> None:
    assert (
        settings_with(GRAPH_BASE_URL="http://127.0.0.1:8080/v1.0/").graph_base_url
        == "http://127.0.0.1:8080/v1.0"
    )


def test_an_instant_with_an_offset_is_converted_to_utc() -> None:
    settings = settings_with(LEGACY_WHO_KNOWS_WHOM_EXPIRES_AT="2022-07-31T01:59:59+02:00")
    assert settings.legacy_who_knows_whom_expires_at == datetime(2022, 7, 30, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize("name", SCHEDULE_SETTINGS)
@pytest.mark.parametrize("value", ["0 0 2 * *", "0 0 25 * * *", "nightly", "0 0 2 * * * *"])
def test_a_bad_ncrontab_is_refused_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        settings_with(**{name: value})


# Cron dialects accept these; the Functions host's NCRONTAB parser does not (or reads them otherwise), and a
# timer the host never runs is a maintenance step that silently never happens.
NOT_NCRONTAB = {
    "last-day": "0 0 0 L * *",
    "weekday-nearest": "0 0 0 15W * *",
    "nth-weekday": "0 0 0 * * 1#2",
    "last-weekday": "0 0 0 * * 5L",
    "question-mark": "0 0 0 ? * *",
    "sunday-as-7": "0 0 0 * * 7",
    "step-0": "0 */0 * * * *",
    "reversed-range": "0 0 0 * * 5-1",
    "empty-list-item": "0 0,,30 * * * *",
    "name-in-a-numeric-field": "0 0 Mon * * *",
    "ambiguous-name-prefix": "0 0 0 * Ju *",
    "tab-separated": "0\t0 2 * * *",
}


@pytest.mark.parametrize("name", SCHEDULE_SETTINGS)
@pytest.mark.parametrize("value", NOT_NCRONTAB.values(), ids=NOT_NCRONTAB.keys())
def test_cron_syntax_the_functions_host_does_not_accept_is_refused_naming_the_setting(
    name: str, value: str
) -> None:
    with pytest.raises(ConfigurationError, match=f"{name} is not a six-field NCRONTAB"):
        settings_with(**{name: value})


@pytest.mark.parametrize("name", SCHEDULE_SETTINGS)
@pytest.mark.parametrize(
    "value", ["0 0 2 30 2 *", "0 0 0 31 4,6,9,11 *"], ids=["feb-30", "31-in-30-day-months"]
)
def test_a_schedule_that_never_fires_is_refused_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{name} never fires"):
        settings_with(**{name: value})


@pytest.mark.parametrize(
    "value",
    ["0 0 */2 * * *", "0 0,30 0-22 * * *", "0 */15 * * * 1-5", "0 */15 * 1-28 * *", "0 */15 * * 1-11 *"],
    ids=[
        "every-2-hours",
        "a-90-minute-gap-at-night",
        "weekdays-only",
        "not-on-day-29-to-31",
        "not-in-december",
    ],
)
def test_a_maintenance_schedule_with_runs_more_than_an_hour_apart_is_refused(value: str) -> None:
    """Purge re-drives, deadline flags, Graph subscription retries and poison re-queues wait for it."""
    with pytest.raises(ConfigurationError, match="MAINTENANCE_SCHEDULE must run at least every 60 minutes"):
        settings_with(MAINTENANCE_SCHEDULE=value)


@pytest.mark.parametrize("value", ["0 0 * * * *", "0 */15 * * * *", "30 5/20 * * * *", "0 0,30,59 * * * *"])
def test_a_maintenance_schedule_at_most_an_hour_apart_is_accepted(value: str) -> None:
    assert settings_with(MAINTENANCE_SCHEDULE=value).maintenance_schedule == value


@pytest.mark.parametrize(
    "value",
    [
        "0 0 2 * * *",
        "*/10 * * * * Mon-Fri",
        "0 30 9 * Jan Mon",
        "0 0 0 * January,jul Sunday",
        "0 0 0 13 * 5",  # Friday the 13th: day AND day-of-week, as the host reads it
        "0 0 0 29 2 *",  # leap days only
        "0 5/15 1-3,22 * * *",
        "00 00 02  *  *  *",
    ],
)
def test_ncrontab_the_functions_host_accepts_is_accepted_for_a_daily_timer(value: str) -> None:
    assert settings_with(INGESTION_SCHEDULE=value).ingestion_schedule == value


def repo_schedules() -> dict[str, str]:
    """Every schedule the repo sets: the Bicep defaults, local.settings.example.json, the tests, the demo."""
    found: dict[str, str] = {}
    bicep = (ROOT / "infra" / "main.bicep").read_text(encoding="utf-8")
    for param, value in re.findall(r"^param (\w+Schedule) string = '([^']*)'", bicep, re.MULTILINE):
        found[f"infra/main.bicep {param}"] = value
    example = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))["Values"]
    tests = base_env(CONNECTION)
    demo = (ROOT / "demo" / "framework.py").read_text(encoding="utf-8")
    for name in SCHEDULE_SETTINGS:
        found[f"local.settings.example.json {name}"] = example[name]
        found[f"tests {name}"] = tests[name]
        [found[f"demo {name}"]] = re.findall(rf'"{name}": "([^"]*)"', demo)
    return found


def test_every_schedule_the_repo_ships_is_accepted_for_its_setting() -> None:
    schedules = repo_schedules()
    assert len(schedules) == 4 * len(SCHEDULE_SETTINGS)
    for where, value in schedules.items():
        name = next(n for n in SCHEDULE_SETTINGS if n.split("_")[0].lower() in where.lower())
        settings_with(**{name: value})  # raises, naming the setting, if refused


@pytest.mark.parametrize(
    "name", ["LEGACY_RELATIONSHIP_ANALYTICS_EXPIRES_AT", "LEGACY_WHO_KNOWS_WHOM_EXPIRES_AT"]
)
@pytest.mark.parametrize("value", ["2022-09-30T23:59:59", "30/09/2022", "soon"])
def test_an_instant_without_a_zone_or_not_iso_is_refused_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        settings_with(**{name: value})


@pytest.mark.parametrize(
    ("name", "value"), [("GROUP_OPTOUT_EXISTING_DATA", "delete"), ("GRAPH_AUTH", "password")]
)
def test_a_value_outside_the_choices_is_refused_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        settings_with(**{name: value})


@pytest.mark.parametrize(
    "url",
    ["https://graph.microsoft.com/v1.0", "http://graph.example:8080/v1.0", "http://127.0.0.1.evil.example/"],
)
def test_a_static_token_is_refused_for_a_graph_url_that_is_not_loopback(url: str) -> None:
    with pytest.raises(ConfigurationError, match="GRAPH_BASE_URL"):
        settings_with(GRAPH_AUTH="static-token", GRAPH_BASE_URL=url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8089/v1.0", "http://localhost/v1.0"])
def test_a_static_token_is_accepted_for_a_loopback_graph_url(url: str) -> None:
    assert settings_with(GRAPH_AUTH="static-token", GRAPH_BASE_URL=url).graph_auth == "static-token"


def test_missing_storage_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="AzureWebJobsStorage"):
        Settings.from_env({})


def test_identity_based_storage_needs_all_three_service_uris() -> None:
    env = {
        "AzureWebJobsStorage__blobServiceUri": "https://acct.blob.core.windows.net",
        "AzureWebJobsStorage__queueServiceUri": "https://acct.queue.core.windows.net",
    }
    with pytest.raises(ConfigurationError, match="tableServiceUri"):
        Settings.from_env(env)


def test_identity_based_storage_is_used_when_there_is_no_connection_string() -> None:
    env = {
        f"AzureWebJobsStorage__{kind}ServiceUri": f"https://acct.{kind}.core.windows.net"
        for kind in ("blob", "queue", "table")
    }
    settings = Settings.from_env(env | KEY | {"AzureWebJobsStorage__clientId": "client-1"})
    assert settings.storage.uses_identity
    assert settings.storage.managed_identity_client_id == "client-1"


def test_every_schedule_setting_is_a_listed_setting() -> None:
    assert set(SCHEDULE_SETTINGS) <= set(SETTING_NAMES)


# --- secrets fail closed ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "short", "x" * 31], ids=["empty", "five-bytes", "31-bytes"])
def test_a_contact_hash_key_under_32_bytes_stops_start_up_naming_the_setting(key: str) -> None:
    with pytest.raises(ConfigurationError, match="CONTACT_HASH_KEY must hold at least 32 bytes"):
        settings_with(CONTACT_HASH_KEY=key)


def test_a_contact_hash_key_of_32_bytes_is_accepted() -> None:
    assert settings_with(CONTACT_HASH_KEY="x" * 32).contact_hash_key == b"x" * 32


@pytest.mark.parametrize(
    "name", ["CONTACT_HASH_KEY", "ADMIN_CENTER_WEBHOOK_SECRET", "GRAPH_CLIENT_SECRET", "AzureWebJobsStorage"]
)
def test_an_unresolved_key_vault_reference_in_any_setting_stops_start_up_naming_it(name: str) -> None:
    reference = "@Microsoft.KeyVault(SecretUri=https://vault.vault.azure.net/secrets/x/)"
    with pytest.raises(ConfigurationError, match=f"{name} is an unresolved Key Vault reference"):
        settings_with(**{name: reference})


def test_a_key_vault_reference_is_recognised_whatever_its_case_and_leading_space() -> None:
    with pytest.raises(ConfigurationError, match="unresolved Key Vault reference"):
        settings_with(ADMIN_CENTER_WEBHOOK_SECRET="  @microsoft.keyvault(VaultName=v;SecretName=s)")
