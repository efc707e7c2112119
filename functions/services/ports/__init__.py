"""The ports: every interface a service needs of the outside world, in one place, by capability.

Services import the domain and these modules only; `functions/adapters/` implements them (Azure Table,
Queue and Blob Storage, Microsoft Graph); tests pass in-memory implementations through the one composition
root (`functions.bootstrap.Container(settings, **overrides)`). The contracts in `pyproject.toml`
(`[tool.importlinter]`) keep it so.

- `consent`: the consent and opt-out records, webhook receipts, the audit log, the tenant list
- `purge`: the purge ledger, the stores a purge deletes from, group-member resolution
- `ingestion`: Graph, cursors and profiles, per-user slices, the contact index, introductions, backups
- `queues`: the work queues
"""
