"""bench/floor.py, the benchmark's lower bound, times every part on every entry."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import feedparser

from .conftest import DEMO_FEEDS

ROOT = Path(__file__).resolve().parents[1]


def load_floor():  # bench/floor.py is a script, not a package module
    spec = importlib.util.spec_from_file_location("voice_floor", ROOT / "bench" / "floor.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_floor_times_each_part_over_every_entry_of_the_demo_feeds() -> None:
    expected = sum(
        len(feedparser.parse(io.BytesIO(path.read_bytes())).entries)
        for path in DEMO_FEEDS.iterdir()
    )
    floor = load_floor().measure(DEMO_FEEDS)
    assert floor["entries"] == expected > 0
    parts = ("feedparser_s", "nh3_s", "sqlite_fts_s", "tagging_s", "sketch_s")
    assert all(floor[part] > 0 for part in parts), floor
