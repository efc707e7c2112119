"""Data shards: `dataShardCount` storage accounts in all for the per-user tables, each hardened as the app's
own, holding exactly the tables the code shards, reachable by the app identity and named to the app in
`DATA_SHARDS` in the order the app numbers them."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest

import functions.adapters
from functions.adapters.scoped_table import ScopedTableStore
from tests.infra import bicep
from tests.infra.bicep import INFRA, MAIN, decorator, module_body, parse, resolve, variable

pytestmark = pytest.mark.infra

ACCOUNT = "Microsoft.Storage/storageAccounts"
SHARD = INFRA / "modules" / "datashard.bicep"
STORAGE = INFRA / "modules" / "storage.bicep"
# What makes the app's account Entra-only and encrypted; a shard holds the same personal data.
HARDENING = (
    "minimumTlsVersion",
    "supportsHttpsTrafficOnly",
    "allowBlobPublicAccess",
    "allowSharedKeyAccess",
    "allowCrossTenantReplication",
    "defaultToOAuthAuthentication",
    "publicNetworkAccess",
    "networkAcls",
    "encryption",
)


def sharded_tables() -> set[str]:
    """The tables whose store spreads rows over the shards (`sharded = True`), found in the code."""
    for module_info in pkgutil.iter_modules(functions.adapters.__path__):
        importlib.import_module(f"functions.adapters.{module_info.name}")
    return {store.name for store in ScopedTableStore.__subclasses__() if store.sharded}


def data_shards_module() -> dict[str, Any]:
    module: dict[str, Any] = parse(MAIN)["modules"]["dataShards"]
    return module


def test_a_shard_is_hardened_exactly_as_the_apps_own_account() -> None:
    shard, own = bicep.one(ACCOUNT, SHARD), bicep.one(ACCOUNT, STORAGE)
    assert {k: shard.properties[k] for k in HARDENING} == {k: own.properties[k] for k in HARDENING}
    assert (shard.body["sku"], shard.body["kind"]) == (own.body["sku"], own.body["kind"])


def test_a_shard_declares_exactly_the_tables_the_code_shards() -> None:
    tables = bicep.one(f"{ACCOUNT}/tableServices/tables", SHARD)
    assert tables.loop["detail"]["array_name"] == "tableNames"
    assert set(variable(SHARD, "tableNames")) == sharded_tables() == {"slices", "contacts"}


def test_a_shard_has_no_blob_container_or_queue() -> None:
    assert [r.type for r in bicep.resources(root=INFRA) if r.file == SHARD] == [
        ACCOUNT,
        f"{ACCOUNT}/tableServices",
        f"{ACCOUNT}/tableServices/tables",
        "Microsoft.Authorization/roleAssignments",
    ]


def test_the_count_includes_the_apps_account_and_defaults_to_it_alone() -> None:
    assert resolve(MAIN, "dataShardCount") == 1
    assert decorator(MAIN, "dataShardCount", "min_value") == 1


def test_main_deploys_shards_one_to_count_minus_one() -> None:
    loop = data_shards_module()["config"]["loop_type"]["detail"]
    assert loop["item_name"] == "shard"
    assert loop["array_name"]["function"] == {
        "type": "range",
        "parameters": {
            "start_index": 1,
            "count": {
                "operator": {"type": "substract", "operands": {"operand_1": "dataShardCount", "operand_2": 1}}
            },
        },
    }


def test_a_shards_account_name_is_valid_for_every_allowed_count() -> None:
    # uniqueString() returns 13 characters; storage account names are 3-24 lower-case letters and digits.
    name = module_body(data_shards_module())["params"]["name"]
    assert name == "st${resourceToken}d${shard}"
    longest = len("st") + 13 + len("d") + len(str(decorator(MAIN, "dataShardCount", "max_value") - 1))
    assert longest <= 24


def test_each_shard_grants_the_app_identity_its_tables() -> None:
    principal = module_body(data_shards_module())["params"]["principalId"]["operator"]["operands"]
    assert principal["operand_1"] == "identity"


def test_the_app_is_told_every_shards_table_endpoint_in_shard_order() -> None:
    app = module_body(parse(MAIN)["modules"]["functionApp"])
    passed = app["params"]["dataShardTableEndpoints"]
    assert passed["loop_type"]["detail"]["array_name"]["function"]["parameters"]["start_index"] == 0
    accessor = passed["config"]["operator"]["operands"]
    assert accessor["operand_1"]["operator"] == {
        "type": "index_accessor",
        "operands": {"operand_1": "dataShards", "operand_2": "i"},
    }
    assert accessor["operand_2"]["operator"]["operands"]["operand_2"] == "tableEndpoint"
    settings = variable(INFRA / "modules" / "functionapp.bicep", "appSettings")
    assert settings["DATA_SHARDS"] == {
        "function": {
            "type": "join",
            "parameters": {"input_array": "dataShardTableEndpoints", "delimiter": ","},
        }
    }


def test_the_app_starts_only_after_its_shard_roles_exist() -> None:
    assert "dataShards" in parse(MAIN)["modules"]["functionApp"]["config"]["dependsOn"]
