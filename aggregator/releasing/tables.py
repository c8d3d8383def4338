"""What a release holds: its tables, their columns and what each means.

One list drives the SQLite file, the Parquet and JSON Lines files and the
manifest's Table Schema, so the three can never disagree. Types are Frictionless
Table Schema types; times are UTC ISO 8601 text with a `Z`, as in the live database.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Table Schema: integer, number, string, datetime, array
    description: str
    required: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # the primary key; rows are written in its order

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


FEEDS = Table(
    "feeds",
    "One row per member blog included in research releases.",
    (
        Column("id", "integer", "Stable id of the blog (posts.feed_id).", True),
        Column("slug", "string", "The blog's address on Voice's pages (/blogs/<slug>)."),
        Column("title", "string", "The blog's title."),
        Column("url", "string", "The blog's feed URL.", True),
        Column("site_url", "string", "The blog's home page."),
        Column("author", "string", "The person who writes it, for a personal blog."),
        Column("organisation", "string", "The council or organisation."),
        Column("region", "string", "One of the thirteen regions of the network."),
        Column("topics", "array", "JSON array of the blog's default topic slugs.", True),
        Column("added_at", "datetime", "When the blog joined Voice.", True),
        Column("first_fetch_at", "datetime", "Voice's first successful fetch of it."),
        Column("last_fetch_at", "datetime", "Voice's last successful fetch before this release."),
    ),
    ("id",),
)

POSTS = Table(
    "posts",
    "Every post of an included blog that is public: not taken down, and a copy only "
    "when the post it copies is in the release too.",
    (
        Column("id", "integer", "Stable id of the post in this Voice; never reused.", True),
        Column(
            "public_key",
            "string",
            "The post's key across Voice instances: a hash of its canonical URL when first "
            "stored (of its feed's URL and entry id when it has no URL). Unique among "
            "canonical posts; a copy under the same URL shares its original's.",
            True,
        ),
        Column("feed_id", "integer", "The blog (feeds.id).", True),
        Column("guid", "string", "The entry's own id in its feed."),
        Column("url", "string", "Link to the post."),
        Column("title", "string", "Title as plain text.", True),
        Column("author", "string", "Author named by the entry."),
        Column("published", "datetime", "When published (first seen, when undated).", True),
        Column("updated", "datetime", "When the entry says it was last updated.", True),
        Column("first_seen_at", "datetime", "When Voice first stored it.", True),
        Column("summary_html", "string", "The entry's summary, sanitised HTML."),
        Column("content_html", "string", "The content, sanitised HTML; empty for excerpts."),
        Column("text", "string", "Plain text of the content, or of the excerpt."),
        Column("region", "string", "The blog's region when the post was stored."),
        Column("organisation", "string", "The blog's organisation."),
        Column("categories", "array", "JSON array of the entry's own categories.", True),
        Column("topics", "array", "JSON array of topic slugs (see post_topics).", True),
        Column("is_backfill", "integer", "1 for a blog's back catalogue at joining.", True),
        Column("duplicate_of", "integer", "The original's id when this post is a copy."),
        Column("duplicate_reason", "string", "Which rule made it a copy, with its score."),
    ),
    ("id",),
)

POST_TOPICS = Table(
    "post_topics",
    "One row per post and topic: how each label was assigned.",
    (
        Column("post_id", "integer", "The post (posts.id).", True),
        Column("topic", "string", "A topic slug (topics.slug).", True),
        Column("source", "string", "category, rules, feed or editor.", True),
        Column("score", "number", "The model's probability, or 1.0 for a default.", True),
        Column("rules_version", "string", "The tagging rules that assigned it.", True),
        Column("evidence", "array", "Up to five of the post's words that counted most."),
    ),
    ("post_id", "topic"),
)

TOPICS = Table(
    "topics",
    "The topic vocabulary (topics.yaml) the release was tagged with.",
    (
        Column("slug", "string", "The topic's slug.", True),
        Column("label", "string", "What people read.", True),
        Column("description", "string", "What the topic means in council digital work.", True),
        Column("position", "integer", "Its place in the vocabulary.", True),
    ),
    ("slug",),
)

TABLES = (FEEDS, POSTS, POST_TOPICS, TOPICS)
