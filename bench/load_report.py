"""bench/load.py's results: the samples, their summaries and the printed tables.

Kept apart from the driver so the measuring and the reporting read on their own.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

TARGET_RATIO = 2.0  # the target: hostile p95 at most twice the p95 without it


@dataclass(frozen=True)
class Sample:
    """One request as a client saw it; `outcome` is the status code or the exception's name."""

    kind: str
    ms: float
    outcome: str

    @property
    def ok(self) -> bool:
        return self.outcome == "200"


@dataclass
class ScenarioResult:
    name: str
    seconds: float
    samples: list[Sample]
    hostile: list[dict[str, Any]] = field(default_factory=list)
    fetch: dict[str, Any] | None = None
    alone: dict[str, Sample] = field(default_factory=dict)
    plugins: list[str] = field(default_factory=list)  # as Datasette listed them at the start
    code: str = ""  # code_state() at the start
    cores: dict[str, float] = field(default_factory=dict)  # CPU seconds / window seconds


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: a latency some request really had; 0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * p / 100) - 1)]


def summarise(samples: list[Sample]) -> dict[str, Any]:
    """Requests, errors (by outcome) and p50/p95 over every request, failed ones included."""
    ms = [s.ms for s in samples]
    errors = Counter(s.outcome for s in samples if not s.ok)
    return {
        "requests": len(samples),
        "errors": errors.total(),
        "errors_by_outcome": dict(errors),
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
    }


def targets(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The issue's line (hostile against idle) and the same during a fetch (against fetch)."""
    found = {}
    for name, baseline in (("hostile", "idle"), ("fetch + hostile", "fetch")):
        if name in rows and baseline in rows:
            ratio = rows[name]["p95_ms"] / (rows[baseline]["p95_ms"] or 1.0)
            verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
            found[f"{name} vs {baseline}"] = {"ratio": round(ratio, 2), "result": verdict}
    return found


def describe(r: ScenarioResult) -> str:
    """The scenario's window, rate, errors, and what the fetch and the hostile client did."""
    line = f"{r.name}: {r.seconds:.1f} s, {len(r.samples) / (r.seconds or 1):.1f} requests/s"
    order = [k for k in ("datasette", "fetch", "bench", "others", "machine") if k in r.cores]
    line += ", cores used: " + ", ".join(f"{k} {r.cores[k]:.2f}" for k in order)
    errors = summarise(r.samples)["errors_by_outcome"]
    if errors:
        line += f", errors {errors}"
    if r.fetch is not None:
        state = "finished" if r.fetch["finished"] else "was stopped at the window's end"
        line += f"; the fetch {state}: {r.fetch['output']}"
    if r.hostile:
        done = [h for h in r.hostile if h["ms"] is not None]
        outcomes = Counter(h["outcome"] for h in done)
        slowest = max((h["ms"] for h in done), default=0) / 1000
        line += f"; hostile: {len(done)} answered {dict(outcomes)}, slowest {slowest:.1f} s"
        line += f", {len(r.hostile) - len(done)} in flight at the end"
    return line


def report(results: list[ScenarioResult], kinds: Iterable[str]) -> dict[str, Any]:
    """Print the tables and the target lines; return them for load.json."""
    rows = {r.name: summarise(r.samples) for r in results}
    idle = rows[results[0].name]["p95_ms"] or 1.0
    print("\n| scenario | requests | errors | p50 ms | p95 ms | p95 / idle |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        row["p95_ratio"] = round(row["p95_ms"] / idle, 2)
        print(
            f"| {name} | {row['requests']:,} | {row['errors']:,} | {row['p50_ms']:,.0f}"
            f" | {row['p95_ms']:,.0f} | {row['p95_ratio']:.2f} |"
        )
    print("\nms by request: alone (before the idle window), then p95 in each scenario")
    print("| request | alone | " + " | ".join(rows) + " |")
    print("|---" * (len(rows) + 2) + "|")
    for kind in kinds:
        cells = [summarise([s for s in r.samples if s.kind == kind])["p95_ms"] for r in results]
        first = results[0].alone.get(kind)
        print(
            f"| {kind} | {first.ms if first else 0:,.0f} | "
            + " | ".join(f"{c:,.0f}" for c in cells)
            + " |"
        )
    print("\n" + "\n".join(describe(r) for r in results) + "\n")
    found = targets(rows)
    if "hostile vs idle" in found:
        t = found["hostile vs idle"]
        print(
            f"{t['result']}: the hostile request does not raise the others' p95 above"
            f" {TARGET_RATIO:g}x the idle p95 (x{t['ratio']:.2f})"
        )
    if "fetch + hostile vs fetch" in found:
        t = found["fetch + hostile vs fetch"]
        print(
            f"{t['result']}: the same during a fetch, against the fetch's p95 (x{t['ratio']:.2f})"
        )
    return {"scenarios": rows, "targets": found}
