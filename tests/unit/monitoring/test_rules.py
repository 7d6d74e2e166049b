"""The alert rules under promtool (Debian's prometheus package, installed by ``make install``):
they parse, and every alert has a firing and a quiet case in orderstream.rules.test.yml."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from orderstream.monitoring.rules import RULES_FILE

TEST_FILE = Path(__file__).with_name("orderstream.rules.test.yml")


def _promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: `make install` installs Debian's prometheus package"
    return path


def test_promtool_check_rules() -> None:
    done = subprocess.run(
        [_promtool(), "check", "rules", str(RULES_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 10 rules found" in done.stdout


def test_promtool_test_rules() -> None:
    done = subprocess.run(
        [_promtool(), "test", "rules", TEST_FILE.name],
        capture_output=True,
        check=False,
        text=True,
        cwd=TEST_FILE.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    alerts = {rule["alert"] for group in groups for rule in group["rules"]}
    checks = [
        c
        for case in yaml.safe_load(TEST_FILE.read_text())["tests"]
        for c in case["alert_rule_test"]
    ]
    assert {c["alertname"] for c in checks if c["exp_alerts"]} == alerts
    assert {c["alertname"] for c in checks if not c["exp_alerts"]} == alerts
