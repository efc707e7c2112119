"""Storage shards: which settings name them, and which shard holds a user's rows (no I/O)."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.adapters.cursor_store import TableCursorStore
from functions.adapters.purge_registry import purge_stores
from functions.adapters.slice_store import TableSliceStore
from functions.adapters.storage import StorageClients, shard_index
from functions.domain.errors import ConfigurationError
from functions.settings import storage_settings

OWN = "DefaultEndpointsProtocol=http;AccountName=own;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:1/own;"
SHARD_1 = (
    "DefaultEndpointsProtocol=http;AccountName=one;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:1/one;"
)
SHARD_2 = "DefaultEndpointsProtocol=https;AccountName=two;AccountKey=a2V5==;EndpointSuffix=core.windows.net"
IDENTITY = {
    "AzureWebJobsStorage__blobServiceUri": "https://own.blob.core.windows.net",
    "AzureWebJobsStorage__queueServiceUri": "https://own.queue.core.windows.net",
    "AzureWebJobsStorage__tableServiceUri": "https://own.table.core.windows.net",
}


def shards_of(value: str, **env: str) -> tuple[str, ...]:
    return storage_settings({"AzureWebJobsStorage": OWN, **env, "DATA_SHARDS": value}).data_shards


def test_without_data_shards_the_app_account_is_the_only_shard() -> None:
    storage = StorageClients(storage_settings({"AzureWebJobsStorage": OWN}))
    assert storage.shards == (storage,)


def test_shards_are_read_in_order_comma_separated_blanks_ignored() -> None:
    assert shards_of(f" {SHARD_1} , ,{SHARD_2},") == (SHARD_1, SHARD_2)


def test_table_service_uris_name_shards_reached_with_the_managed_identity() -> None:
    value = "https://one.table.core.windows.net/,https://two.table.core.windows.net"
    settings = storage_settings({**IDENTITY, "DATA_SHARDS": value})
    first = settings.shard(1)
    assert (first.table_service_uri, first.connection_string, first.uses_identity) == (
        "https://one.table.core.windows.net/",
        None,
        True,
    )


def test_a_shard_is_reached_with_the_app_accounts_identity_and_http_settings() -> None:
    settings = storage_settings(
        {**IDENTITY, "AzureWebJobsStorage__clientId": "app-id", "REQUESTS_CA_BUNDLE": "/ca.pem",
         "DATA_SHARDS": "https://one.table.core.windows.net"}
    )  # fmt: skip
    shard = settings.shard(1)
    assert (shard.managed_identity_client_id, shard.ca_bundle) == ("app-id", "/ca.pem")


def test_the_app_account_is_shard_zero() -> None:
    settings = storage_settings({"AzureWebJobsStorage": OWN, "DATA_SHARDS": SHARD_1})
    assert settings.shard(0) is settings
    assert settings.shard(1).connection_string == SHARD_1


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("not-a-shard", "neither"),
        ("http://one.table.core.windows.net", "must be https"),
        (f"{SHARD_1},{SHARD_1}", "more than once"),
        (f"{SHARD_2},https://two.table.core.windows.net/", "more than once"),
        (OWN, "app's own storage account"),
    ],
)
def test_a_bad_shard_list_stops_start_up_naming_the_setting(value: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match="DATA_SHARDS") as raised:
        shards_of(value)
    assert why in str(raised.value)


def test_the_app_accounts_own_table_uri_is_refused_as_a_shard() -> None:
    with pytest.raises(ConfigurationError, match="own storage account"):
        storage_settings({**IDENTITY, "DATA_SHARDS": "https://own.table.core.windows.net/"})


def test_an_error_about_a_shard_never_repeats_its_account_key() -> None:
    with pytest.raises(ConfigurationError) as raised:
        shards_of(f"{SHARD_1},{SHARD_1}")
    assert "a2V5" not in str(raised.value)


@given(st.uuids(), st.uuids(), st.integers(min_value=1, max_value=64))
def test_a_user_is_always_on_one_of_the_shards_and_always_the_same_one(
    tenant: uuid.UUID, user: uuid.UUID, count: int
) -> None:
    shard = shard_index(str(tenant), str(user), count)
    assert 0 <= shard < count
    assert shard_index(str(tenant).upper(), str(user).upper(), count) == shard


def test_users_spread_evenly_over_the_shards() -> None:
    tenant = "7a3c8e52-52bb-4d0e-9a61-3f1f0c2b9d10"
    spread = Counter(shard_index(tenant, str(uuid.UUID(int=n)), 4) for n in range(4_000))
    assert set(spread) == {0, 1, 2, 3}
    assert max(spread.values()) < 1.1 * min(spread.values())


def test_the_same_user_id_in_two_tenants_is_placed_independently() -> None:
    user = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    placements = {shard_index(str(uuid.UUID(int=n)), user, 8) for n in range(64)}
    assert len(placements) > 1


def test_a_sharded_store_has_no_single_table_to_fall_back_on() -> None:
    # Reaching shard 0 alone would miss the other shards' rows without a word.
    store = TableSliceStore(
        StorageClients(storage_settings({"AzureWebJobsStorage": OWN, "DATA_SHARDS": SHARD_1}))
    )
    with pytest.raises(TypeError, match="sharded"):
        _ = store._table


@pytest.mark.parametrize("shard", [-1, 2])
def test_a_view_of_a_shard_that_does_not_exist_is_refused(shard: int) -> None:
    storage = StorageClients(storage_settings({"AzureWebJobsStorage": OWN, "DATA_SHARDS": SHARD_1}))
    with pytest.raises(ValueError, match="no shard"):
        TableSliceStore(storage, shard=shard)


def test_a_table_that_is_not_sharded_has_no_shard_views() -> None:
    storage = StorageClients(storage_settings({"AzureWebJobsStorage": OWN, "DATA_SHARDS": SHARD_1}))
    with pytest.raises(ValueError, match="no shard"):
        TableCursorStore(storage, shard=1)


def test_the_purge_views_of_a_sharded_table_are_named_by_shard() -> None:
    storage = StorageClients(
        storage_settings({"AzureWebJobsStorage": OWN, "DATA_SHARDS": f"{SHARD_1},{SHARD_2}"})
    )
    names = [store.name for store in purge_stores(storage).live]
    assert [n for n in names if n.startswith(("slices", "contacts"))] == [
        "slices", "slices@shard1", "slices@shard2", "contacts", "contacts@shard1", "contacts@shard2",
    ]  # fmt: skip
    assert names.count("cursors") == 1
