"""Lookups for the pages around the lists: navigation counts, blogs, one post in full.

Navigation counts and the blogs list are kept in memory per database file
while it is unchanged, and for a minute after it changes: counting topics
over 100,000 posts takes ~150 ms (ten times that at a million), and every
page shows them, so a fetch that writes every few seconds does not make
every page count them again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from .cards import CARD_COLUMNS, NOT_PUBLIC, PUBLIC, Card, card_from_row
from .changes import version
from .text import shift_headings, slugify

CACHE_SECONDS = 60.0
_cache: dict[tuple[str, str], tuple[float, int | None, Any]] = {}


def clear_cache() -> None:
    """Forget cached counts (tests, or after a fetch in the same process)."""
    _cache.clear()


async def _cached(db: Any, name: str, compute: Any) -> Any:
    path = getattr(db, "path", None)
    key = (str(path or getattr(db, "name", id(db))), name)
    now, state = time.monotonic(), version(path) if path else None
    hit = _cache.get(key)
    if hit and ((state is not None and hit[1] == state) or now - hit[0] < CACHE_SECONDS):
        return hit[2]
    value = await compute(db)
    _cache[key] = (now, state, value)
    return value


Region = tuple[str, str, int]  # (name, slug, public posts)
Topic = tuple[str, str, str, int]  # (slug, label, description, public posts)


async def nav_counts(db: Any) -> tuple[list[Region], list[Topic]]:
    """Regions with posts and every topic (in topics.yaml order), with public post counts."""
    return await _cached(db, "nav", _nav_counts)


# A topic's public posts are all its posts less those that are not public. Posts
# are never deleted (a takedown leaves a tombstone), so every post_topics row has
# its post. Counting every topic's rows reads one index in order (50 ms at a
# million posts); the posts that are not public (copies, taken down) come from
# ranges of the public-state indexes, a few per cent of the posts. Checking each
# post_topics row against the posts instead took 2-3 s at a million posts.
TOPIC_COUNTS_SQL = f"""
    WITH not_public(id) AS ({NOT_PUBLIC}),
    every_post AS (SELECT topic, count(*) AS n FROM post_topics GROUP BY topic),
    not_shown AS (
        SELECT topic, count(*) AS n FROM post_topics
        WHERE post_id IN (SELECT id FROM not_public) GROUP BY topic
    )
    SELECT t.slug, coalesce(nullif(t.label, ''), t.slug) AS label, t.description,
        coalesce(e.n, 0) - coalesce(h.n, 0) AS n
    FROM topics t
    LEFT JOIN every_post e ON e.topic = t.slug
    LEFT JOIN not_shown h ON h.topic = t.slug
    ORDER BY t.position, t.slug
"""


async def _nav_counts(db: Any) -> tuple[list[Region], list[Topic]]:
    regions = await db.execute(
        f"""SELECT p.region, count(*) AS n FROM posts p INDEXED BY posts_public_region
        WHERE {PUBLIC} AND coalesce(p.region, '') != '' GROUP BY p.region ORDER BY p.region"""
    )
    topics = await db.execute(TOPIC_COUNTS_SQL)
    return (
        [(r["region"], slugify(r["region"]), r["n"]) for r in regions.rows],
        [(r["slug"], r["label"], r["description"] or "", r["n"]) for r in topics.rows],
    )


@dataclass(frozen=True)
class Blog:
    """A member blog and its health, as the blog pages show it."""

    id: int
    slug: str
    title: str
    site_url: str | None
    author: str | None
    organisation: str | None
    region: str | None
    region_slug: str | None
    status: str  # new, ok, error, failing, gone, removed (see docs/schema.md)
    explanation: str | None
    last_error: str | None
    last_checked_at: str | None
    last_success_at: str | None
    last_post_at: str | None  # published date of its newest public post
    posts: int  # public posts
    paused: bool = False  # paused by its member: not checked, posts stay
    verified_at: str | None = None  # when the member proved the blog is theirs
    excerpts_only: bool = False  # the member shows excerpts only (feeds.display)


BLOG_SQL = f"""
    SELECT f.id, f.slug, f.title, f.url, f.site_url, f.author, f.organisation, f.region,
        f.status, f.explanation, f.last_error, f.last_checked_at, f.last_success_at,
        f.paused, f.verified_at, f.display,
        (SELECT max(p.published) FROM posts p WHERE p.feed_id = f.id AND {PUBLIC}) AS last_post,
        (SELECT count(*) FROM posts p WHERE p.feed_id = f.id AND {PUBLIC}) AS n
    FROM feeds f WHERE f.removed_at IS NULL AND f.slug IS NOT NULL
"""


def _blog(row: Any) -> Blog:
    region = row["region"] or None
    return Blog(
        id=row["id"],
        slug=row["slug"],
        title=row["title"] or row["site_url"] or row["slug"],
        site_url=row["site_url"],
        author=row["author"] or None,
        organisation=row["organisation"] or None,
        region=region,
        region_slug=slugify(region) if region else None,
        status=row["status"] or "new",
        explanation=row["explanation"],
        last_error=row["last_error"],
        last_checked_at=row["last_checked_at"],
        last_success_at=row["last_success_at"],
        last_post_at=row["last_post"],
        posts=row["n"],
        paused=bool(row["paused"]),
        verified_at=row["verified_at"],
        excerpts_only=row["display"] == "excerpt",
    )


async def blog_info(db: Any, slug: str) -> Blog | None:
    """The blog with this slug, unless it was taken down (one query)."""
    rows = await db.execute(BLOG_SQL + " AND f.slug = :slug", {"slug": slug})
    return _blog(rows.rows[0]) if rows.rows else None


async def all_blogs(db: Any) -> list[Blog]:
    """Every blog not taken down, by region then title (cached for a minute)."""
    return await _cached(db, "blogs", _all_blogs)


async def _all_blogs(db: Any) -> list[Blog]:
    rows = await db.execute(BLOG_SQL + " ORDER BY f.region, lower(f.title), f.id")
    return [_blog(r) for r in rows.rows]


@dataclass(frozen=True)
class TopicReason:
    slug: str
    label: str
    source: str  # category, rules, feed or editor (post_topics.source)
    score: float | None
    evidence: tuple[str, ...] = ()  # the words that counted most (post_topics.evidence)


@dataclass(frozen=True)
class Copy:
    """Another blog's copy of a post, and which rule found it."""

    id: int
    title: str
    url: str | None
    blog_title: str
    blog_slug: str | None
    reason: str | None  # e.g. "same-url 1.00", "near-duplicate 0.83"


@dataclass(frozen=True)
class PostDetail:
    card: Card
    body_html: str | None  # sanitised at storage; headings renumbered from h3
    topics: tuple[TopicReason, ...]
    copies: tuple[Copy, ...]


async def canonical_of(db: Any, post_id: int) -> int | None:
    """The public post that the public copy `post_id` is a copy of, if it is one."""
    rows = await db.execute(
        "SELECT c.id FROM posts p JOIN posts c ON c.id = p.duplicate_of"
        " WHERE p.id = :id AND p.hidden = 0 AND p.removed_at IS NULL"
        " AND c.hidden = 0 AND c.duplicate_of IS NULL AND c.removed_at IS NULL",
        {"id": post_id},
    )
    return rows.rows[0][0] if rows.rows else None


def _words(evidence: str | None) -> tuple[str, ...]:
    """post_topics.evidence (a JSON array of words, or NULL) as a tuple."""
    try:
        words = json.loads(evidence) if evidence else []
    except ValueError:
        return ()
    return tuple(str(w) for w in words) if isinstance(words, list) else ()


async def post_detail(db: Any, post_id: int) -> PostDetail | None:
    """A public post with its body, why each topic was given, and its copies (3 queries)."""
    rows = await db.execute(
        f"""SELECT {CARD_COLUMNS} FROM posts p JOIN feeds f ON f.id = p.feed_id
        WHERE p.id = :id AND {PUBLIC}""",
        {"id": post_id},
    )
    if not rows.rows:
        return None
    row = rows.rows[0]
    topic_rows = await db.execute(
        """SELECT pt.topic, coalesce(nullif(t.label, ''), pt.topic) AS label, pt.source, pt.score,
        pt.evidence FROM post_topics pt LEFT JOIN topics t ON t.slug = pt.topic
        WHERE pt.post_id = :id ORDER BY coalesce(t.position, 1000000), pt.topic""",
        {"id": post_id},
    )
    copy_rows = await db.execute(
        """SELECT c.id, c.title, c.url, c.duplicate_reason, f.title AS blog_title, f.slug
        FROM posts c JOIN feeds f ON f.id = c.feed_id
        WHERE c.duplicate_of = :id AND c.hidden = 0 AND c.removed_at IS NULL
          AND f.removed_at IS NULL ORDER BY c.id""",
        {"id": post_id},
    )
    topics = tuple(
        TopicReason(r["topic"], r["label"], r["source"] or "", r["score"], _words(r["evidence"]))
        for r in topic_rows.rows
    )
    copies = tuple(
        Copy(
            r["id"],
            r["title"] or "Untitled post",
            r["url"],
            r["blog_title"] or "A member blog",
            r["slug"],
            r["duplicate_reason"],
        )
        for r in copy_rows.rows
    )
    card = card_from_row(
        row,
        tuple((t.slug, t.label) for t in topics),
        tuple(dict.fromkeys(c.blog_title for c in copies if c.blog_slug != row["blog_slug"])),
    )
    return PostDetail(
        card, shift_headings(row["content_html"] or row["summary_html"]), topics, copies
    )
