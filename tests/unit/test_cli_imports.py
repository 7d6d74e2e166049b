"""Every ``orderstream`` process (each service instance the supervisor starts, each command)
imports the CLI first: the heavy modules wait until the command that needs them runs."""

from __future__ import annotations

import json
import subprocess
import sys

# river.tree imports scipy.stats (about 2 s); the bench package imports the services and
# matplotlib; the registry server, the web stack.
DEFERRED = ("scipy", "river", "matplotlib", "orderstream.bench", "orderstream.chaos.runner",
            "orderstream.registry.server")  # fmt: skip


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def _heavy(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if any(m == d or m.startswith(d + ".") for d in DEFERRED))


def test_the_cli_imports_no_benchmark_model_or_server_code() -> None:
    loaded = _modules_after("import orderstream.cli.main")
    assert "orderstream.cli.run" in loaded  # the probe sees the CLI's own modules
    assert _heavy(loaded) == []


def test_importing_the_analytics_events_leaves_river_for_the_model() -> None:
    loaded = _modules_after("import orderstream.services.analytics.events")
    assert "orderstream.services.analytics.model" in loaded
    assert _heavy(loaded) == []


def test_building_the_model_imports_river() -> None:
    code = (
        "from orderstream.services.analytics.model import AnomalyModel, ModelConfig\n"
        "AnomalyModel(ModelConfig())"
    )
    assert "river.tree.padded" in _modules_after(code)


def test_the_analytics_processor_loads_river_when_built_not_in_its_first_transaction() -> None:
    code = (
        "from orderstream.serde import EventSerde\n"
        "from orderstream.services.analytics.processor import AnalyticsProcessor\n"
        "from orderstream.testing.registry import MemoryRegistry\n"
        "AnalyticsProcessor(EventSerde('http://unused', client=MemoryRegistry()))"
    )
    assert "river.tree.padded" in _modules_after(code)
