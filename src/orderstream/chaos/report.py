"""The results of a chaos run: one table row per scenario, the failed checks, and JSON."""

from __future__ import annotations

from typing import Any

from orderstream.chaos.runner import ScenarioResult

COLUMNS = (
    "scenario",
    "verdict",
    "accepted",
    "503s",
    "other",
    "repeats",
    "window s",
    "recovery s",
    "faults",
)


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table_rows(results: list[ScenarioResult]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for r in results:
        faults = ", ".join(f"{f.what.split(' (')[0]} n{f.node}" for f in r.faults.faults)
        rows.append(
            (
                r.name,
                r.verdict,
                str(r.accepted),
                str(r.unavailable),
                str(sum(r.other_errors.values())),
                str(r.orders_repeats),
                _secs(r.window_s),
                _secs(r.recovery_s),
                faults or "-",
            )
        )
    return rows


def problems(results: list[ScenarioResult]) -> list[str]:
    """One line per failed check, error or unsupported scenario."""
    lines = []
    for r in results:
        if r.faults.unsupported:
            lines.append(f"{r.name}: unsupported here: {r.faults.unsupported}")
        if r.error:
            lines.append(f"{r.name}: {r.error}")
        lines += [f"{r.name}: {c.name}: {c.detail}" for c in r.checks if not c.ok]
    return lines


def as_json(r: ScenarioResult) -> dict[str, Any]:
    return {
        "scenario": r.name,
        "summary": r.summary,
        "verdict": r.verdict,
        "ok": r.ok,
        "seconds": round(r.seconds, 1),
        "accepted": r.accepted,
        "unavailable_503": r.unavailable,
        "other_errors": r.other_errors,
        "orders_repeats": r.orders_repeats,
        "unavailability_window_s": r.window_s,
        "recovery_s": r.recovery_s,
        "faults": [f.as_json() for f in r.faults.faults],
        "notes": r.faults.notes,
        "unsupported": r.faults.unsupported or None,
        "error": r.error or None,
        "checks": [c.as_json() for c in r.checks],
    }
