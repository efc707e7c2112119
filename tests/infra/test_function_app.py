"""The Function App: Flex Consumption, Python 3.11, a managed identity, app settings in step with the code.

"In step" is checked both ways against `functions.settings.SETTING_NAMES` (imported, never copied), so a
setting added to the code fails here until the Bicep sets it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from functions.settings import MAX_SUBSCRIPTION_MINUTES, SETTING_NAMES, Settings
from tests.infra.bicep import MAIN, Resource, decorator, one, parse, resolve, resources, variable

pytestmark = pytest.mark.infra

SITE = "Microsoft.Web/sites"

# Settings the code reads that the Bicep deliberately leaves unset in Azure, and why.
NOT_SET_IN_AZURE = {
    # The connection-string form: local only. Shared keys are off on the account, so Azure uses the
    # identity-based AzureWebJobsStorage__* family instead.
    "AzureWebJobsStorage",
    # A bearer token for the loopback Graph simulator; the settings module refuses it for any other URL.
    "GRAPH_STATIC_TOKEN",
    # client-certificate auth needs a certificate file on the instance; Flex Consumption cannot load
    # certificates, so the template offers managed-identity (federated credential) or client-secret.
    "GRAPH_CERTIFICATE_PATH",
    # The development identity provider signs anyone in with any role: `make serve` only, and the settings
    # module refuses it off loopback.
    "CONSOLE_DEV_IDP_URL",
}
# Settings the Bicep sets that the Functions host reads, not our code.
READ_BY_THE_PLATFORM = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "MALLOC_ARENA_MAX",  # glibc's, read when the worker process starts
}
KEY_VAULT_REFERENCE = "@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName="
# siteConfig properties that have no place on a Flex Consumption site: ARM answers BadRequest ("... for Flex
# Consumption sites is invalid") for ftpsState, and the runtime and scale settings moved to functionAppConfig.
# Azure's own Flex samples send none of them.
NOT_ON_FLEX_CONSUMPTION = {
    "ftpsState",
    "linuxFxVersion",
    "windowsFxVersion",
    "netFrameworkVersion",
    "javaVersion",
    "powerShellVersion",
    "pythonVersion",
    "use32BitWorkerProcess",
    "functionAppScaleLimit",
    "minimumElasticInstanceCount",
    "preWarmedInstanceCount",
}


def test_runs_on_a_flex_consumption_plan() -> None:
    plan = one("Microsoft.Web/serverfarms")
    assert plan.body["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    assert plan.properties["reserved"] is True  # Linux
    assert one(SITE).body["properties"]["serverFarmId"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "plan", "operand_2": "id"}}
    }


def test_runs_python_3_11() -> None:
    assert one(SITE).properties["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert one(SITE).body["kind"] == "functionapp,linux"


def test_runs_as_the_user_assigned_identity_only() -> None:
    identity = one(SITE).body["identity"]
    assert identity["type"] == "UserAssigned"
    assert list(identity["userAssignedIdentities"]) == ["'${identityId}'"]


def test_key_vault_references_resolve_with_the_user_assigned_identity() -> None:
    assert one(SITE).properties["keyVaultReferenceIdentity"] == "identityId"


def test_https_only_with_tls_1_2() -> None:
    site = one(SITE).properties
    assert site["httpsOnly"] is True
    assert site["siteConfig"]["minTlsVersion"] == "1.2"
    assert site["siteConfig"]["scmMinTlsVersion"] == "1.2"


def test_site_config_sends_nothing_flex_consumption_rejects() -> None:
    assert not NOT_ON_FLEX_CONSUMPTION & set(one(SITE).properties["siteConfig"])


def test_basic_auth_publishing_is_off_on_the_one_endpoint_flex_consumption_has() -> None:
    # Flex has no FTP endpoint, so `scm` is the only policy; deployment goes through Entra ID.
    policies = {
        p.body["name"]: p.properties["allow"] for p in _site_resources("basicPublishingCredentialsPolicies")
    }
    assert policies == {"scm": False}


def test_instance_memory_offers_only_the_sizes_every_sites_api_version_accepts() -> None:
    assert decorator(_site_file(), "instanceMemoryMB", "allowed") == [2048, 4096]
    assert one(SITE).properties["functionAppConfig"]["scaleAndConcurrency"]["instanceMemoryMB"] == (
        "instanceMemoryMB"
    )


def test_app_settings_are_the_settings_variable_in_one_appsettings_config_resource() -> None:
    # Every setting is in one object so the tests below see them all. A `config` child applies it (one PUT of
    # the whole set) because GRAPH_NOTIFICATION_URL needs the site's own default host name, which
    # siteConfig.appSettings, inside the site's own properties, cannot refer to.
    (config,) = _site_resources("config")
    assert config.body["parent"] == one(SITE).symbol
    assert config.body["name"] == "appsettings"
    assert config.body["properties"] == "appSettings"
    assert config.condition is None
    assert config.loop is None
    assert "appSettings" not in one(SITE).properties["siteConfig"], "app settings must be set in one place"


def test_every_setting_the_code_reads_is_set_except_the_local_only_ones() -> None:
    missing = set(SETTING_NAMES) - NOT_SET_IN_AZURE - set(_app_settings())
    assert not missing, f"settings read by functions/settings.py that the Bicep does not set: {missing}"


def test_every_setting_the_bicep_sets_is_read_by_the_code_or_the_platform() -> None:
    unknown = set(_app_settings()) - set(SETTING_NAMES) - READ_BY_THE_PLATFORM
    assert not unknown, f"settings the Bicep sets that nothing reads: {unknown}"


def test_local_only_settings_are_not_set_in_azure() -> None:
    assert not NOT_SET_IN_AZURE & set(_app_settings())
    assert set(SETTING_NAMES) >= NOT_SET_IN_AZURE, (
        "an exception above names a setting the code no longer reads"
    )


def test_flex_runtime_settings_are_not_app_settings() -> None:
    assert not {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"} & set(_app_settings())


def test_storage_is_reached_with_the_managed_identity() -> None:
    settings = _app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    for service in ("blob", "queue", "table"):
        assert settings[f"AzureWebJobsStorage__{service}ServiceUri"] == f"storage{service.title()}Endpoint"


def test_secrets_are_key_vault_references() -> None:
    settings = _app_settings()
    assert _file_var("keyVaultReference") == KEY_VAULT_REFERENCE
    assert settings["ADMIN_CENTER_WEBHOOK_SECRET"] == "${keyVaultReference}${webhookSecretName})"
    assert settings["CONTACT_HASH_KEY"] == "${keyVaultReference}${contactHashKeySecretName})"


def test_graph_client_secret_setting_is_a_key_vault_reference_only_when_given_a_secret_name() -> None:
    # Without a stored secret the setting is empty, never a reference to a secret that does not exist.
    assert _app_settings()["GRAPH_CLIENT_SECRET"] == {
        "operator": {
            "type": "conditional",
            "operands": {
                "condition": {
                    "function": {"type": "empty", "parameters": {"item_to_test": "graphClientSecretName"}}
                },
                "true_value": "",
                "false_value": "${keyVaultReference}${graphClientSecretName})",
            },
        }
    }


def test_main_names_the_graph_client_secret_exactly_when_the_vault_stores_it() -> None:
    # One condition, `storeGraphClientSecret`, decides both what the vault stores and what the app refers to.
    params = parse(MAIN)["modules"]
    assert params["functionApp"]["config"]["params"]["graphClientSecretName"] == _when_stored(
        {
            "operator": {
                "type": "property_accessor",
                "operands": {
                    "operand_1": "keyVault",
                    "operand_2": {
                        "operator": {
                            "type": "property_accessor",
                            "operands": {"operand_1": "outputs", "operand_2": "graphClientSecretName"},
                        }
                    },
                },
            }
        }
    )
    assert params["keyVault"]["config"]["params"]["graphClientSecret"] == _when_stored("graphClientSecret")
    assert resolve(MAIN, "storeGraphClientSecret") == {
        "operator": {
            "type": "and",
            "operands": {
                "operand_1": {
                    "operator": {
                        "type": "equals",
                        "operands": {"operand_1": "graphAuth", "operand_2": "client-secret"},
                    }
                },
                "operand_2": {
                    "operator": {
                        "type": "not",
                        "operands": {
                            "bool_value": {
                                "function": {
                                    "type": "empty",
                                    "parameters": {"item_to_test": "graphClientSecret"},
                                }
                            }
                        },
                    }
                },
            },
        }
    }


def _when_stored(value: Any) -> dict[str, Any]:
    return {
        "operator": {
            "type": "conditional",
            "operands": {"condition": "storeGraphClientSecret", "true_value": value, "false_value": ""},
        }
    }


def test_graph_auth_choices_are_ones_the_settings_module_accepts_for_the_real_graph() -> None:
    choices = decorator(MAIN, "graphAuth", "allowed")
    assert set(choices) == {"managed-identity", "client-secret"}
    for choice in choices:
        assert Settings.from_env({**_local_storage(), "GRAPH_AUTH": choice}).graph_auth == choice


def test_graph_notification_url_is_derived_from_the_sites_default_host_name_over_https() -> None:
    # Not a parameter: Graph must reach the app where it really is (a Flex Consumption app may have a unique
    # default host name), and the routes are under /api.
    assert _app_settings()["GRAPH_NOTIFICATION_URL"] == "graphNotificationUrl"
    url = _file_var("graphNotificationUrl")
    assert url == f"https://${{{one(SITE).symbol}.properties.defaultHostName}}/api"
    assert url.startswith("https://")
    assert url.endswith("/api")
    assert "GRAPH_NOTIFICATION_URL" not in {p.upper() for p in parse(MAIN)["parameters"]}
    assert "graphNotificationUrl" not in parse(_site_file())["parameters"]


def test_the_derived_notification_url_is_one_the_settings_module_accepts_with_notifications_on() -> None:
    url = _file_var("graphNotificationUrl").replace(
        f"${{{one(SITE).symbol}.properties.defaultHostName}}", "func-abc.azurewebsites.net"
    )
    settings = Settings.from_env(
        {**_local_storage(), "GRAPH_NOTIFICATIONS": "on", "GRAPH_NOTIFICATION_URL": url}
    )
    assert settings.graph_notifications is True
    assert settings.graph_notification_url == "https://func-abc.azurewebsites.net/api"


def test_the_notification_url_is_an_output_of_the_module_and_of_main() -> None:
    module_output = parse(_site_file())["outputs"]["graphNotificationUrl"]
    assert module_output["type"] == "string"
    assert module_output["value"] == "graphNotificationUrl"
    main_output = parse(MAIN)["outputs"]["GRAPH_NOTIFICATION_URL"]
    assert main_output["type"] == "string"
    assert main_output["value"] == _module_output("functionApp", "graphNotificationUrl")


def test_notifications_are_off_unless_turned_on() -> None:
    assert decorator(MAIN, "graphNotifications", "allowed") == ["on", "off"]
    assert resolve(MAIN, "graphNotifications") == "off"
    assert decorator(_site_file(), "graphNotifications", "allowed") == ["on", "off"]
    assert _app_settings()["GRAPH_NOTIFICATIONS"] == "graphNotifications"
    assert _passed("graphNotifications") == "graphNotifications"
    assert Settings.from_env({**_local_storage(), "GRAPH_NOTIFICATIONS": "off"}).graph_notifications is False


def test_a_subscription_cannot_outlive_what_graph_allows_for_outlook_messages_and_events() -> None:
    assert MAX_SUBSCRIPTION_MINUTES == 10_080
    for path in (MAIN, _site_file()):
        for parameter in ("graphSubscriptionMinutes", "graphSubscriptionRenewMinutes"):
            assert decorator(path, parameter, "min_value") == 1, (path.name, parameter)
            assert decorator(path, parameter, "max_value") == MAX_SUBSCRIPTION_MINUTES, (path.name, parameter)
    # The renewal threshold must not exceed the lifetime (start-up refuses it); the defaults keep to that.
    assert resolve(MAIN, "graphSubscriptionRenewMinutes") <= resolve(MAIN, "graphSubscriptionMinutes")


def test_refresh_coalescing_is_bounded_as_the_code_bounds_it() -> None:
    for path in (MAIN, _site_file()):
        assert decorator(path, "refreshCoalesceSeconds", "min_value") == 0, path.name
        assert decorator(path, "refreshCoalesceSeconds", "max_value") == 600, path.name
    for edge in ("0", "600"):
        assert Settings.from_env({**_local_storage(), "REFRESH_COALESCE_SECONDS": edge})


@pytest.mark.parametrize(
    ("setting", "parameter"),
    [
        ("GRAPH_SUBSCRIPTION_MINUTES", "graphSubscriptionMinutes"),
        ("GRAPH_SUBSCRIPTION_RENEW_MINUTES", "graphSubscriptionRenewMinutes"),
        ("REFRESH_COALESCE_SECONDS", "refreshCoalesceSeconds"),
    ],
)
def test_whole_number_settings_are_sent_as_strings_from_main_parameters(setting: str, parameter: str) -> None:
    assert _app_settings()[setting] == {
        "function": {"type": "string", "parameters": {"value_to_convert": parameter}}
    }
    assert _passed(parameter) == parameter


def test_the_subscription_timer_schedule_is_always_set() -> None:
    # The timer trigger reads %SUBSCRIPTION_SCHEDULE%: without the setting the host does not start at all,
    # so it is set whether notifications are on or off.
    assert _app_settings()["SUBSCRIPTION_SCHEDULE"] == "subscriptionSchedule"
    assert _passed("subscriptionSchedule") == "subscriptionSchedule"


def test_telemetry_is_sent_with_the_managed_identity() -> None:
    settings = _app_settings()
    assert (
        settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
        == "ClientId=${identityClientId};Authorization=AAD"
    )
    assert settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "applicationInsightsConnectionString"


def test_main_bicep_defaults_are_the_code_defaults() -> None:
    code = Settings.from_env(_local_storage())
    defaults = {name: resolve(MAIN, name) for name in parse(MAIN)["parameters"]}
    assert defaults["graphAuth"] == code.graph_auth
    assert defaults["graphBaseUrl"] == code.graph_base_url
    assert defaults["ingestionSchedule"] == code.ingestion_schedule
    assert defaults["maintenanceSchedule"] == code.maintenance_schedule
    assert defaults["backupSchedule"] == code.backup_schedule
    assert defaults["groupOptOutExistingData"] == code.group_optout_existing_data
    assert (defaults["graphNotifications"] == "on") == code.graph_notifications
    assert defaults["subscriptionSchedule"] == code.subscription_schedule
    assert defaults["graphSubscriptionMinutes"] == code.subscription_minutes
    assert defaults["graphSubscriptionRenewMinutes"] == code.subscription_renew_minutes
    assert defaults["refreshCoalesceSeconds"] == code.refresh_coalesce_seconds
    assert (
        Settings.from_env(
            {
                **_local_storage(),
                "LEGACY_RELATIONSHIP_ANALYTICS_EXPIRES_AT": defaults["legacyRelationshipAnalyticsExpiresAt"],
                "LEGACY_WHO_KNOWS_WHOM_EXPIRES_AT": defaults["legacyWhoKnowsWhomExpiresAt"],
            }
        )
        == code
    )


def test_token_issuer_is_per_tenant_and_keys_come_from_the_common_endpoint() -> None:
    params = parse(MAIN)["modules"]["functionApp"]["config"]["params"]
    assert params["authIssuer"] == "${authorityHost}/{tenantId}/v2.0"
    assert params["authJwksUrl"] == "${authorityHost}/common/discovery/v2.0/keys"


def test_main_passes_every_parameter_the_function_app_module_requires() -> None:
    module = parse(_site_file())
    required = {name for name, p in module["parameters"].items() if p["default"] is None}
    passed = set(parse(MAIN)["modules"]["functionApp"]["config"]["params"])
    assert required <= passed
    assert passed <= set(module["parameters"])


def _passed(parameter: str) -> Any:
    """What main.bicep passes the function app module for one of its parameters."""
    return parse(MAIN)["modules"]["functionApp"]["config"]["params"][parameter]


def _module_output(module: str, output: str) -> dict[str, Any]:
    """pycep's form of `<module>.outputs.<output>`."""
    return {
        "operator": {
            "type": "property_accessor",
            "operands": {
                "operand_1": module,
                "operand_2": {
                    "operator": {
                        "type": "property_accessor",
                        "operands": {"operand_1": "outputs", "operand_2": output},
                    }
                },
            },
        }
    }


def _site_file() -> Path:
    return one(SITE).file


def _file_var(name: str) -> Any:
    return variable(_site_file(), name)


def _app_settings() -> dict[str, Any]:
    settings: dict[str, Any] = _file_var("appSettings")
    return settings


def _site_resources(child: str) -> list[Resource]:
    return resources(f"{SITE}/{child}")


def _local_storage() -> dict[str, str]:
    """The least a local app needs: storage, and a contact hash key (start-up refuses a short one)."""
    return {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "CONTACT_HASH_KEY": "k" * 32}


def test_the_worker_keeps_two_malloc_arenas_as_the_ingestion_benchmark_measures() -> None:
    from bench.ingest import WORKER_ENV  # noqa: PLC0415  (the benchmark's figure must describe what Azure runs)

    assert {name: _app_settings()[name] for name in WORKER_ENV} == WORKER_ENV
