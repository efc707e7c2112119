"""The app's own error hierarchy.

Rules and services raise these; adapters translate SDK exceptions into the `StorageError` / `GraphError`
families; `functions/entrypoints/problems.py` is the one place that turns them into HTTP problem documents.
"""

from __future__ import annotations

from dataclasses import dataclass


class AppError(Exception):
    """Base of every error the app raises on purpose."""


class ConfigurationError(AppError):
    """A setting is missing or malformed; start-up stops with this message."""


# --- errors a caller caused (mapped to 4xx) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class ValidationFailed(AppError):
    """Input that does not satisfy the contract; `errors` names each offending field."""

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class MalformedBody(AppError):
    """The body is not parseable JSON (or not the JSON object expected)."""


class PayloadTooLarge(AppError):
    pass


class UnsupportedMediaType(AppError):
    pass


class Unauthenticated(AppError):
    """Missing or invalid credentials (token or webhook signature). Never carries detail to the caller."""


class Forbidden(AppError):
    """Authenticated, but not allowed: another tenant, or a missing role."""


class NotFound(AppError):
    pass


class FeatureNotEnabled(NotFound):
    """An insight was asked for while its feature is not enabled for the tenant."""


class Conflict(AppError):
    pass


class MembershipPending(AppError):
    """The tenant's opted-out groups changed and their members are being resolved: nobody can be said to be
    included until they are (fail closed). A queue message raising it is retried by the host; over HTTP it is
    503 with `Retry-After`."""


# --- errors of the outside world (adapters translate SDK exceptions into these) --------------------------


class StorageError(AppError):
    """Azure Storage failed in a way the caller cannot fix."""


class StorageUnavailable(StorageError):
    """Storage did not answer (connection refused, timeout)."""


class ConcurrencyConflict(StorageError):
    """An ETag-guarded write lost a race; the caller re-reads and retries."""


class GraphError(AppError):
    """Microsoft Graph failed for a reason other than those below."""


class GraphThrottled(GraphError):
    """Graph kept answering 429/503 after the retry middleware gave up."""


class GraphNotFound(GraphError):
    """The user or mailbox does not exist (any more)."""


class GraphMalformedResponse(GraphError):
    """Graph answered with JSON we cannot read; the window fails loudly and is retried."""
