"""Cards: one post as a list shows it, built from rows in a fixed number of queries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .text import display_author, excerpt, marked_snippet, slugify

PUBLIC = "p.hidden = 0 AND p.duplicate_of IS NULL AND p.removed_at IS NULL"
# Its complement as ranges of the public-state indexes (a few per cent of the
# posts), for counts taken as "all less these". NOT_SHOWN_BY_POSTS: copies and
# hidden posts, which even the posts table leaves out; NOT_PUBLIC adds tombstones.
NOT_SHOWN_BY_POSTS = """
    SELECT id FROM posts WHERE duplicate_of IS NOT NULL
    UNION ALL SELECT id FROM posts WHERE duplicate_of IS NULL AND hidden > 0
    UNION ALL SELECT id FROM posts WHERE duplicate_of IS NULL AND hidden < 0
"""
NOT_PUBLIC = (
    NOT_SHOWN_BY_POSTS
    + """    UNION ALL SELECT id FROM posts
        WHERE duplicate_of IS NULL AND hidden = 0 AND removed_at IS NOT NULL
"""
)
# The columns a card needs, from posts `p` joined with feeds `f`.
CARD_COLUMNS = """
    p.id, p.title, p.url, p.author, p.organisation, p.region, p.published, p.updated,
    p.first_seen_at, p.text, p.summary_html, p.content_html,
    f.title AS blog_title, f.slug AS blog_slug, f.site_url AS blog_site_url,
    f.author AS blog_author
"""
TOPICS_SQL = """
    SELECT pt.post_id, pt.topic, coalesce(nullif(t.label, ''), pt.topic) AS label
    FROM post_topics pt LEFT JOIN topics t ON t.slug = pt.topic
    WHERE pt.post_id IN (SELECT value FROM json_each(:ids))
    ORDER BY pt.post_id, coalesce(t.position, 1000000), pt.topic
"""
COPIES_SQL = """
    SELECT c.duplicate_of, f.title AS blog_title, min(c.id) AS first
    FROM posts c JOIN feeds f ON f.id = c.feed_id
    WHERE c.duplicate_of IN (SELECT value FROM json_each(:ids))
      AND c.hidden = 0 AND c.removed_at IS NULL AND f.removed_at IS NULL
      AND c.feed_id != (SELECT feed_id FROM posts WHERE id = c.duplicate_of)
    GROUP BY c.duplicate_of, f.title
    ORDER BY c.duplicate_of, first
"""


@dataclass(frozen=True)
class Card:
    """One public post as the lists show it."""

    id: int
    title: str
    url: str | None
    blog_title: str
    blog_slug: str | None
    blog_site_url: str | None
    author: str | None  # a display name: e-mail addresses are never shown
    organisation: str | None
    region: str | None
    region_slug: str | None
    published: str
    updated: str | None
    first_seen_at: str
    excerpt: str  # ~40 words of plain text
    summary_html: str | None  # sanitised at storage
    content_html: str | None  # sanitised at storage
    topics: tuple[tuple[str, str], ...]  # (slug, label) in topics.position order
    copies: tuple[str, ...]  # blog titles where copies were also published
    snippet_html: str | None  # search only: escaped, hits in <mark>


@dataclass(frozen=True)
class Page:
    """One page of cards and how to ask for the next one (None: no more)."""

    cards: tuple[Card, ...]
    next_before: int | None
    next_page: int | None


async def build_cards(db: Any, rows: Sequence[Any]) -> tuple[Card, ...]:
    """Cards for rows of CARD_COLUMNS (plus an optional `snippet`): two queries in all."""
    if not rows:
        return ()
    ids = json.dumps([row["id"] for row in rows])
    topics: dict[int, list[tuple[str, str]]] = {}
    for row in (await db.execute(TOPICS_SQL, {"ids": ids})).rows:
        topics.setdefault(row["post_id"], []).append((row["topic"], row["label"]))
    copies: dict[int, list[str]] = {}
    for row in (await db.execute(COPIES_SQL, {"ids": ids})).rows:
        if row["blog_title"]:
            copies.setdefault(row["duplicate_of"], []).append(row["blog_title"])
    return tuple(
        card_from_row(row, tuple(topics.get(row["id"], ())), tuple(copies.get(row["id"], ())))
        for row in rows
    )


def card_from_row(row: Any, topics: tuple[tuple[str, str], ...], copies: tuple[str, ...]) -> Card:
    keys = row.keys()
    region = row["region"] or None
    return Card(
        id=row["id"],
        title=row["title"] or "Untitled post",
        url=row["url"],
        blog_title=row["blog_title"] or "A member blog",
        blog_slug=row["blog_slug"],
        blog_site_url=row["blog_site_url"],
        author=display_author(row["author"]) or display_author(row["blog_author"]),
        organisation=row["organisation"] or None,
        region=region,
        region_slug=slugify(region) if region else None,
        published=row["published"] or row["first_seen_at"],
        updated=row["updated"],
        first_seen_at=row["first_seen_at"],
        excerpt=excerpt(row["text"]),
        summary_html=row["summary_html"],
        content_html=row["content_html"],
        topics=topics,
        copies=copies,
        snippet_html=marked_snippet(row["snippet"]) if "snippet" in keys else None,
    )
