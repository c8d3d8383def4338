"""Editors' topic corrections: set or remove a post's topic, and make it stick.

An editor's decision is public and nameless: `editor_topics` holds one row
per post and topic, `added` or `removed`. An added topic is also a
`post_topics` row with source `editor`; a removed one has no row. Who
decided and when go to the private file (`topic_corrections`), since
operators' names are never served.

Every writer of `post_topics` passes its rows through `with_corrections`:
the fetch (`posts._save_topics`), `voice retag` (`admin.retag_posts`) and
a blog's default topics (`feeds._apply_feed_topics`, in SQL). So rules,
categories and defaults never bring back a removed topic or take away an
added one.

A copy (a post with `duplicate_of`) is refused, naming its canonical post:
only the canonical post is shown, so a correction on a copy would change
nothing a reader sees, and the labelled set should record a judgment of the
text the public reads (a copy may be a cut-down excerpt).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aggregator.errors import ConfigError
from aggregator.storage.connection import transaction

EDITOR = "editor"  # post_topics.source and rules_version of an editor's rows
ADDED, REMOVED = "added", "removed"

Found = tuple[tuple[str, str, float], ...]  # (topic, source, score[, evidence words])
INSERT_TOPIC = "INSERT INTO post_topics VALUES (?, ?, ?, ?, ?, ?)"  # topic_rows' rows
Choices = Mapping[str, str]  # topic -> ADDED or REMOVED


def with_corrections(found: Sequence[tuple[str, str, float]], choices: Choices) -> Found:
    """A post's (topic, source, score) after its editor's choices: pure.

    A removed topic goes whatever found it; an added topic is the editor's
    (score 1.0), replacing whatever else found it too.
    """
    if not choices:
        return tuple(found)
    kept = [f for f in found if f[0] not in choices]
    added = [(topic, EDITOR, 1.0) for topic, action in sorted(choices.items()) if action == ADDED]
    return tuple(kept + added)


def topic_rows(
    post_id: int, found: Sequence[tuple[Any, ...]], version: str
) -> list[tuple[int, str, str, float, str, str | None]]:
    """post_topics rows; an editor's rows record `editor` as their version.

    `found` holds (topic, source, score) or (topic, source, score, evidence),
    evidence being the words and phrases tagging found (stored as JSON).
    """
    return [
        (post_id, f[0], f[1], f[2], EDITOR if f[1] == EDITOR else version, evidence_json(f))
        for f in found
    ]


def evidence_json(found: tuple[Any, ...]) -> str | None:
    """post_topics.evidence of one assignment: a JSON array, or None when there is none."""
    return json.dumps(list(found[3]), ensure_ascii=False) if len(found) > 3 and found[3] else None


def editor_choices(conn: sqlite3.Connection, post_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """post id -> {topic: action} for the posts among `post_ids` an editor corrected."""
    choices: dict[int, dict[str, str]] = {}
    ids = list(post_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for post_id, topic, action in conn.execute(
            "SELECT post_id, topic, action FROM editor_topics"
            f" WHERE post_id IN ({','.join('?' * len(chunk))})",
            chunk,
        ):
            choices.setdefault(post_id, {})[topic] = action
    return choices


@dataclass(frozen=True)
class CorrectionResult:
    """What `set_topics` left: the post's topics now, and what this call changed."""

    post_id: int
    topics: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]


def set_topics(
    conn: sqlite3.Connection,
    post_id: int,
    *,
    add: Sequence[str],
    remove: Sequence[str],
    by: str,
    now: str,
) -> CorrectionResult:
    """Record an editor's choice for one post, in one transaction with its topics.

    The caller validates the slugs against topics.yaml; an unknown, taken-down
    or copied post is a ConfigError naming what to do instead.
    """
    both = sorted(set(add) & set(remove))
    if both:
        raise ConfigError(f"topic {both[0]!r} is both added and removed; choose one")
    if not add and not remove:
        raise ConfigError("nothing to change: give --add TOPIC or --remove TOPIC")
    with transaction(conn):
        post = conn.execute(
            "SELECT id, duplicate_of, removed_at FROM posts WHERE id = ?", [post_id]
        ).fetchone()
        if post is None:
            raise ConfigError(f"post {post_id}: no such post")
        if post["removed_at"] is not None:
            raise ConfigError(f"post {post_id}: taken down, so it has no topics to correct")
        if post["duplicate_of"] is not None:
            raise ConfigError(
                f"post {post_id} is a copy of post {post['duplicate_of']}, which is the one "
                f"shown; correct post {post['duplicate_of']} instead"
            )
        current = conn.execute(
            "SELECT topic, source, score, rules_version, evidence FROM post_topics"
            " WHERE post_id = ?",
            [post_id],
        ).fetchall()
        had = {r["topic"]: r["rules_version"] for r in current}
        said = {r["topic"]: r["evidence"] for r in current}
        decided = [(t, ADDED) for t in dict.fromkeys(add)] + [
            (t, REMOVED) for t in dict.fromkeys(remove)
        ]
        conn.executemany(
            "INSERT INTO editor_topics (post_id, topic, action) VALUES (?, ?, ?)"
            " ON CONFLICT (post_id, topic) DO UPDATE SET action = excluded.action",
            [(post_id, t, a) for t, a in decided],
        )
        conn.executemany(
            "INSERT INTO private.topic_corrections"
            " (post_id, topic, action, corrected_by, corrected_at) VALUES (?, ?, ?, ?, ?)",
            [(post_id, t, a, by, now) for t, a in decided],
        )
        choices = editor_choices(conn, [post_id]).get(post_id, {})
        found = with_corrections([tuple(r)[:3] for r in current], choices)
        conn.execute("DELETE FROM post_topics WHERE post_id = ?", [post_id])
        conn.executemany(  # the rows tagging made keep the version that made them
            INSERT_TOPIC,
            [
                (
                    post_id,
                    topic,
                    source,
                    score,
                    *((EDITOR, None) if source == EDITOR else (had[topic], said[topic])),
                )
                for topic, source, score in found
            ],
        )
        topics = tuple(sorted({t for t, _, _ in found}))
        conn.execute(
            "UPDATE posts SET topics = ? WHERE id = ?", [json.dumps(list(topics)), post_id]
        )
    return CorrectionResult(
        post_id,
        topics,
        added=tuple(t for t in dict.fromkeys(add) if t not in had),
        removed=tuple(t for t in dict.fromkeys(remove) if t in had),
    )


def export_corrections(conn: sqlite3.Connection) -> Iterator[dict[str, object]]:
    """One record per corrected post still public or a copy, in post id order.

    For growing the labelled set: the post's identity (feed URL and guid, as
    in gold.json), what the editors added and removed, its topics now, and
    who corrected it when (from the private file: an operator's export, not
    something to publish).
    """
    posts = conn.execute(
        """
        SELECT p.id, f.url AS feed_url, p.guid, p.title, p.url, p.topics, p.duplicate_of
        FROM posts p JOIN feeds f ON f.id = p.feed_id
        WHERE p.removed_at IS NULL AND p.id IN (SELECT post_id FROM editor_topics)
        ORDER BY p.id
        """
    ).fetchall()
    for post in posts:
        choices = conn.execute(
            "SELECT topic, action FROM editor_topics WHERE post_id = ? ORDER BY topic",
            [post["id"]],
        ).fetchall()
        history = conn.execute(
            "SELECT topic, action, corrected_by, corrected_at FROM private.topic_corrections"
            " WHERE post_id = ? ORDER BY id",
            [post["id"]],
        ).fetchall()
        yield {
            "post_id": post["id"],
            "feed_url": post["feed_url"],
            "guid": post["guid"],
            "title": post["title"],
            "url": post["url"],
            "added": [c["topic"] for c in choices if c["action"] == ADDED],
            "removed": [c["topic"] for c in choices if c["action"] == REMOVED],
            "topics": json.loads(post["topics"]),
            "duplicate_of": post["duplicate_of"],
            "by": list(dict.fromkeys(h["corrected_by"] for h in history)),
            "at": history[-1]["corrected_at"] if history else None,
            "history": [
                {"topic": h["topic"], "action": h["action"], "by": h["corrected_by"],
                 "at": h["corrected_at"]}
                for h in history
            ],
        }  # fmt: skip
