"""Cross-feed duplicate links, written inside the caller's transaction.

Part of the store stage: the rules are similarity.duplicate_match; this
module finds candidates through the database's indexes and records the links.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import NamedTuple

from aggregator.analysis import identity, similarity, sketch

_FINGERPRINT_SQL = """
    SELECT posts.id, posts.feed_id, posts.author, posts.published, posts.url,
           posts.evidence_key, posts.title, posts.minhash,
           posts.duplicate_of, posts.text, feeds.author IS NOT NULL AS own_blog
    FROM posts JOIN feeds ON feeds.id = posts.feed_id
"""


def _fingerprint(row: sqlite3.Row) -> similarity.Fingerprint:
    return similarity.fingerprint(
        post_id=row["id"],
        feed_id=row["feed_id"],
        author=row["author"],
        published=row["published"],
        url=row["url"],
        title=row["title"],
        text=row["text"],
        evidence_key=row["evidence_key"],
        own_blog=bool(row["own_blog"]),
        signature=sketch.unpack(row["minhash"]),
    )


def link_duplicates(conn: sqlite3.Connection, post_ids: Sequence[int]) -> int:
    """Make each new post a copy of an earlier one, or the canonical of its copies.

    Candidates come only through indexes (same URL key, a claimed original,
    same content key, a shared MinHash band or title key) and only among
    earlier posts, so a rebuild in id order repeats the incremental decisions;
    the rules and their guards are similarity.duplicate_match. Every post
    stays stored: copies point at one canonical post through duplicate_of,
    each with the rule and score that linked it in duplicate_reason. When a
    new post takes the lead (the member's own copy arriving after a copy
    elsewhere), only duplicate_of moves: each earlier copy keeps its reason.
    A new post that matches posts of several clusters joins them into one.
    Returns how many new posts were linked.
    """
    linked = 0
    for post_id in sorted(post_ids):  # earlier posts first, as they were stored
        row = conn.execute(_FINGERPRINT_SQL + " WHERE posts.id = ?", [post_id]).fetchone()
        if row is None:
            continue
        probe = _probe(row)
        keys = similarity.lsh_keys(row["title"], probe.signature)
        conn.executemany(
            "INSERT OR IGNORE INTO post_lsh (band, post_id) VALUES (?, ?)",
            [(key, post_id) for key in keys],
        )
        candidates = _candidates(conn, probe, keys)
        if not candidates:
            continue  # most posts: no fingerprint needed (its shingles are most of the cost)
        new = _fingerprint(row)
        best: dict[int, similarity.Match] = {}  # cluster root -> the strongest match into it
        seen: dict[int, similarity.Fingerprint] = {}
        for old, root in candidates:
            seen[old.post_id] = old
            match = similarity.duplicate_match(new, old)
            if match is not None and (root not in best or match.score > best[root].score):
                best[root] = match
        if not best:
            continue
        # A root is usually a candidate already: reuse its fingerprint (its shingles).
        missing = [r for r in best if r not in seen]
        seen.update((r["id"], _fingerprint(r)) for r in _rows(conn, missing))
        roots = [seen[r] for r in sorted(best)]
        partial = [m.partial for m in best.values() if m.partial is not None]
        canonical = similarity.choose_canonical([*roots, new], partial)
        # The new post may join several clusters (a teaser of the member's post
        # and a Medium copy of it, stored before the post itself): they become
        # one. Only duplicate_of moves; a former canonical gets the reason of
        # the match that joined it, every other copy keeps its own.
        for root_id, match in best.items():
            if root_id == canonical:
                continue
            conn.execute(
                "UPDATE posts SET duplicate_of = ? WHERE duplicate_of = ?", [canonical, root_id]
            )
            conn.execute(
                "UPDATE posts SET duplicate_of = ?, duplicate_reason = ? WHERE id = ?",
                [canonical, _reason(match), root_id],
            )
        if canonical != post_id:
            conn.execute(
                "UPDATE posts SET duplicate_of = ?, duplicate_reason = ? WHERE id = ?",
                [canonical, _reason(best[canonical]), post_id],
            )
        linked += 1
    return linked


class _Probe(NamedTuple):
    """What finding a post's candidates needs: the Fingerprint's keys, without its shingles."""

    post_id: int
    url_key: str | None
    evidence_key: str | None
    content_key: str
    signature: tuple[int, ...]


def _probe(row: sqlite3.Row) -> _Probe:
    """The keys `_fingerprint(row)` would give, computed as `fingerprints.fingerprint` does.

    The signature is the stored one: the worker sketched the stored text, and
    every writer of `posts.text` writes its `minhash` with it (or NULL, when
    it is computed here as the fingerprint would).
    """
    url_key = identity.canonical_url(row["url"]) if row["url"] else None
    evidence_key = row["evidence_key"]
    return _Probe(
        post_id=row["id"],
        url_key=url_key,
        evidence_key=evidence_key if evidence_key != url_key else None,
        content_key=identity.content_key(row["title"], row["text"]),
        signature=sketch.unpack(row["minhash"]) or sketch.signature(row["text"]),
    )


def _reason(match: similarity.Match) -> str:
    return f"{match.rule} {match.score:.2f}"


def _rows(conn: sqlite3.Connection, ids: Sequence[int]) -> list[sqlite3.Row]:
    if not ids:
        return []
    return conn.execute(
        _FINGERPRINT_SQL + f" WHERE posts.id IN ({_marks(ids)})", list(ids)
    ).fetchall()


def _candidates(
    conn: sqlite3.Connection,
    new: _Probe,
    keys: Sequence[str],
    limit: int = 50,
    title_limit: int = 20,
) -> list[tuple[similarity.Fingerprint, int]]:
    """Posts that may be the same as `new`, each with the canonical post of its cluster.

    Titles repeat ("Weeknotes"), so posts found only by a title key are a
    separate, smaller list of the most recent, where copies are.
    """
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
    bands = [k for k in keys if not k.startswith("t:")]
    titles = [k for k in keys if k.startswith("t:")]
    if bands:
        clauses.append(f"posts.id IN ({_KEYED} ({_marks(bands)}))")
        params.extend(bands)
    queries = []
    if clauses:
        queries.append((f"({' OR '.join(clauses)}) ORDER BY posts.id LIMIT {limit}", params))
    if titles:
        queries.append((
            f"posts.id IN ({_KEYED} ({_marks(titles)}))"
            f" ORDER BY posts.id DESC LIMIT {title_limit}",
            titles,
        ))  # fmt: skip
    found: dict[int, sqlite3.Row] = {}
    for where, values in queries:
        for r in conn.execute(
            _FINGERPRINT_SQL + f" WHERE posts.id < ? AND posts.hidden = 0 AND {where}",
            [new.post_id, *values],
        ):
            found.setdefault(r["id"], r)
    return [(_fingerprint(r), r["duplicate_of"] or r["id"]) for _, r in sorted(found.items())]


_KEYED = "SELECT post_id FROM post_lsh WHERE band IN"


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))
