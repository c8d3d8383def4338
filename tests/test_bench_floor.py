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
