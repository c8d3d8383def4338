"""bench/load.py, Datasette under load: its pieces work end to end on a tiny database.

No timing is asserted: the figures depend on the machine. What is checked is
what a reader of the table relies on: four scenarios, every request of the
mix answered, the fetch and the hostile client really running beside them.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def load_bench():  # bench/ holds scripts, not package modules
    spec = importlib.util.spec_from_file_location("voice_load", ROOT / "bench" / "load.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def load_report():  # imported by load.py, which puts bench/ on sys.path
    load_bench()
    return sys.modules["load_report"]


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        pytest.param([], 95, 0.0, id="no requests"),
        pytest.param([7.0], 95, 7.0, id="one request"),
        pytest.param([float(v) for v in range(1, 101)], 50, 50.0, id="p50 of 1-100"),
        pytest.param([float(v) for v in range(1, 101)], 95, 95.0, id="p95 of 1-100"),
        pytest.param([30.0, 10.0, 20.0], 95, 30.0, id="unsorted, nearest rank"),
    ],
)
def test_percentile_is_a_latency_some_request_had(values, p, expected) -> None:
    assert load_report().percentile(values, p) == expected


@pytest.mark.parametrize(
    ("idle", "hostile", "expected"),
    [
        pytest.param(100.0, 200.0, "PASS", id="exactly twice"),
        pytest.param(100.0, 201.0, "FAIL", id="above twice"),
        pytest.param(100.0, 90.0, "PASS", id="faster"),
    ],
)
def test_target_compares_hostile_p95_with_idle(idle, hostile, expected) -> None:
    rows = {"idle": {"p95_ms": idle}, "hostile": {"p95_ms": hostile}}
    assert load_report().targets(rows)["hostile vs idle"]["result"] == expected


def test_four_scenarios_on_a_tiny_database(tmp_path: Path) -> None:
    bench = load_bench()
    args = ["--posts", "300", "--seconds", "2", "--feeds", "3", "--entries", "2", "--burst", "60"]
    assert bench.main([*args, "--out", str(tmp_path)]) == 0
    out = json.loads((tmp_path / "load.json").read_text())

    assert list(out["scenarios"]) == ["idle", "fetch", "hostile", "fetch + hostile"]
    for row in out["scenarios"].values():
        assert row["requests"] > 0
        assert row["p95_ms"] >= row["p50_ms"] > 0
    assert out["scenarios"]["idle"]["errors"] == 0
    assert out["scenarios"]["idle"]["p95_ratio"] == 1.0
    assert all("voice_public.py" in run["plugins"] for run in out["runs"])
    assert set(out["targets"]) == {"hostile vs idle", "fetch + hostile vs fetch"}
    assert {t["result"] for t in out["targets"].values()} <= {"PASS", "FAIL"}

    runs = {run["name"]: run for run in out["runs"]}
    assert all(runs["idle"]["by_request"][kind]["requests"] > 0 for kind in bench.MIX)
    for run in out["runs"]:
        assert {a["outcome"] for a in run["alone"].values()} == {"200"}, run["alone"]
        assert run["cores"]["datasette"] > 0
    for name in ("fetch", "fetch + hostile"):
        fetch = runs[name]["fetch"]
        assert fetch is not None
        assert not fetch["finished"] or fetch["exit_code"] == 0, fetch
    for name, hostile in (("idle", False), ("fetch", False), ("hostile", True)):
        assert bool(runs[name]["hostile"]) is hostile
    assert runs["hostile"]["hostile"][0]["sql"] == bench.HOSTILE_SQL[0]

    bursts = out["bursts"]
    readers = ["reader, just started", "reader, after a write", "reader, unchanged"]
    assert list(bursts) == [*readers, "researchers"]
    assert [b["requests"] for b in bursts.values()] == [60, 60, 60, 15]
    assert all(b["errors"] == 0 and b["slowest_ms"] >= b["p95_ms"] > 0 for b in bursts.values())
    assert {bursts[name]["result"] for name in readers} <= {"PASS", "FAIL"}
    assert "result" not in bursts["researchers"]  # the bar is for the reader burst
