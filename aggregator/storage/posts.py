"""Storing a fetch's entries: new posts, edits in place, moved GUIDs and topic rows.

The schema these rows go into is the public contract (docs/schema.md).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from aggregator.analysis import identity, sketch
from aggregator.models import EntryData, SaveResult
from aggregator.storage.choices import excerpt_entry
from aggregator.storage.corrections import (
    INSERT_TOPIC,
    editor_choices,
    topic_rows,
    with_corrections,
)
from aggregator.storage.duplicates import entry_probe, link_duplicates, link_new_posts
from aggregator.storage.takedown import removed_keys

_UPSERT_POST = """
    INSERT INTO posts (feed_id, entry_key, guid, url, title, author, published, updated,
        first_seen_at, summary_html, content_html, text, region, organisation, categories,
        topics, raw_hash, url_key, content_key, evidence_key, minhash, public_key, is_backfill)
    VALUES (:feed_id, :entry_key, :guid, :url, :title, :author, coalesce(:published, :now),
        coalesce(:updated, :published, :now), :now, :summary_html, :content_html, :text,
        :region, :organisation, :categories, :topics, :raw_hash, :url_key, :content_key,
        :evidence_key, :minhash, :public_key, :is_backfill)
    ON CONFLICT (feed_id, entry_key) DO UPDATE SET
        guid = excluded.guid, url = excluded.url, title = excluded.title,
        author = excluded.author, published = coalesce(:published, posts.published),
        updated = coalesce(:updated, :published, posts.updated),
        summary_html = excluded.summary_html, content_html = excluded.content_html,
        text = excluded.text,
        categories = excluded.categories, topics = excluded.topics,
        raw_hash = excluded.raw_hash, url_key = excluded.url_key,
        content_key = excluded.content_key,
        evidence_key = excluded.evidence_key, minhash = excluded.minhash
    WHERE posts.raw_hash IS NOT excluded.raw_hash OR posts.topics IS NOT excluded.topics
"""


_MOVE_POST = """
    UPDATE posts SET entry_key = :entry_key, guid = :guid, url = :url, title = :title,
        author = :author, published = coalesce(:published, published),
        updated = coalesce(:updated, :published, updated), summary_html = :summary_html,
        content_html = :content_html, text = :text, categories = :categories,
        topics = :topics, raw_hash = :raw_hash, url_key = :url_key, content_key = :content_key,
        evidence_key = :evidence_key, minhash = :minhash
    WHERE id = :id
"""


def save_entries(
    conn: sqlite3.Connection,
    feed_id: int,
    entries: Sequence[EntryData],
    now: str,
    known_keys: frozenset[str],
    seen_keys: frozenset[str] = frozenset(),
    rules_version: str | None = None,
    backfill_keep: int | None = None,
) -> SaveResult:
    """Insert new entries, update changed ones in place, and recognise moved ones.

    The parse stage only hands over entries that are new or whose raw hash
    changed, so an entry already known is an update. An unknown key on a feed
    that has posts may be a post whose GUID changed (http to https, a new
    platform): if identity.find_moved_entry recognises it, that row takes the new
    key instead of a second copy being stored. A blog showing excerpts only has
    each entry cut to its excerpt first (choices.excerpt_entry).

    `backfill_keep` is given on a blog's first fetch: all its posts but the
    newest that many are its back catalogue (`posts.is_backfill`).
    """
    if not entries:
        return SaveResult(0, 0)
    gone = removed_keys(conn, feed_id)  # taken down at the member's request: never again
    entries = [e for e in entries if e.entry_key not in gone]
    if not entries:
        return SaveResult(0, 0)
    feed = conn.execute(
        "SELECT url, region, organisation, topics, display FROM feeds WHERE id = ?", [feed_id]
    ).fetchone()
    if feed["display"] == "excerpt":  # the member's choice: the full text is never stored
        entries = [excerpt_entry(e) for e in entries]
    upserts, moves = [], []
    made: dict[str, tuple[EntryData, identity.EntryKeys]] = {}  # what linking needs
    taken: set[int] = set()
    feed_topics = json.loads(feed["topics"])
    found = {e.entry_key: _found_topics(e, feed_topics, rules_version) for e in entries}
    for e in entries:
        keys = identity.entry_keys(e)
        values = {
            "feed_id": feed_id,
            "entry_key": e.entry_key,
            "guid": e.guid,
            "url": e.url,
            "title": e.title,
            "author": e.author,
            "published": e.published,
            "updated": e.updated,
            "summary_html": e.summary_html,
            "content_html": e.content_html,
            "text": e.text,
            "categories": json.dumps(list(e.categories)),
            "raw_hash": e.raw_hash,
            "now": now,
            "region": feed["region"],
            "organisation": feed["organisation"],
            "topics": topics_summary(found[e.entry_key]),
            "url_key": keys.url_key,
            "content_key": keys.content_key,
            "evidence_key": e.evidence_key,
            "minhash": sketch.pack(e.minhash) if e.minhash else None,
            # given once: an update or a move keeps the key the post was first stored with
            "public_key": identity.public_key(keys.url_key, feed["url"], e.entry_key),
            "is_backfill": 0,
        }
        moved = None
        if known_keys and e.entry_key not in known_keys:
            moved = _moved_from(conn, feed_id, keys, seen_keys)
            if moved in taken:  # two new entries claim one old post: keep both as posts
                moved = None
        if moved is None:
            upserts.append(values)
            made[e.entry_key] = (e, keys)
        else:
            taken.add(moved)
            moves.append({**values, "id": moved})
    # Ids are first-seen order, which the river follows: within one fetch the
    # oldest post gets the lowest id (feeds list newest first; undated ones count as oldest).
    upserts = sorted(reversed(upserts), key=lambda v: v["published"] or "")
    marked = backfill_keep is not None and _first_posts(conn, feed_id, upserts, moves)
    if marked:
        for v, flag in zip(upserts, backfill_flags(upserts, now, backfill_keep), strict=True):
            v["is_backfill"] = flag
    conn.executemany(_UPSERT_POST, upserts)
    conn.executemany(_MOVE_POST, moves)
    new_ids = _save_topics(conn, feed_id, found, rules_version or "feeds.yaml")
    new = [v["entry_key"] for v in upserts if v["entry_key"] not in known_keys]
    if backfill_keep is not None and new and not marked:
        _mark_backfill(conn, feed_id, backfill_keep)
    if len(set(new)) == len(new):
        link_new_posts(conn, [entry_probe(new_ids[k], *made[k]) for k in new])
    else:  # one key twice in a call (never from parse_feed): the row holds the last write
        link_duplicates(conn, [new_ids[k] for k in new])
    updated = sum(1 for v in upserts if v["entry_key"] in known_keys) + len(moves)
    return SaveResult(len(entries) - updated, updated)


def _first_posts(
    conn: sqlite3.Connection, feed_id: int, upserts: list[dict[str, Any]], moves: list[object]
) -> bool:
    """Whether `upserts` will be all the feed's posts, one row each: then the back
    catalogue can be marked as the rows go in, not rewritten after."""
    if moves or len({v["entry_key"] for v in upserts}) != len(upserts):
        return False
    found = conn.execute("SELECT 1 FROM posts WHERE feed_id = ? LIMIT 1", [feed_id])
    return found.fetchone() is None


def backfill_flags(upserts: Sequence[Mapping[str, Any]], now: str, keep: int) -> list[int]:
    """is_backfill for rows inserted in this order into a feed with no posts: what
    _mark_backfill's ORDER BY gives, newest stored date first, then the lower id
    (the earlier row), with an undated row stored as dated `now`."""
    dates = [now if v["published"] is None else v["published"] for v in upserts]
    newest = sorted(range(len(dates)), key=lambda i: (dates[i], -i), reverse=True)
    flags = [1] * len(dates)
    for i in newest[:keep]:
        flags[i] = 0
    return flags


def _mark_backfill(conn: sqlite3.Connection, feed_id: int, keep: int) -> None:
    """A blog's back catalogue: all its posts but the newest `keep` (first fetch only)."""
    conn.execute(
        """
        UPDATE posts SET is_backfill = 1
        WHERE feed_id = :feed_id AND id NOT IN (
            SELECT id FROM posts WHERE feed_id = :feed_id
            ORDER BY published DESC, id LIMIT :keep)
        """,
        {"feed_id": feed_id, "keep": keep},
    )


def _found_topics(
    entry: EntryData, feed_topics: list[str], rules_version: str | None
) -> tuple[tuple[str, str, float], ...]:
    """(topic, source, score) for an entry: tagged in the worker, else the blog's defaults."""
    return entry.topics if rules_version else tuple((t, "feed", 1.0) for t in feed_topics)


def topics_summary(found: Sequence[tuple[str, str, float]]) -> str:
    """posts.topics: the JSON array of the slugs in a post's post_topics rows, sorted."""
    return json.dumps(sorted({f[0] for f in found}))


def _save_topics(
    conn: sqlite3.Connection,
    feed_id: int,
    found: dict[str, tuple[tuple[str, str, float], ...]],
    version: str,
) -> dict[str, int]:
    """post_topics rows for the entries just saved (posts.topics went in with the row).

    An editor's corrections (storage.corrections) are applied on top, and
    posts.topics of a corrected post is rewritten to match. `found` maps
    each entry key to its (topic, source, score) assignments; the result
    maps each entry key to its post id.
    """
    keys = list(found)
    ids = dict(
        conn.execute(
            f"SELECT entry_key, id FROM posts WHERE feed_id = ? AND entry_key IN "
            f"({','.join('?' * len(keys))})",
            [feed_id, *keys],
        ).fetchall()
    )
    rows, saved, corrected = [], [], []
    choices = editor_choices(conn, list(ids.values()))
    for key, topics in found.items():
        post_id = ids.get(key)
        if post_id is None:
            continue
        if post_id in choices:  # an editor's choice outlives the post's edits
            topics = with_corrections(topics, choices[post_id])
            corrected.append((topics_summary(topics), post_id))
        rows += topic_rows(post_id, topics, version)
        saved.append((post_id,))
    conn.executemany("DELETE FROM post_topics WHERE post_id = ?", saved)
    conn.executemany(INSERT_TOPIC, rows)
    conn.executemany("UPDATE posts SET topics = ? WHERE id = ?", corrected)
    return ids


def _moved_from(
    conn: sqlite3.Connection, feed_id: int, keys: identity.EntryKeys, seen: frozenset[str]
) -> int | None:
    rows = conn.execute(
        """
        SELECT id, entry_key, url_key, content_key FROM posts
        WHERE feed_id = :feed_id AND (url_key = :url_key OR content_key = :content_key)
        """,
        {"feed_id": feed_id, "url_key": keys.url_key, "content_key": keys.content_key},
    ).fetchall()
    existing = [identity.ExistingPost(r[0], r[1], r[2], r[3] or "") for r in rows]
    return identity.find_moved_entry(keys, existing, still_in_feed=seen)
