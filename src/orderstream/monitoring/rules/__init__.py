"""orderstream's Prometheus alert rules, shipped as package data."""

from __future__ import annotations

from pathlib import Path

RULES_FILE = Path(__file__).with_name("orderstream.rules.yml")
