"""A member's choices about their blog, applied to what the public file holds.

- display 'excerpt': every post of the blog is stored as its excerpt only
  (analysis.excerpt): summary_html holds the excerpt, content_html is NULL,
  and text, the search index, content_key and the MinHash sketch are made from
  the excerpt, so no route reaches the full text; tagging's evidence
  (post_topics.evidence) keeps only the words the excerpt shows (the topics
  stay: a label is not the text). Switching a blog to excerpts cuts its
  stored posts and their evidence in the same transaction as the switch;
  switching back forgets the blog's raw hashes and validators, so its next
  fetch stores every entry still in the feed in full again.
- paused: the blog is not fetched (see feeds.SCHEDULABLE) and its health says
  why; its posts stay public. Resuming makes it due at once.

Every function here runs inside the caller's transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from aggregator.analysis import identity, sketch
from aggregator.analysis.excerpt import excerpt_of, shown_in
from aggregator.health import explain
from aggregator.models import EntryData


def excerpt_entry(entry: EntryData) -> EntryData:
    """The entry as a blog showing excerpts only is stored: nothing of the full text."""
    cut = excerpt_of(entry.summary_html, entry.content_html)
    signature = sketch.signature(cut.text)
    return replace(
        entry,
        summary_html=cut.html,
        content_html=None,
        text=cut.text,
        topics=_shown_evidence(entry.topics, cut.text),
        content_key=identity.content_key(entry.title, cut.text),
        minhash=signature,
        lsh_keys=sketch.lsh_keys(entry.title, signature),
    )


def _shown_evidence(found: Sequence[tuple[Any, ...]], text: str) -> tuple[Any, ...]:
    """(topic, source, score[, evidence]) with only the evidence `text` shows."""
    return tuple(f[:3] + (shown_in(f[3], text),) if len(f) > 3 else f for f in found)


def cut_to_excerpts(conn: sqlite3.Connection, feed_id: int) -> int:
    """Replace the blog's stored posts by their excerpts; how many changed.

    Their topics stay; each topic's evidence keeps only what the excerpt shows.

    The search index is rebuilt by the posts' update trigger and then
    optimised, so the old terms leave the FTS segments too (as for takedowns).
    """
    rows = conn.execute(
        "SELECT id, title, summary_html, content_html, text FROM posts"
        " WHERE feed_id = ? AND removed_at IS NULL",
        [feed_id],
    ).fetchall()
    changed = []
    for post_id, title, summary, content, text in rows:
        cut = excerpt_of(summary, content)
        if content is None and cut.html == summary and cut.text == text:
            continue
        signature = sketch.signature(cut.text)
        changed.append((post_id, title, cut.html, cut.text, signature))
    for post_id, title, html, text, signature in changed:
        conn.execute(
            "UPDATE posts SET summary_html = ?, content_html = NULL, text = ?,"
            " content_key = ?, minhash = ? WHERE id = ?",
            [
                html,
                text,
                identity.content_key(title, text),
                sketch.pack(signature) or None,
                post_id,
            ],
        )
        conn.execute("DELETE FROM post_lsh WHERE post_id = ?", [post_id])
        conn.executemany(
            "INSERT OR IGNORE INTO post_lsh (band, post_id) VALUES (?, ?)",
            [(key, post_id) for key in sketch.lsh_keys(title, signature)],
        )
    if changed:
        conn.execute("INSERT INTO posts_fts (posts_fts) VALUES ('optimize')")
    _keep_shown_evidence(conn, feed_id)
    return len(changed)


def _keep_shown_evidence(conn: sqlite3.Connection, feed_id: int) -> None:
    """Each post's topic evidence cut to the words its stored (excerpt) text shows."""
    rows = conn.execute(
        "SELECT t.post_id, t.topic, t.evidence, p.text FROM post_topics t"
        " JOIN posts p ON p.id = t.post_id"
        " WHERE p.feed_id = ? AND p.removed_at IS NULL AND t.evidence IS NOT NULL",
        [feed_id],
    ).fetchall()
    cut = []
    for post_id, topic, evidence, text in rows:
        words = json.loads(evidence)
        shown = list(shown_in(words, text or ""))
        if shown != words:
            cut.append((json.dumps(shown, ensure_ascii=False) if shown else None, post_id, topic))
    conn.executemany("UPDATE post_topics SET evidence = ? WHERE post_id = ? AND topic = ?", cut)


def refetch_in_full(conn: sqlite3.Connection, feed_id: int) -> None:
    """Forget what the blog's last fetch saw, so the next one stores full posts again."""
    conn.execute(
        "UPDATE posts SET raw_hash = '' WHERE feed_id = ? AND removed_at IS NULL", [feed_id]
    )
    conn.execute(
        "UPDATE feeds SET body_hash = NULL, etag = NULL, last_modified = NULL,"
        " next_check_at = NULL WHERE id = ? AND status NOT IN ('gone', 'removed')",
        [feed_id],
    )


def apply_display(conn: sqlite3.Connection, urls: Sequence[str]) -> None:
    """The blogs whose display choice just changed: cut to excerpts, or refetch in full."""
    marks = ",".join("?" * len(urls))
    for feed_id, display in conn.execute(
        f"SELECT id, display FROM feeds WHERE url IN ({marks})", list(urls)
    ).fetchall():
        if display == "excerpt":
            cut_to_excerpts(conn, feed_id)
        else:
            refetch_in_full(conn, feed_id)


def apply_pause(conn: sqlite3.Connection, urls: Sequence[str]) -> None:
    """The blogs paused or resumed just now: their health says so, and a resumed one is due."""
    marks = ",".join("?" * len(urls))
    rows = conn.execute(
        f"SELECT id, status, error_kind, last_http_status, paused FROM feeds"
        f" WHERE url IN ({marks})",
        list(urls),
    ).fetchall()
    for feed_id, status, error_kind, http_status, paused in rows:
        health = explain(status, error_kind, http_status, paused=bool(paused))
        conn.execute(
            "UPDATE feeds SET explanation = ?,"
            " next_check_at = CASE WHEN ? THEN next_check_at ELSE NULL END WHERE id = ?",
            [health.explanation, paused, feed_id],
        )
