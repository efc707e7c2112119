"""Every store is known to the purge: subject data in a registered store, or kept on purpose with a reason."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import functions.adapters
from functions.adapters.purge_registry import BACKUP_STORES, KEPT_STORES, LIVE_STORES, PURGED_THROUGH_GRAPH


def storage_backed_classes() -> set[type]:
    """Every class defined in functions.adapters whose constructor takes the storage clients."""
    found: set[type] = set()
    for module_info in pkgutil.iter_modules(functions.adapters.__path__):
        module = importlib.import_module(f"functions.adapters.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or inspect.isabstract(cls):
                continue
            parameters = inspect.signature(cls.__init__).parameters.values()
            if any(p.annotation in ("StorageClients", "StorageClients | None") for p in parameters):
                found.add(cls)
    return found


def test_the_scan_finds_the_stores_it_is_meant_to_find() -> None:
    found = storage_backed_classes()
    assert set(LIVE_STORES) | set(BACKUP_STORES) <= found
    assert set(KEPT_STORES) <= found


def test_every_storage_backed_class_is_purged_or_kept_on_purpose() -> None:
    known = set(LIVE_STORES) | set(BACKUP_STORES) | set(KEPT_STORES) | set(PURGED_THROUGH_GRAPH)
    unknown = sorted(cls.__qualname__ for cls in storage_backed_classes() - known)
    assert unknown == [], f"add each to LIVE_STORES, BACKUP_STORES or KEPT_STORES (with a reason): {unknown}"


def test_a_store_is_either_purged_or_kept_never_both() -> None:
    assert not (set(LIVE_STORES) | set(BACKUP_STORES) | set(PURGED_THROUGH_GRAPH)) & set(KEPT_STORES)


def test_every_purged_store_can_delete_and_count_a_scope() -> None:
    for store in (*LIVE_STORES, *BACKUP_STORES):
        assert callable(getattr(store, "delete_scope", None)), store
        assert callable(getattr(store, "count_scope", None)), store


def test_every_kept_store_says_why() -> None:
    assert all(len(reason) > 20 for reason in KEPT_STORES.values())
