"""Shared fixtures: a real feed server on 127.0.0.1, a real SQLite file, a parse pool."""

from __future__ import annotations

import shutil
import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from aggregator.models import FeedSource, Registry, Settings
from aggregator.parsing.pool import ParsePool
from aggregator.storage.connection import private_path
from aggregator.update.worker import prepare_feed
from tests.support.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
DEMO_FEEDS = ROOT / "demo" / "feeds"


@pytest.fixture
def feed_dir(tmp_path: Path) -> Path:
    """Demo feeds and the update fixtures, in a directory tests may change."""
    target = tmp_path / "site"
    shutil.copytree(DEMO_FEEDS, target)
    for f in (DATA / "update").iterdir():
        shutil.copy(f, target / f.name)
    return target


@pytest.fixture
def server(feed_dir: Path) -> Iterator[FeedServer]:
    with FeedServer(feed_dir) as srv:
        yield srv


@pytest.fixture(scope="session")
def pool() -> Iterator[ParsePool]:
    with ParsePool(
        workers=2, memory_mb=768, cpu_seconds=10, wall_seconds=20, target=prepare_feed
    ) as p:
        yield p


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "voice.db"


def registry_for(*urls: str, **settings: object) -> Registry:
    """A registry of the given feed URLs, each in a different region."""
    base = replace(
        Settings(),
        allow_private_hosts=True,
        fetch_deadline=5.0,
        read_timeout=2.0,
        host_gap_seconds=0.0,  # every test feed is on one local server
    )
    regions = ["South East", "National", "London", "Wales", "North West"]
    feeds = tuple(
        FeedSource(url=u, region=regions[i % len(regions)], organisation=f"Org {i}")
        for i, u in enumerate(urls)
    )
    return Registry(settings=replace(base, **settings), feeds=feeds)


def write_registry(path: Path, *urls: str, region: str = "South East") -> Path:
    lines = ["settings:", "  host_gap_seconds: 0.0", "feeds:"]
    for u in urls:
        lines += [f"  - url: {u}", f"    region: {region}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def error_detail(db: Path, url_like: str) -> str | None:
    """The technical message of a feed's last error: kept in the private file only."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("ATTACH DATABASE ? AS private", [str(private_path(db))])
        found = conn.execute(
            "SELECT error FROM private.feed_errors JOIN feeds ON feeds.id = feed_id"
            " WHERE feeds.url LIKE ?",
            [url_like],
        ).fetchone()
        return found[0] if found else None
    finally:
        conn.close()


def rows(db: Path, sql: str, *params: object) -> list[tuple]:
    """Run one query on a test database, as a researcher would, and close it."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
