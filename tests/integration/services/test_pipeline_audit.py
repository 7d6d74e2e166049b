"""50k orders, half through the HTTP API and half straight to Kafka, then the audit passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from orderstream.config import Settings
from orderstream.ops.harness import PipelineHarness
from orderstream.ops.seed import seed_catalog

pytestmark = pytest.mark.integration

PRODUCTS = 200


def cli(settings: Settings, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ORDERSTREAM_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "ORDERSTREAM_REGISTRY_URL": settings.registry_url,
        "ORDERSTREAM_HOME": str(settings.home),
    }
    return subprocess.run(
        [sys.executable, "-m", "orderstream.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_50k_orders_http_and_direct_pass_the_audit(
    harness: PipelineHarness, pipeline_settings: Settings
) -> None:
    seed_catalog(pipeline_settings, PRODUCTS, 500)
    orders = harness.start_orders()
    harness.start_enrichment()

    http = cli(
        pipeline_settings,
        *("load", "--count", "25000", "--rate", "0", "--url", orders.url),
        *("--products", str(PRODUCTS), "--seed", "1"),
    )
    assert http.returncode == 0, http.stdout + http.stderr
    assert "accepted 25000/25000" in http.stdout

    direct = cli(
        pipeline_settings,
        *("load", "--count", "25000", "--rate", "0", "--direct"),
        *("--products", str(PRODUCTS), "--seed", "2"),
    )
    assert direct.returncode == 0, direct.stdout + direct.stderr
    assert "accepted 25000/25000" in direct.stdout

    audit = cli(pipeline_settings, "audit", "--json", "--timeout", "120")
    verdict = json.loads(audit.stdout)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert verdict["ok"] is True
    exactly_once = verdict["checks"][0]["detail"]
    assert "missing 0, duplicated 0" in exactly_once
    # ~150k units are asked for and 100k stocked: stock runs out, and never below zero.
    assert " 0 mismatched, 0 ever negative" in verdict["checks"][1]["detail"]
