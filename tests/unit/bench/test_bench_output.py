"""Every bench command's output: one JSON shape, printed with --json, written with --json-out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orderstream.cli.bench_output import int_list, report


def test_json_out_writes_the_object_and_the_table_is_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shown: list[dict[str, Any]] = []
    out = tmp_path / "figures" / "registry.json"

    document = report("registry", {"lookups_per_s": 1234.5}, shown.append, json_flag=False,
                      json_out=out)  # fmt: skip

    assert document == {"bench": "registry", "lookups_per_s": 1234.5}
    assert json.loads(out.read_text()) == document
    assert shown == [document]
    assert capsys.readouterr().out == ""


def test_json_prints_the_same_object_instead_of_the_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shown: list[dict[str, Any]] = []

    report("payments", {"payments_per_s": 10}, shown.append, json_flag=True, json_out=None)

    assert json.loads(capsys.readouterr().out) == {"bench": "payments", "payments_per_s": 10}
    assert shown == []


def test_rates_are_integers_or_a_clear_error() -> None:
    import typer

    assert int_list("--rates", "1000, 5000,10000") == (1_000, 5_000, 10_000)
    with pytest.raises(typer.BadParameter, match="--rates must be integers"):
        int_list("--rates", "1k,5k")
