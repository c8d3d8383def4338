"""What everything a cold cycle must do per entry costs on its own, on the benchmark's corpus.

    .venv/bin/python bench/floor.py DIRECTORY [--parts-only]

Run by bench/run.py before the timed cycles and again after them, each time
in its own process, on the same feed files. It times Voice's own per-entry
work with the process's CPU clock, in one process: no fetching, no worker
processes, no pickling, no event loop, no schedule. A cycle that does no more
than this, however well the rest is done, costs at least this much; issue 13
asks for a cycle within 1.25x of it, so the floor hides no work:

- feedparser: `feedparser.parse` on the raw bytes with its sanitiser and URI
  resolution off and Voice's expat text buffering, as parse_feed calls it;
- normalise: what parse_feed does with feedparser's entries (keys, raw hashes,
  dates, links, titles, authors, categories, sanitised HTML with nh3 as
  called, text, url and content keys); `nh3` is the part of it spent in
  `sanitize.clean_html` (printed, not added again);
- sketch and tagging: `sketch.sketch_feed` and `tagging.tag_feed`, as the
  parse workers run them;
- store: `storage.save_updates` on a fresh Voice database, ten feeds to a
  transaction as the cycle's writer batches them: posts with their FTS5
  index, topic rows, duplicate linking (fingerprint, LSH rows, candidates),
  feed state and fetch log;
  `sqlite_fts` is a bare table with the issue's `posts` columns and an FTS5
  index (printed, for comparison).

Prints one JSON object: seconds per part and the number of entries.
`--parts-only` leaves out what is printed beside the parts (`nh3`, which
repeats work, and `sqlite_fts`): bench/instructions.py counts the
instructions of exactly the floor's parts.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from aggregator import storage
from aggregator.analysis import sketch, tagging
from aggregator.analysis.vocabulary import Vocabulary
from aggregator.models import EntryData, FeedData, FeedUpdateRecord, ParseJob
from aggregator.parsing import entries as normalising
from aggregator.parsing.parse import feed_data, read_document
from aggregator.registry.feeds import load_registry
from aggregator.registry.topics import load_topics
from aggregator.storage import feeds as stored_feeds
from aggregator.update.cycle import STORES

TOPICS = Path(__file__).resolve().parent.parent / "topics.yaml"
NOW = datetime(2026, 1, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
T = TypeVar("T")

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


def open_db(db: Path) -> sqlite3.Connection:
    """An empty database set up as store.connect sets up Voice's."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint = 10000")
    conn.executescript(_SCHEMA)
    return conn


def store_bare(conn: sqlite3.Connection, feeds: list[FeedData]) -> None:
    """The entries into the bare contract table: the least any SQLite store could do.

    In transactions of as many feeds as the cycle's (STORES[1]).
    """
    numbered = list(enumerate(feeds, 1))
    for batch in as_cycle_batches(numbered):
        conn.execute("BEGIN IMMEDIATE")
        for feed_id, data in batch:
            conn.executemany(_INSERT, [_bare_row(feed_id, e) for e in data.entries])
        conn.execute("COMMIT")


def as_cycle_batches(items: list[T]) -> list[list[T]]:
    """`items` in runs of as many as the cycle writes to a transaction (STORES[1])."""
    most = STORES[1]
    return [items[i : i + most] for i in range(0, len(items), most)]


def _bare_row(feed_id: int, e: EntryData) -> tuple[object, ...]:
    return (
        feed_id, e.entry_key, e.guid, e.url, e.title, e.author, e.published, e.updated, NOW,
        e.summary_html, e.content_html, e.text,
    )  # fmt: skip


def records(
    conn: sqlite3.Connection, jobs: list[ParseJob], feeds: list[FeedData]
) -> list[FeedUpdateRecord]:
    """What the cycle would hand storage.save_update for each feed (built untimed)."""
    ids = dict(conn.execute("SELECT url, id FROM feeds"))
    return [
        FeedUpdateRecord(
            feed_id=ids[job.url],
            started_at=NOW,
            duration_ms=0,
            outcome="ok",
            status="ok",
            next_check_at=NOW,
            error_count=0,
            http_status=200,
            body_hash=str(i),
            feed_title=data.title,
            site_url=data.site_url,
            entries=data.entries,
            seen_keys=frozenset(data.seen_keys),
            rules_version=data.rules_version,
            backfill_keep=10,
        )
        for i, (job, data) in enumerate(zip(jobs, feeds, strict=True))
    ]


def store_voice(
    directory: Path, jobs: list[ParseJob], feeds: list[FeedData], vocabulary: Vocabulary
) -> float:
    """CPU seconds of storing every feed on a fresh Voice database, as a cold cycle does.

    That is in transactions of STORES[1] feeds on a connection set up for
    them (storage.tune_for_batches), as the cycle's writer does since the
    eighth session: one feed to a transaction would count work the cycle
    no longer does.
    """
    config = directory / "feeds.yaml"
    listed = "".join(f"  - url: {job.url}\n    region: National\n" for job in jobs)
    config.write_text("feeds:\n" + listed)
    conn = storage.connect(directory / "voice.db")
    storage.tune_for_batches(conn)
    try:
        stored_feeds.sync_feeds(conn, load_registry(config).feeds, NOW)
        stored_feeds.sync_topics(
            conn, [(t.slug, t.label, t.description) for t in vocabulary.topics]
        )
        todo = records(conn, jobs, feeds)
        batches = as_cycle_batches(todo)
        store_s, _ = timed(lambda: [storage.save_updates(conn, batch) for batch in batches])
    finally:
        conn.close()
    return store_s


def clean_as_called(job: ParseJob, parsed: Any) -> None:
    """sanitize.clean_html on what entry_data cleans: the content, and a summary that differs."""
    for entry in parsed.get("entries") or []:
        content = normalising._pick_content(entry)
        summary = entry.get("summary_detail") or (
            {"value": entry["summary"], "type": "text/html"} if entry.get("summary") else None
        )
        if content:
            normalising._clean(content, job)
        if summary and (not content or summary.get("value") != content.get("value")):
            normalising._clean(summary, job)


def measure(directory: Path, asides: bool = True) -> dict[str, float | int]:
    jobs = [
        ParseJob(body=path.read_bytes(), url=f"http://127.0.0.1/{path.name}",
                 content_type=None, fetched_at=NOW)
        for path in sorted(directory.iterdir())
        if path.is_file()
    ]  # fmt: skip
    parse_s, parsed = timed(lambda: [read_document(job) for job in jobs])
    normalise_s, feeds = timed(
        lambda: [feed_data(job, p) for job, p in zip(jobs, parsed, strict=True)]
    )
    nh3_s, _ = (
        timed(lambda: [clean_as_called(job, p) for job, p in zip(jobs, parsed, strict=True)])
        if asides
        else (0.0, None)
    )
    vocabulary = load_topics(TOPICS)
    sketch_s, feeds = timed(lambda: [sketch.sketch_feed(data) for data in feeds])
    tag_s, feeds = timed(lambda: [tagging.tag_feed(data, vocabulary, ()) for data in feeds])
    with tempfile.TemporaryDirectory() as tmp:
        bare_s = 0.0
        if asides:
            conn = open_db(Path(tmp) / "floor.db")
            bare_s, _ = timed(lambda: store_bare(conn, feeds))
            conn.close()
        store_s = store_voice(Path(tmp), jobs, feeds, vocabulary)
    entries: list[EntryData] = [e for data in feeds for e in data.entries]
    return {
        "entries": len(entries),
        "feedparser_s": parse_s,
        "normalise_s": normalise_s,
        "sketch_s": sketch_s,
        "tagging_s": tag_s,
        "store_s": store_s,
        "nh3_s": nh3_s,  # within normalise_s
        "sqlite_fts_s": bare_s,  # for comparison with store_s
    }


def main() -> int:
    args = sys.argv[1:]
    parts_only = "--parts-only" in args
    if parts_only:
        args.remove("--parts-only")
    if len(args) != 1:
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    print(json.dumps(measure(Path(args[0]), asides=not parts_only)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
