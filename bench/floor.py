"""What the parts issue 2 requires cost on their own, on the benchmark's corpus.

    .venv/bin/python bench/floor.py DIRECTORY

Run by bench/run.py before the timed cycles and again after them, each time
in its own process, on the same feed files. It is a lower bound for any cold
cycle built from those parts: no fetching, no worker processes, no entry
identity or hashing, no schedule, one process. Each part is timed with the
process's CPU clock:

- feedparser: `feedparser.parse` on the raw bytes with its sanitiser and URI
  resolution off (the issue's recipe), with Voice's expat text buffering
  (importing aggregator.parsing.parse names its buffered expat driver first in
  feedparser's parser list), the cheapest way Voice knows;
- nh3: `nh3.clean` of each entry's content with the default policy and
  http/https/mailto links only (no attribute callback);
- SQLite: storing each entry in a table with the columns of the issue's
  `posts` contract and an FTS5 index over title and text kept by a trigger,
  WAL with Voice's pragmas, one BEGIN IMMEDIATE transaction per feed, as
  Voice must (creating the schema is not timed);
- tagging and sketch: Voice's own `tagging.topics_for` and
  `sketch.signature` per entry, the per-post work issue 4 added.

Prints one JSON object: seconds per part and the number of entries.
"""

from __future__ import annotations

import io
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import feedparser
import nh3

import aggregator.parsing.parse  # noqa: F401  (feedparser parses with buffered expat)
from aggregator.analysis import sketch, tagging
from aggregator.parsing import sanitize
from aggregator.registry.topics import load_topics

TOPICS = Path(__file__).resolve().parent.parent / "topics.yaml"

_SCHEMA = """
    CREATE TABLE posts (
        id INTEGER PRIMARY KEY, feed_id INTEGER NOT NULL, entry_key TEXT NOT NULL,
        guid TEXT, url TEXT, title TEXT NOT NULL, author TEXT, published TEXT,
        updated TEXT, first_seen_at TEXT NOT NULL, summary_html TEXT, content_html TEXT,
        text TEXT NOT NULL, region TEXT, organisation TEXT, topics TEXT NOT NULL,
        duplicate_of INTEGER, UNIQUE (feed_id, entry_key)
    );
    CREATE VIRTUAL TABLE posts_fts USING fts5(title, text, content=posts, content_rowid=id);
    CREATE TRIGGER posts_ai AFTER INSERT ON posts BEGIN
        INSERT INTO posts_fts (rowid, title, text) VALUES (new.id, new.title, new.text);
    END;
"""
_INSERT = """
    INSERT INTO posts (feed_id, entry_key, guid, url, title, author, published, updated,
        first_seen_at, summary_html, content_html, text, region, organisation, topics)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'National', NULL, '[]')
"""


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    start = time.process_time()
    value = func()
    return time.process_time() - start, value


def content_of(entry: Any) -> str:
    contents = entry.get("content") or []
    return contents[0].get("value", "") if contents else entry.get("summary", "")


def open_db(db: Path) -> sqlite3.Connection:
    """An empty database set up as store.connect sets up Voice's."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint = 10000")
    conn.executescript(_SCHEMA)
    return conn


def store_all(conn: sqlite3.Connection, feeds: list[list[dict[str, Any]]]) -> None:
    for feed_id, rows in enumerate(feeds, 1):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            _INSERT,
            [
                (
                    feed_id,
                    row["key"],
                    row["key"],
                    row["link"],
                    row["title"],
                    row["author"],
                    row["published"],
                    row["published"],
                    "2026-01-01T00:00:00Z",
                    None,
                    row["html"],
                    row["text"],
                )
                for row in rows
            ],
        )
        conn.execute("COMMIT")


def measure(directory: Path) -> dict[str, float | int]:
    bodies = [path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file()]
    parse_s, parsed = timed(
        lambda: [
            feedparser.parse(io.BytesIO(b), sanitize_html=False, resolve_relative_uris=False)
            for b in bodies
        ]
    )
    entries = [list(p.entries) for p in parsed]
    schemes = {"http", "https", "mailto"}
    nh3_s, cleaned = timed(
        lambda: [[nh3.clean(content_of(e), url_schemes=schemes) for e in feed] for feed in entries]
    )
    feeds = [
        [
            {
                "key": e.get("id") or e.get("link") or str(i),
                "link": e.get("link"),
                "title": e.get("title", ""),
                "author": e.get("author"),
                "published": e.get("published"),
                "html": clean,
                "text": sanitize.text_of_clean_html(clean),
            }
            for i, (e, clean) in enumerate(zip(feed, cleans, strict=True))
        ]
        for feed, cleans in zip(entries, cleaned, strict=True)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        conn = open_db(Path(tmp) / "floor.db")
        store_s, _ = timed(lambda: store_all(conn, feeds))
        conn.close()
    vocabulary = load_topics(TOPICS)
    rows = [row for feed in feeds for row in feed]
    tag_s, _ = timed(
        lambda: [tagging.topics_for(r["title"], r["text"], (), (), vocabulary) for r in rows]
    )
    sketch_s, _ = timed(lambda: [sketch.signature(r["text"]) for r in rows])
    return {
        "entries": len(rows),
        "feedparser_s": parse_s,
        "nh3_s": nh3_s,
        "sqlite_fts_s": store_s,
        "tagging_s": tag_s,
        "sketch_s": sketch_s,
    }


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    print(json.dumps(measure(Path(sys.argv[1]))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
