"""The contract every store that holds subject data meets, so the purge can delete and verify it."""

from __future__ import annotations

from typing import Protocol

from functions.domain.scope import Scope


class ScopedStore(Protocol):
    """A store that can delete, and count, everything it holds of a scope.

    `delete_scope` is idempotent (running it twice is harmless) and never touches another tenant or, for a
    user scope, another user. `count_scope` is what the verification records: it must search the store for
    every trace of the scope, not trust an index that the deletion itself maintains.
    """

    name: str

    def delete_scope(self, scope: Scope) -> int:
        """Delete every trace of `scope`; return how many items were deleted."""
        ...

    def count_scope(self, scope: Scope) -> int:
        """How many traces of `scope` the store still holds (0 after a successful purge)."""
        ...
