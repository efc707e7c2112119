"""`local.settings.json`: read its `Values` into the environment (the environment wins), or write it.

The file is not tracked (it holds secrets); `local.settings.example.json` is. The first `make serve` writes
the file from the example with fresh random local secrets, so no two checkouts share them.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from devhost.config import StartupError

SETTINGS_FILE = "local.settings.json"
EXAMPLE_FILE = "local.settings.example.json"


def _random_base64() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


# Secrets generated for each new local.settings.json (the example leaves them empty).
GENERATED_SECRETS: dict[str, Callable[[], str]] = {
    "ADMIN_CENTER_WEBHOOK_SECRET": lambda: "whsec_" + _random_base64(),
    "CONTACT_HASH_KEY": _random_base64,
}


def read_values(path: Path) -> dict[str, str]:
    """The `Values` of a local.settings.json, as strings (the Functions host reads them as strings)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise StartupError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise StartupError(f"{path} must hold a JSON object with a Values object")
    if document.get("IsEncrypted"):
        raise StartupError(f"{path} is encrypted (IsEncrypted: true); the local host reads plain values only")
    values = document.get("Values") or {}
    if not isinstance(values, dict):
        raise StartupError(f"{path}: Values must be an object of settings")
    return {str(name): _as_setting(value) for name, value in values.items()}


def apply(values: Mapping[str, str], environ: MutableMapping[str, str]) -> list[str]:
    """Copy settings into `environ` where it has none already; return the names copied."""
    applied = [name for name in values if name not in environ]
    for name in applied:
        environ[name] = values[name]
    return applied


def derive_notification_url(port: int, environ: MutableMapping[str, str]) -> str | None:
    """With Graph change notifications on and no public URL given, Graph (the simulator, locally) posts to
    this host: `GRAPH_NOTIFICATION_URL` becomes its loopback API base. Returns what it set, if anything."""
    if (
        environ.get("GRAPH_NOTIFICATIONS", "").strip() != "on"
        or environ.get("GRAPH_NOTIFICATION_URL", "").strip()
    ):
        return None
    environ["GRAPH_NOTIFICATION_URL"] = f"http://127.0.0.1:{port}/api"
    return environ["GRAPH_NOTIFICATION_URL"]


def write_from_example(script_root: Path) -> Path | None:
    """Write local.settings.json from the example with fresh secrets; None when it already exists."""
    target = script_root / SETTINGS_FILE
    if target.exists():
        return None
    example = script_root / EXAMPLE_FILE
    if not example.exists():
        raise StartupError(f"neither {target} nor {example} exists")
    document: dict[str, Any] = json.loads(example.read_text(encoding="utf-8"))
    values = document.setdefault("Values", {})
    for name, generate in GENERATED_SECRETS.items():
        values[name] = generate()
    # Exclusive creation (two `make serve` starting together must not both write, and differ), readable by
    # the owner only from its first byte: it holds the webhook secret and the contact hash key.
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(document, indent=2) + "\n")
    return target


def _as_setting(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
