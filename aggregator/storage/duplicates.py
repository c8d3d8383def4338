"""Cross-feed duplicate links, written inside the caller's transaction.

Part of the store stage: the rules are similarity.duplicate_match; this
module finds candidates through the database's indexes and records the links.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from aggregator.analysis import identity, similarity, sketch

_FINGERPRINT_SQL = """
    SELECT posts.id, posts.feed_id, posts.author, posts.published, posts.url_key,
           posts.evidence_key, posts.title, posts.content_key, posts.minhash,
           posts.duplicate_of, posts.text, feeds.author IS NOT NULL AS own_blog
    FROM posts JOIN feeds ON feeds.id = posts.feed_id
"""


def _fingerprint(row: sqlite3.Row, exact: bool = False) -> similarity.Fingerprint:
    return similarity.Fingerprint(
        post_id=row["id"],
        feed_id=row["feed_id"],
        author=row["author"],
        published=datetime.fromisoformat(row["published"]),  # "...Z": aware UTC
        url_key=row["url_key"],
        evidence_key=row["evidence_key"],
        title_key=identity.title_key(row["title"]),
        content_key=row["content_key"] or "",
        title_numbers=similarity.title_numbers(row["title"]),
        signature=sketch.unpack(row["minhash"]),
        own_blog=bool(row["own_blog"]),
        shingle_set=similarity.comparable_shingles(row["text"]) if exact else frozenset(),
    )


def link_duplicates(conn: sqlite3.Connection, post_ids: Sequence[int]) -> int:
    """Make each new post a copy of an earlier one, or the canonical of its copies.

    Candidates come only through indexes (same URL key, a claimed original,
    same content key, a shared MinHash band) and only among earlier posts, so
    a rebuild in id order repeats the incremental decisions; the rules
    and their guards are similarity.duplicate_match. Every post stays stored:
    copies point at one canonical post through duplicate_of, with the rule
    and score in duplicate_reason. Returns how many new posts were linked.
    """
    linked = 0
    for post_id in sorted(post_ids):  # earlier posts first, as they were stored
        row = conn.execute(_FINGERPRINT_SQL + " WHERE posts.id = ?", [post_id]).fetchone()
        if row is None:
            continue
        new = _fingerprint(row)
        bands = sketch.band_keys(new.signature) if new.signature else ()
        conn.executemany(
            "INSERT OR IGNORE INTO post_lsh (band, post_id) VALUES (?, ?)",
            [(band, post_id) for band in bands],
        )
        candidates = _candidates(conn, new, bands)
        if candidates:  # few: compare exact shingles, not the signatures' estimate
            new = replace(new, shingle_set=similarity.comparable_shingles(row["text"]))
        matches = [
            (root, match)
            for old, root in candidates
            if (match := similarity.duplicate_match(new, old)) is not None
        ]
        if not matches:
            continue
        root_id, match = max(matches, key=lambda m: m[1].score)
        root_row = conn.execute(_FINGERPRINT_SQL + " WHERE posts.id = ?", [root_id]).fetchone()
        root = _fingerprint(root_row)
        canonical = similarity.choose_canonical([root, new])
        reason = f"{match.rule} {match.score:.2f}"
        if canonical == new.post_id:  # the member's own copy arrived later: it leads
            conn.execute(
                "UPDATE posts SET duplicate_of = ?, duplicate_reason = ? "
                "WHERE id = ? OR duplicate_of = ?",
                [new.post_id, reason, root_id, root_id],
            )
        else:
            conn.execute(
                "UPDATE posts SET duplicate_of = ?, duplicate_reason = ? WHERE id = ?",
                [root_id, reason, post_id],
            )
        linked += 1
    return linked


def _candidates(
    conn: sqlite3.Connection, new: similarity.Fingerprint, bands: Sequence[str], limit: int = 50
) -> list[tuple[similarity.Fingerprint, int]]:
    """Posts that may be the same as `new`, each with the canonical post of its cluster."""
    clauses, params = [], []
    for column, value in (
        ("url_key", new.url_key),
        ("url_key", new.evidence_key),
        ("evidence_key", new.url_key),
        ("evidence_key", new.evidence_key),
    ):
        if value:
            clauses.append(f"posts.{column} = ?")
            params.append(value)
    if new.content_key.startswith("c:"):
        clauses.append("posts.content_key = ?")
        params.append(new.content_key)
    if bands:
        marks = ",".join("?" * len(bands))
        clauses.append(f"posts.id IN (SELECT post_id FROM post_lsh WHERE band IN ({marks}))")
        params.extend(bands)
    if not clauses:
        return []
    rows = conn.execute(
        _FINGERPRINT_SQL + f" WHERE posts.id < ? AND posts.hidden = 0 AND ({' OR '.join(clauses)})"
        f" ORDER BY posts.id LIMIT {limit}",
        [new.post_id, *params],
    ).fetchall()
    return [(_fingerprint(r, exact=True), r["duplicate_of"] or r["id"]) for r in rows]
