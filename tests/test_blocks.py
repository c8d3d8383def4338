"""Unchanged entries skip feedparser (parsing/blocks.py), and nothing a reader sees changes."""

from __future__ import annotations

import dataclasses
import random
import shutil
import sqlite3
from pathlib import Path

import feedparser
import pytest

from aggregator.errors import ParseError
from aggregator.models import FeedData, ParseJob
from aggregator.parsing import blocks
from aggregator.parsing.parse import feed_data, parse_feed, read_document
from aggregator.parsing.pool import ParsePool
from aggregator.update import update_feeds
from tests.support.feedserver import FeedServer

from .conftest import registry_for, rows
from .test_update import NOW

TESTS = Path(__file__).parent
CORPUS = TESTS.parents[1] / "shared" / "corpus" / "feedparser"
OWN = sorted(
    path
    for folder in ("parse", "update", "eval/feeds")
    for path in (TESTS / "data" / folder).iterdir()
    if path.suffix in {".xml", ".rss", ".atom", ".rdf"}
)
URL = "https://council.example/feed.xml"


def job_of(body: bytes, **changes: object) -> ParseJob:
    job = ParseJob(body, URL, "application/xml", "2026-12-07T10:00:00Z")
    return dataclasses.replace(job, **changes)


def read_whole(job: ParseJob) -> FeedData:
    """What parse_feed gave before blocks: feedparser on the whole document."""
    return dataclasses.replace(feed_data(job, read_document(job)), blocks=None)


def check_same_as_whole(path: Path, rng: random.Random) -> bool:
    """Parse with a random part of the first reading known; True if blocks were used."""
    try:
        first = parse_feed(job_of(path.read_bytes()))
    except ParseError:  # not a feed, read whole like any other: test_corpus.py
        return False
    if first.blocks is None:
        return False
    known = {e.entry_key: e.raw_hash for e in first.entries if rng.random() < 0.8}
    held = {block: (key, raw) for block, key, raw in first.blocks if rng.random() < 0.8}
    job = job_of(path.read_bytes(), known=known, known_blocks=held)
    again = parse_feed(job)
    assert dataclasses.replace(again, blocks=None) == read_whole(job), path
    assert again.blocks == first.blocks, path
    return True


def test_reading_with_blocks_gives_what_reading_whole_gives_on_voices_own_feeds() -> None:
    rng = random.Random(13)
    used = [path.name for path in OWN if check_same_as_whole(path, rng)]
    assert len(used) >= len(OWN) // 2, f"blocks used on only {used}"


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"feedparser corpus not found at {CORPUS}")
def test_reading_with_blocks_gives_what_reading_whole_gives_on_feedparsers_corpus() -> None:
    rng = random.Random(14)
    used = sum(check_same_as_whole(path, rng) for path in sorted(CORPUS.rglob("*.xml")))
    assert used > 1000  # of 2,106 documents; the others are read whole


def test_only_new_and_changed_entries_reach_feedparser(monkeypatch: pytest.MonkeyPatch) -> None:
    body = (TESTS / "data" / "parse" / "rss2.xml").read_bytes()
    first = parse_feed(job_of(body))
    assert first.blocks is not None and len(first.blocks) == 4
    known = {e.entry_key: e.raw_hash for e in first.entries}
    held = {block: (key, raw) for block, key, raw in first.blocks[1:]}  # the first is new
    seen: list[int] = []
    real = feedparser.parse

    def counting(*args: object, **kwargs: object) -> object:
        parsed = real(*args, **kwargs)
        seen.append(len(parsed["entries"]))
        return parsed

    monkeypatch.setattr(feedparser, "parse", counting)
    job = job_of(body, known={k: v for k, v in known.items() if k != first.blocks[0][1]})
    again = parse_feed(dataclasses.replace(job, known_blocks=held))
    assert seen == [1]
    assert [e.entry_key for e in again.entries] == [first.blocks[0][1]]
    assert again.seen_keys == first.seen_keys and again.total_entries == 4


def test_an_entry_whose_raw_hash_was_reset_is_read_again() -> None:
    """choices.py and takedowns set raw_hash to '' to have an entry processed again."""
    body = (TESTS / "data" / "parse" / "rss2.xml").read_bytes()
    first = parse_feed(job_of(body))
    assert first.blocks is not None
    known = {e.entry_key: e.raw_hash for e in first.entries}
    reset = first.entries[1].entry_key
    held = {block: (key, raw) for block, key, raw in first.blocks}
    job = job_of(body, known={**known, reset: ""}, known_blocks=held)
    assert [e.entry_key for e in parse_feed(job).entries] == [reset]


def spans_of(document: bytes) -> list[bytes] | None:
    layout = blocks.layout_of(document, "application/xml", URL, limit=3)
    return None if layout is None else [document[s:e] for s, e in layout.spans]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            b'<rss version="2.0"><channel a=">"><item/><item a="/>"><b/></item ></channel></rss>',
            [b"<item/>", b'<item a="/>"><b/></item >'],
            id="rss2",
        ),
        pytest.param(
            b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>1</id></entry>'
            b"</feed>",
            [b"<entry><id>1</id></entry>"],
            id="atom",
        ),
        pytest.param(
            b'<r:RDF xmlns:r="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            b'xmlns="http://purl.org/rss/1.0/"><channel/><item r:about="x"/></r:RDF>',
            [b'<item r:about="x"/>'],
            id="rss1",
        ),
        pytest.param(
            b'<?xml version="1.0" encoding="iso-8859-1"?><rss><channel><item/></channel></rss>',
            None,
            id="not-utf8-declared",
        ),
        pytest.param(b"<rss><channel><item>\xe9</item></channel></rss>", None, id="bad-utf8"),
        pytest.param(b"<rss><channel><item>&nbsp;</item></channel></rss>", None, id="malformed"),
        pytest.param(
            b'<!DOCTYPE rss SYSTEM "x.dtd"><rss><channel><item/></channel></rss>',
            None,
            id="doctype",
        ),
        pytest.param(b"<rss><channel/><item/></rss>", None, id="item-outside-channel"),
        pytest.param(b"<rss><channel><item><item/></item></channel></rss>", None, id="nested"),
        pytest.param(b"<rss><channel/><channel><item/></channel></rss>", None, id="two-channels"),
        pytest.param(b'<feed xmlns="http://purl.org/atom/ns#"><entry/></feed>', None, id="atom03"),
        pytest.param("<rss><channel><item/></channel></rss>".encode("utf-16"), None, id="utf16"),
        pytest.param(b"<rss><channel>" + b"<item/>" * 4 + b"</channel></rss>", None, id="limit"),
    ],
)
def test_which_documents_are_split_into_blocks(
    document: bytes, expected: list[bytes] | None
) -> None:
    assert spans_of(document) == expected


def test_a_blocks_hash_covers_its_context() -> None:
    """The same entry bytes under another xml:base, feed URL or rules mean another hash."""
    entry = b"<item><link>p/1</link></item>"
    plain = b'<rss version="2.0"><channel>' + entry + b"</channel></rss>"
    based = plain.replace(b'"2.0"', b'"2.0" xml:base="https://a.example/"')
    layouts = [
        blocks.layout_of(plain, None, URL, 10),
        blocks.layout_of(based, None, URL, 10),
        blocks.layout_of(plain, None, "https://b.example/feed", 10),
        blocks.layout_of(plain, "text/xml", URL, 10),
    ]
    assert len({layout.hashes for layout in layouts if layout is not None}) == 4


def posts_of(db: Path) -> list[tuple]:
    return rows(db, "SELECT * FROM posts ORDER BY id")


def test_a_cycle_keeps_the_blocks_privately_and_stores_what_reading_whole_stores(
    tmp_path: Path, feed_dir: Path, pool: ParsePool
) -> None:
    """Two blogs fetched twice, one with its blocks forgotten before the second fetch."""
    for name in ("a", "b"):
        shutil.copy(feed_dir / "blog.rss", feed_dir / f"{name}.rss")
    with FeedServer(feed_dir) as server:
        dbs = {name: tmp_path / name / "voice.db" for name in ("a", "b")}
        for name, db in dbs.items():
            db.parent.mkdir()
            update_feeds(registry_for(server.url(f"{name}.rss")), db, due_only=False,
                         clock=lambda: NOW, pool=pool)  # fmt: skip
            private = db.with_name("voice-private.db")
            (kept,) = rows(private, "SELECT blocks FROM entry_blocks")[0]
            assert kept.count('"') == 3 * 3 * 2  # three entries: hash, key, raw hash each
            if name == "b":
                with sqlite3.connect(private) as conn:
                    conn.execute("DELETE FROM entry_blocks")
            shutil.copy(feed_dir / "blog-next-week.rss", feed_dir / f"{name}.rss")
            result = update_feeds(registry_for(server.url(f"{name}.rss")), db, due_only=False,
                                  clock=lambda: NOW, pool=pool)  # fmt: skip
            assert (result.new_posts, result.updated_posts) == (1, 1)
    a, b = (posts_of(db) for db in dbs.values())
    assert [row[2:] for row in a] == [row[2:] for row in b]  # all but id and feed_id
    names = [r[0] for r in rows(dbs["a"], "SELECT name FROM sqlite_master")]
    assert "entry_blocks" not in names  # never in the file Datasette serves
