"""bench/floor.py, the benchmark's lower bound, times everything a cycle does per entry."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import feedparser
import pytest

from .conftest import DEMO_FEEDS

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):  # bench/ holds scripts, not package modules
    spec = importlib.util.spec_from_file_location(f"voice_{name}", ROOT / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_floor_times_each_part_over_every_entry_of_the_demo_feeds() -> None:
    expected = sum(
        len(feedparser.parse(io.BytesIO(path.read_bytes())).entries)
        for path in DEMO_FEEDS.iterdir()
        if path.is_file()  # new-blog/ is a site to connect, not a listed feed
    )
    floor = load("floor").measure(DEMO_FEEDS)
    assert floor["entries"] == expected > 0
    parts = ("feedparser_s", "normalise_s", "sketch_s", "tagging_s", "store_s")
    assert parts == load("report").FLOOR_PARTS
    assert all(floor[part] > 0 for part in (*parts, "nh3_s", "sqlite_fts_s")), floor


@pytest.mark.parametrize(
    ("parse_s", "writer_s", "cores", "expected"),
    [
        (10.0, 2.0, 2, 6.0),  # two cores: all the work shared between them
        (10.0, 2.0, 8, 5.0),  # more cores: each parse process takes half the parsing
        (2.0, 10.0, 2, 10.0),  # the one writer is serial
        (9.0, 3.0, 3, 4.5),  # three processes, three cores
    ],
)
def test_wall_floor(parse_s: float, writer_s: float, cores: int, expected: float) -> None:
    assert load("report").wall_floor(parse_s, writer_s, cores) == pytest.approx(expected)


def test_explain_says_which_failed_lines_cannot_pass() -> None:
    """A failed line is `cannot pass` when the floor and httpx alone exceed its limit,
    `reachable` when they do not; a passed line is not explained."""
    floor = {"entries": 1000.0, "feedparser_s": 0.3, "normalise_s": 0.4, "sketch_s": 0.3,
             "tagging_s": 0.2, "store_s": 0.5}  # fmt: skip
    http = {"full": 0.6, "conditional": 0.5}
    targets = [
        {"target": "cold CPU s <= 0.8x reader's", "status": "FAIL", "value": 2.1, "limit": 1.5},
        {"target": "cold wall s <= 0.6x reader's", "status": "FAIL", "value": 1.5, "limit": 1.4},
        {"target": "warm CPU s <= 0.8x reader's", "status": "FAIL", "value": 0.9, "limit": 0.7},
        {"target": "changed CPU s <= 0.6x reader's", "status": "PASS", "value": 0.6, "limit": 1.0},
    ]
    why = load("report").explain(targets, floor, http, changed_entries=100, new_posts=10, cores=2)
    assert [(w["target"][:10], w["verdict"]) for w in why] == [
        ("cold CPU s", "cannot pass"),  # 1.7 of floor + 0.6 of httpx > 1.5
        ("cold wall ", "reachable"),  # (1.7 + 0.6) / 2 cores = 1.15 <= 1.4
        ("warm CPU s", "reachable"),  # 0.5 <= 0.7
    ]
    assert why[0]["least"] == pytest.approx(2.3)


def test_each_cycle_counts_by_its_median_round_and_memory_by_its_highest() -> None:
    report = load("report")

    def round_(tool: str, cycle: str, cpu: float, number: int, peak: float = 40.0):
        return report.CycleResult(
            tool, cycle, cpu, cpu, 0.0, peak, 0, 10, 10, 0, "", 0.0, number
        )

    results = [
        round_("voice", "cold", 20.0, 1),
        round_("voice", "warm", 0.9, 1),
        round_("voice", "warm", 0.7, 2, peak=310.0),  # a round over the limit fails memory
        round_("voice", "warm", 5.0, 3),  # a slow moment of the machine
        round_("voice", "changed", 1.5, 1),
        round_("voice", "changed", 1.4, 2),
    ]
    by = report.typical(results)
    assert by[("voice", "warm")].round == 1  # 0.7, 0.9, 5.0: the median
    assert by[("voice", "changed")].round == 2  # of two, the lower
    assert by[("voice", "cold")].round == 1
    targets = {t["target"]: t for t in report.check_targets(results)}
    assert targets["warm CPU s <= 0.8x reader's"]["value"] == 0.9
    assert targets["Voice peak memory MB < 300"]["status"] == "FAIL"
