"""Cross-feed duplicate links, written inside the caller's transaction.

Part of the store stage: the rules are similarity.duplicate_match; this
module finds candidates through the database's indexes and records the links.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

from aggregator.analysis import identity, similarity, sketch
from aggregator.models import EntryData

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
    """`link_new_posts` for stored posts known by id (`voice dedupe --rebuild`)."""
    ids = sorted(set(post_ids))
    rows = [r for chunk in _chunks(ids) for r in _rows(conn, chunk)]
    return link_new_posts(conn, [_probe(r) for r in rows])


def link_new_posts(conn: sqlite3.Connection, probes: Sequence[Probe]) -> int:
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

    The posts' `post_lsh` rows go in as one sorted batch, and one probe of
    the indexes for all of them (`_with_earlier`) says which posts share a
    key with an earlier post at all: only those run the candidate queries,
    which give the same candidates as before (a post's candidates are
    earlier posts, so no post's rows change another's). Returns how many new
    posts were linked.
    """
    probes = sorted(probes, key=lambda p: p.post_id)  # earlier posts first, as they were stored
    conn.executemany(
        "INSERT OR IGNORE INTO post_lsh (band, post_id) VALUES (?, ?)",
        sorted((key, p.post_id) for p in probes for key in p.keys),
    )
    maybe = _with_earlier(conn, probes)
    return sum(_link(conn, p) for p in probes if p.post_id in maybe)


def _link(conn: sqlite3.Connection, probe: Probe) -> bool:
    """Link one new post to its best matches, if any; whether it was linked."""
    candidates = _candidates(conn, probe)
    if not candidates:
        return False  # no fingerprint needed (its shingles are most of the cost)
    post_id = probe.post_id
    new = _fingerprint(_rows(conn, [post_id])[0])
    best: dict[int, similarity.Match] = {}  # cluster root -> the strongest match into it
    seen: dict[int, similarity.Fingerprint] = {}
    for old, root in candidates:
        seen[old.post_id] = old
        match = similarity.duplicate_match(new, old)
        if match is not None and (root not in best or match.score > best[root].score):
            best[root] = match
    if not best:
        return False
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
    return True


class Probe(NamedTuple):
    """What finding a post's candidates needs: the Fingerprint's keys, without its shingles."""

    post_id: int
    url_key: str | None
    evidence_key: str | None
    content_key: str
    keys: tuple[int, ...]  # sketch.lsh_keys: its post_lsh rows


def _probe(row: sqlite3.Row) -> Probe:
    """The keys `_fingerprint(row)` would give, computed as `fingerprints.fingerprint` does.

    The signature is the stored one: the worker sketched the stored text, and
    every writer of `posts.text` writes its `minhash` with it (or NULL, when
    it is computed here as the fingerprint would).
    """
    url_key = identity.canonical_url(row["url"]) if row["url"] else None
    signature = sketch.unpack(row["minhash"]) or sketch.signature(row["text"])
    return _new_probe(
        row["id"],
        url_key,
        row["evidence_key"],
        identity.content_key(row["title"], row["text"]),
        sketch.lsh_keys(row["title"], signature),
    )


def entry_probe(post_id: int, entry: EntryData, keys: identity.EntryKeys) -> Probe:
    """`_probe` of the row `entry` was just stored as, from what the worker computed.

    The stored row holds the entry's url, title, text, evidence key and
    MinHash, and the worker's url and content keys are `_probe`'s rules on
    them, so no row is read back and nothing is computed twice. An entry
    that was not sketched (`lsh_keys` None) gets its keys here.
    """
    keyed = entry.lsh_keys
    if keyed is None:
        signature = entry.minhash or sketch.signature(entry.text)
        keyed = sketch.lsh_keys(entry.title, signature)
    return _new_probe(post_id, keys.url_key, entry.evidence_key, keys.content_key, keyed)


def _new_probe(
    post_id: int,
    url_key: str | None,
    evidence_key: str | None,
    content_key: str,
    keys: tuple[int, ...],
) -> Probe:
    return Probe(
        post_id=post_id,
        url_key=url_key,
        evidence_key=evidence_key if evidence_key != url_key else None,
        content_key=content_key,
        keys=keys,
    )


def _with_earlier(conn: sqlite3.Connection, probes: Sequence[Probe]) -> set[int]:
    """The posts among `probes` that share some candidate key with an earlier post.

    One query per index for all the posts (the earliest post under each of
    their keys), where asking each post's candidates costs two or three
    queries a post. A superset of the posts `_candidates` finds anything for
    (it also counts hidden posts), never less.
    """
    lsh = _earliest(
        conn, "SELECT band, min(post_id) FROM post_lsh WHERE band IN ({}) GROUP BY band",
        {key for p in probes for key in p.keys},
    )  # fmt: skip
    links = {v for p in probes for v in (p.url_key, p.evidence_key) if v}
    linked = _earliest(
        conn, "SELECT url_key, min(id) FROM posts WHERE url_key IN ({}) GROUP BY url_key", links
    )
    for value, first in _earliest(
        conn,
        "SELECT evidence_key, min(id) FROM posts WHERE evidence_key IN ({}) GROUP BY evidence_key",
        links,
    ).items():
        linked[value] = min(first, linked.get(value, first))
    content = _earliest(
        conn,
        "SELECT content_key, min(id) FROM posts WHERE content_key IN ({}) GROUP BY content_key",
        {p.content_key for p in probes if p.content_key.startswith("c:")},
    )
    maybe = set()
    for p in probes:
        firsts = [lsh.get(k) for k in p.keys]
        firsts += [linked.get(v) for v in (p.url_key, p.evidence_key) if v]
        firsts.append(content.get(p.content_key))
        if any(first is not None and first < p.post_id for first in firsts):
            maybe.add(p.post_id)
    return maybe


def _earliest(conn: sqlite3.Connection, sql: str, values: set[Any]) -> dict[Any, int]:
    """value -> the lowest id a `sql` ("... IN ({}) GROUP BY ...") gives for it."""
    found: dict[Any, int] = {}
    for chunk in _chunks(sorted(values)):
        found.update(conn.execute(sql.format(_marks(chunk)), chunk).fetchall())
    return found


def _chunks(values: list[Any], size: int = 500) -> list[list[Any]]:
    """Lists of at most `size`: SQLite limits the parameters of one statement."""
    return [values[i : i + size] for i in range(0, len(values), size)]


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
    new: Probe,
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
    bands = [k for k in new.keys if k >= 0]
    titles = [k for k in new.keys if k < 0]  # sketch.title_band
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
