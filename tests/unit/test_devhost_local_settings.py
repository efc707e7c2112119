"""local.settings.json: its Values under the environment, and its first write from the example."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from devhost.azurite import ROOT
from devhost.config import StartupError
from devhost.local_settings import (
    EXAMPLE_FILE,
    SETTINGS_FILE,
    apply,
    derive_notification_url,
    read_values,
    write_from_example,
)
from functions.settings import SCHEDULE_SETTINGS, SETTING_NAMES, Settings

# Settings the Functions host itself reads from local.settings.json.
HOST_SETTINGS = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsFeatureFlags"}


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_values_are_read_as_strings(tmp_path: Path) -> None:
    path = write(tmp_path / SETTINGS_FILE, {"IsEncrypted": False, "Values": {"A": "x", "B": True, "C": 3}})
    assert read_values(path) == {"A": "x", "B": "true", "C": "3"}


def test_the_environment_wins_over_the_file() -> None:
    environ = {"A": "from-env"}
    applied = apply({"A": "from-file", "B": "from-file"}, environ)
    assert environ == {"A": "from-env", "B": "from-file"}
    assert applied == ["B"]


def test_an_encrypted_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / SETTINGS_FILE, {"IsEncrypted": True, "Values": {}})
    with pytest.raises(StartupError, match="encrypted"):
        read_values(path)


def test_a_file_that_is_not_json_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / SETTINGS_FILE
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(StartupError, match=SETTINGS_FILE):
        read_values(path)


def test_the_first_write_copies_the_example_with_fresh_secrets(tmp_path: Path) -> None:
    write(tmp_path / EXAMPLE_FILE, {"IsEncrypted": False, "Values": {"X": "1", "CONTACT_HASH_KEY": ""}})
    written = write_from_example(tmp_path)
    assert written == tmp_path / SETTINGS_FILE
    values = read_values(written)
    assert values["X"] == "1"
    secret = values["ADMIN_CENTER_WEBHOOK_SECRET"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert len(base64.b64decode(values["CONTACT_HASH_KEY"])) == 32


def test_the_written_file_is_readable_by_its_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    write(tmp_path / EXAMPLE_FILE, {"IsEncrypted": False, "Values": {}})
    previous = os.umask(0o022)
    try:
        written = write_from_example(tmp_path)
    finally:
        os.umask(previous)
    assert written is not None
    assert stat.S_IMODE(written.stat().st_mode) == 0o600


def test_two_checkouts_get_different_secrets(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    for root in (first, second):
        root.mkdir()
        write(root / EXAMPLE_FILE, {"Values": {}})
        write_from_example(root)
    assert read_values(first / SETTINGS_FILE) != read_values(second / SETTINGS_FILE)


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    write(tmp_path / EXAMPLE_FILE, {"Values": {"X": "example"}})
    write(tmp_path / SETTINGS_FILE, {"Values": {"X": "mine"}})
    assert write_from_example(tmp_path) is None
    assert read_values(tmp_path / SETTINGS_FILE) == {"X": "mine"}


def test_the_tracked_example_names_only_known_settings_and_every_schedule() -> None:
    values = read_values(ROOT / EXAMPLE_FILE)
    assert set(values) - set(SETTING_NAMES) - HOST_SETTINGS == set()
    # `func start` resolves %NAME% from this file, so every schedule setting must be in it.
    assert set(SCHEDULE_SETTINGS) <= set(values)


def test_a_settings_file_written_from_the_tracked_example_is_valid_for_the_app(tmp_path: Path) -> None:
    (tmp_path / EXAMPLE_FILE).write_text((ROOT / EXAMPLE_FILE).read_text(encoding="utf-8"), encoding="utf-8")
    written = write_from_example(tmp_path)
    assert written is not None
    settings = Settings.from_env(read_values(written))
    assert settings.webhook_secrets
    assert settings.contact_hash_key


def test_the_settings_file_is_not_tracked_and_not_deployed() -> None:
    assert SETTINGS_FILE in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert SETTINGS_FILE in (ROOT / ".funcignore").read_text(encoding="utf-8").split()


def test_serve_points_graph_notifications_at_itself_when_they_are_on_and_no_url_is_given() -> None:
    environ = {"GRAPH_NOTIFICATIONS": "on"}
    assert derive_notification_url(7072, environ) == "http://127.0.0.1:7072/api"
    assert environ["GRAPH_NOTIFICATION_URL"] == "http://127.0.0.1:7072/api"


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"GRAPH_NOTIFICATIONS": "off"},
        {"GRAPH_NOTIFICATIONS": "on", "GRAPH_NOTIFICATION_URL": "https://x/api"},
    ],
)
def test_serve_leaves_the_notification_url_alone_when_off_or_given(environ: dict[str, str]) -> None:
    before = dict(environ)
    assert derive_notification_url(7071, environ) is None
    assert environ == before
