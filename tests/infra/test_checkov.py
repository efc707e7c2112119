"""checkov passes on every Bicep file, and each check we skip says why next to the resource."""

from __future__ import annotations

import re

import pytest

from tests.infra.bicep import INFRA, bicep_files
from tests.infra.checkov import CheckovRun

pytestmark = pytest.mark.infra

SKIP_COMMENT = re.compile(r"//\s*checkov:skip=(CKV2?_[A-Z]+_\d+)(?::\s*(.*))?$")


def test_checkov_finds_and_parses_every_bicep_file(checkov: CheckovRun) -> None:
    # checkov drops a file it cannot parse (e.g. one using deployer()) from the scan; count what it read.
    unparsed = checkov.report["results"].get("parsing_errors")
    assert checkov.file_counts() == (len(bicep_files()),) * 2, f"unparsed: {unparsed}"
    assert checkov.summary["parsing_errors"] == 0


def test_checkov_reports_on_the_files_that_declare_checkable_resources(checkov: CheckovRun) -> None:
    reported = {c["file_path"].lstrip("/") for kind in ("passed", "skipped") for c in checkov.checks(kind)}
    for module in ("storage", "keyvault", "functionapp"):
        assert f"modules/{module}.bicep" in reported


def test_checkov_finds_no_failed_check(checkov: CheckovRun) -> None:
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in checkov.checks("failed")]
    assert failed == []
    assert checkov.summary["failed"] == 0
    assert checkov.summary["passed"] > 0


def test_every_skip_carries_a_reason(checkov: CheckovRun) -> None:
    for check in checkov.checks("skipped"):
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason.split()) >= 5, (
            f"{check['check_id']} on {check['resource']} is skipped without a reason"
        )


def test_every_skip_comment_is_used_by_a_skipped_check(checkov: CheckovRun) -> None:
    # A skip for a check that does not apply (any more) hides nothing today but would hide a regression later.
    written = []
    for path in bicep_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            match = SKIP_COMMENT.search(line.strip())
            if match:
                written.append((path.relative_to(INFRA).as_posix(), match.group(1)))
    used = {(c["file_path"].lstrip("/"), c["check_id"]) for c in checkov.checks("skipped")}
    assert set(written) <= used
    assert len(written) == len(checkov.checks("skipped"))
