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
        return report.CycleResult(tool, cycle, cpu, cpu, 0.0, peak, 0, 10, 10, 0, "", 0.0, number)

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


def test_the_floor_line_pairs_each_cold_round_with_the_floor_timed_next_to_it() -> None:
    """A slow minute raises the cycle and its own round's floor alike; the line is the
    median of the rounds' ratios, not the median round against the lowest floor."""
    report = load("report")

    def run(cycle: str, cpu: float, number: int):
        return report.CycleResult(
            "voice", cycle, cpu, cpu, 0.0, 60.0, 0, 10, 10, 10, "", 0.0, number
        )

    others = [run("warm", 0.8, 1), run("changed", 1.4, 1)]

    def cold(cpu: float, number: int):
        return run("cold", cpu, number)

    def floor(total: float) -> dict[str, float]:
        return {"entries": 10.0, **{part: total / 5 for part in report.FLOOR_PARTS}}

    results = [cold(24.0, 1), cold(36.0, 2), cold(30.0, 3), *others]  # round 2: a busy host
    round_floors = {1: floor(20.0), 2: floor(30.0), 3: floor(23.0)}
    ratios = report.floor_ratios(results, round_floors)
    assert ratios == pytest.approx({1: 1.2, 2: 1.2, 3: 30.0 / 23.0})
    lowest = {key: min(f[key] for f in round_floors.values()) for key in round_floors[1]}
    line = {t["target"]: t for t in report.check_targets(results, lowest, round_floors)}
    floor_line = line[report.FLOOR_LINE]
    assert (floor_line["value"], floor_line["status"]) == (pytest.approx(1.2), "PASS")
    # the old statistic, printed beside: the median round (30 s) over the lowest floor (20 s)
    assert 30.0 / report.floor_cpu(lowest) == pytest.approx(1.5)
    worse = report.check_targets([cold(27.0, 1), cold(36.0, 2), cold(30.0, 3), *others], lowest,
                                 round_floors)  # fmt: skip
    assert {t["target"]: t for t in worse}[report.FLOOR_LINE]["status"] == "FAIL"  # 1.30
    assert {t["target"]: t for t in report.check_targets(results)}[report.FLOOR_LINE][
        "status"
    ] == "SKIP"


def test_explain_bounds_the_floor_line_by_fetching() -> None:
    """httpx alone over a quarter of the floor would mean the floor line cannot pass."""
    report = load("report")
    floor = {"entries": 1000.0, **{part: 0.4 for part in report.FLOOR_PARTS}}  # 2.0 s
    failed = {"target": report.FLOOR_LINE, "status": "FAIL", "value": 1.3, "limit": 1.25}
    for http_full, verdict in ((0.3, "reachable"), (0.6, "cannot pass")):
        http = {"full": http_full, "conditional": 0.1}
        why = report.explain([failed], floor, http, changed_entries=10, new_posts=1, cores=2)
        assert [(w["verdict"], w["least"]) for w in why] == [
            (verdict, pytest.approx((2.0 + http_full) / 2.0))
        ]


def test_instructions_count_what_one_more_entry_costs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/instructions.py: start-up (the same at both sizes) drops out, and a
    function's cost is summed over recursion levels and the build's paths."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # its neighbours, as when run
    instructions = load("instructions")
    counts = {
        ("floor", "small"): 1_000 + 240 * 10,  # start-up + 240 entries of 10
        ("floor", "large"): 1_000 + 840 * 10,
        ("cycle", "small"): 3_000 + 240 * 11,
        ("cycle", "large"): 3_000 + 840 * 11,
    }
    assert instructions.marginal(counts, 600) == {"floor": 10.0, "cycle": 11.0}
    listing = """\
--------------------------------------------------------------------------------
23,206,226,297 (100.0%)  PROGRAM TOTALS
--------------------------------------------------------------------------------
1,992,771,695 ( 8.59%)  /b/Python-3.11.7/Python/ceval.c:_PyEval_EvalFrameDefault'2 [/lib/libpy.so]
  786,717,825 ( 3.39%)  /b/Python-3.11.7/Python/ceval.c:_PyEval_EvalFrameDefault [/lib/libpy.so]
  278,082,390 ( 1.20%)  ???:0x000000000029ad80 [/usr/lib/x86_64-linux-gnu/libcrypto.so.3]
"""
    costs = instructions.annotated_costs(listing)
    assert costs == {
        "Python/ceval.c:_PyEval_EvalFrameDefault [/lib/libpy.so]": 2_779_489_520,
        "???:0x000000000029ad80 [/usr/lib/x86_64-linux-gnu/libcrypto.so.3]": 278_082_390,
    }
    profile = tmp_path / "callgrind.1"
    profile.write_text("# callgrind format\nversion: 1\nsummary: 23206226297\n")
    assert instructions.total(profile) == 23_206_226_297


def test_the_floor_line_needs_every_round_and_leans_neither_way() -> None:
    """A round whose floor failed is not dropped quietly (the line says SKIP); of an
    even number of rounds the median is their mean; reader's rounds are not Voice's."""
    report = load("report")

    def run(tool: str, cycle: str, cpu: float, number: int = 1):
        return report.CycleResult(tool, cycle, cpu, cpu, 0.0, 60.0, 0, 10, 10, 10, "", 0.0, number)

    def floor(total: float) -> dict[str, float]:
        return {"entries": 10.0, **{part: total / 5 for part in report.FLOOR_PARTS}}

    others = [run("voice", "warm", 0.8), run("voice", "changed", 1.4)]
    colds = [
        run("voice", "cold", 24.0, 1),
        run("voice", "cold", 36.0, 2),
        run("voice", "cold", 30.0, 3),
    ]
    floors = {1: floor(20.0), 2: floor(26.0), 3: floor(23.0)}  # 1.2, 1.385, 1.304

    def line(results, round_floors):
        targets = report.check_targets(results, None, round_floors)
        return {t["target"]: t for t in targets}[report.FLOOR_LINE]

    assert line([*colds, *others], floors)["status"] == "FAIL"  # 1.304
    without_two = {1: floors[1], 3: floors[3]}
    assert line([*colds, *others], without_two)["status"] == "SKIP"  # not 1.2, PASS
    two = line([*colds[:2], *others], {1: floors[1], 2: floors[2]})
    assert two["value"] == pytest.approx((1.2 + 36.0 / 26.0) / 2)  # not the lower, 1.2
    readers = [run("reader", "cold", 10.0, n) for n in (1, 2, 3)]  # far below any floor
    assert line([*colds, *others, *readers], floors)["value"] == pytest.approx(30.0 / 23.0)
