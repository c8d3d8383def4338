"""What a reader asked for, and the page of posts that answers it.

`selection_from_args` turns request args (and the path's topic, region or
blog) into a `Selection`, or raises `BadRequest` with a plain-English message.
`find_posts` answers a Selection with one `Page` of `Card`s in three queries
(the posts, their topics, their copies), never one per card:

- public posts only: not taken down, not a copy of another post;
- "recent" is first-seen order (`posts.id`, newest first), paged by keyset
  (`before=<id>`), so posts arriving between pages never repeat or vanish;
- "relevance" (search only) is FTS5's bm25 rank among the newest RANKED
  posts with the words, paged by `page=` (1-40);
- each list reads the partial index made for it (docs/schema.md, 0007).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

from datasette.database import QueryInterrupted

from .cards import CARD_COLUMNS, PUBLIC, Card, Page, build_cards
from .text import MARK_CLOSE, MARK_OPEN, slugify

__all__ = [
    "BadRequest",
    "Card",
    "Page",
    "Selection",
    "find_posts",
    "selection_from_args",
    "slugify",
]

ORDERS = ("recent", "relevance")
MAX_PAGE = 40
MAX_QUERY = 200
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TOO_SLOW = (
    "That search took too long to answer. Try more specific words, a topic or a shorter date range."
)


class BadRequest(Exception):
    """A reader's bad parameter: the page answers 400 with `message`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Selection:
    topic: str | None = None  # topic slug
    region: str | None = None  # region slug
    blog: str | None = None  # feeds.slug
    q: str | None = None  # search text, FTS5 syntax allowed
    since: str | None = None  # YYYY-MM-DD inclusive, on published
    until: str | None = None  # YYYY-MM-DD inclusive
    order: str = "recent"  # "recent" (first seen, newest first) or "relevance"
    river: bool = False  # the front page: no back catalogues
    before: int | None = None  # keyset paging for "recent"
    page: int = 1  # paging for "relevance", 1-based

    def query_args(self) -> dict[str, str]:
        """The args that rebuild this selection (no paging), for links."""
        found = {
            name: getattr(self, name)
            for name in ("topic", "region", "blog", "q", "since", "until")
            if getattr(self, name)
        }
        if self.order != default_order(self.q):
            found["order"] = self.order
        return found


def default_order(q: str | None) -> str:
    """Search results come most relevant first; every other list newest first."""
    return "relevance" if q else "recent"


def selection_from_args(args: Any, **fixed: Any) -> Selection:
    """A Selection from request args; `fixed` (topic/region/blog/river) wins over args."""

    def arg(name: str) -> str | None:
        value = fixed[name] if name in fixed else args.get(name)
        if value is None:
            return None
        value = str(value).strip()
        return value or None

    values: dict[str, Any] = {"river": bool(fixed.get("river", False))}
    for name, what in (("topic", "topic"), ("region", "region"), ("blog", "blog")):
        value = arg(name)
        if value is not None and not _SLUG.match(value):
            raise BadRequest(
                f"“{value[:80]}” is not a {what} address: use lower-case letters, "
                "digits and hyphens, as in the links on the "
                f"{what}s page."
            )
        values[name] = value
    q = arg("q")
    if q is not None and len(q) > MAX_QUERY:
        raise BadRequest(f"Search text can be at most {MAX_QUERY} characters long.")
    values["q"] = q
    for name, what in (("since", "From"), ("until", "To")):
        values[name] = parse_day(arg(name), what)
    if values["since"] and values["until"] and values["since"] > values["until"]:
        raise BadRequest("The “from” date must be on or before the “to” date.")
    order = arg("order") or default_order(q)
    if order not in ORDERS:
        raise BadRequest("Order must be “recent” (newest first) or “relevance” (best match).")
    if order == "relevance" and not q:
        raise BadRequest("Ordering by relevance needs search words: enter some, or use recent.")
    values["order"] = order
    before = arg("before")
    if before is not None:
        if not before.isdigit() or not 0 < int(before) < 2**63:
            raise BadRequest("“before” must be a post number, a whole number above 0.")
        values["before"] = int(before)
    page = arg("page")
    if page is not None:
        if not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
            raise BadRequest(
                f"“page” must be a whole number from 1 to {MAX_PAGE}; for more, narrow the search."
            )
        values["page"] = int(page)
    known = {f.name for f in fields(Selection)}
    return Selection(**{k: v for k, v in values.items() if k in known})


def parse_day(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    try:
        if not _DATE.match(value):
            raise ValueError(value)
        date.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            f"{what} date “{value[:40]}” is not a date: write it as year-month-day, "
            "for example 2016-11-21."
        ) from None
    return value


async def find_posts(db: Any, selection: Selection, limit: int = 25) -> Page:
    """One page of public posts for `selection`: at most four queries, whatever the limit."""
    where, params = await _filters(db, selection)
    params["limit"] = limit + 1
    if selection.q:
        rows = await _search(db, selection, where, params, limit)
    else:
        rows = await _recent(db, selection, where, params)
    more = len(rows) > limit
    cards = await build_cards(db, rows[:limit])
    if selection.order == "relevance":
        next_page = selection.page + 1 if more and selection.page < MAX_PAGE else None
        return Page(cards, None, next_page)
    return Page(cards, cards[-1].id if more and cards else None, None)


async def _filters(db: Any, selection: Selection) -> tuple[list[str], dict[str, Any]]:
    """SQL conditions on posts `p`; checks that the topic, region and blog exist."""
    where = [PUBLIC]
    params: dict[str, Any] = {}
    if selection.river:
        where.append("p.is_backfill = 0")
    if selection.topic or selection.region or selection.blog:
        known = await _known(db, selection)
        if selection.topic:
            if selection.topic not in known["topic"]:
                raise BadRequest(
                    f"There is no topic “{selection.topic}”: the topics page lists them all."
                )
            where.append(TOPIC_CONDITION)
            params["topic"] = selection.topic
        if selection.region:
            names = [n for n in known["region"] if slugify(n) == selection.region]
            if not names:
                raise BadRequest(
                    f"There is no region “{selection.region}”: the regions page lists them all."
                )
            where.append("p.region = :region")
            params["region"] = names[0]
        if selection.blog:
            if not known["blog"]:
                raise BadRequest(
                    f"There is no blog “{selection.blog}”: the blogs page lists them all."
                )
            where.append("p.feed_id = :feed_id")
            params["feed_id"] = int(known["blog"][0])
    if selection.since:
        where.append("p.published >= :since")
        params["since"] = selection.since
    if selection.until:
        where.append("p.published < :until")
        params["until"] = (date.fromisoformat(selection.until) + timedelta(days=1)).isoformat()
    return where, params


async def _known(db: Any, selection: Selection) -> dict[str, list[str]]:
    """The live regions, the blog's feed id and the topic, in one query."""
    sql = """
        SELECT 'region' AS kind, region AS value FROM feeds
        WHERE removed_at IS NULL AND coalesce(region, '') != '' GROUP BY region
        UNION ALL SELECT 'blog', id FROM feeds WHERE slug = :blog AND removed_at IS NULL
        UNION ALL SELECT 'topic', slug FROM topics WHERE slug = :topic
    """
    found: dict[str, list[str]] = {"region": [], "blog": [], "topic": []}
    rows = await db.execute(sql, {"blog": selection.blog or "", "topic": selection.topic or ""})
    for row in rows.rows:
        found[row["kind"]].append(row["value"])
    return found


def _index_for(selection: Selection) -> str:
    """The partial index that gives this list's next posts without sorting."""
    if selection.blog:
        return "INDEXED BY posts_feed_order"
    if selection.topic:
        return ""  # _recent reads post_topics(topic, post_id) instead
    if selection.region:
        return "INDEXED BY posts_public_region"
    if selection.river:
        return "INDEXED BY posts_river_order"
    return ""


TOPIC_CONDITION = "p.id IN (SELECT post_id FROM post_topics WHERE topic = :topic)"


async def _recent(
    db: Any, selection: Selection, where: list[str], params: dict[str, Any]
) -> list[Any]:
    conditions = list(where)
    source, key = f"posts p {_index_for(selection)}", "p.id"
    if selection.topic and not selection.blog:  # the topic's posts, newest first, from its index
        source = (
            "post_topics pt INDEXED BY post_topics_topic CROSS JOIN posts p ON p.id = pt.post_id"
        )
        key = "pt.post_id"
        conditions = [c for c in conditions if c != TOPIC_CONDITION] + ["pt.topic = :topic"]
    if selection.before is not None:
        conditions.append(f"{key} < :before")
        params["before"] = selection.before
    sql = f"""
        SELECT {CARD_COLUMNS} FROM {source}
        CROSS JOIN feeds f ON f.id = p.feed_id
        WHERE {" AND ".join(conditions)}
        ORDER BY {key} DESC LIMIT :limit
    """
    try:
        return list((await db.execute(sql, params)).rows)
    except QueryInterrupted:
        raise BadRequest(TOO_SLOW) from None


SNIPPET = f"snippet(posts_fts, -1, '{MARK_OPEN}', '{MARK_CLOSE}', '…', 16)"
# "relevance" ranks by bm25 the newest RANKED posts with the words in the chosen
# topic, region and blog (NARROWING), then keeps the public ones, best first.
# FTS5 computes the rank of every match before sorting (2.4 s for a word in most
# of a million posts); a word in fewer posts is ranked over all of them, as before.
RANKED = 20_000


# The filters that index ranges answer without reading posts' rows, as conditions on
# posts_fts's rowid (the `+` keeps FTS5 walking its own index newest first).
NARROWING = {
    "topic": "+rowid IN (SELECT post_id FROM post_topics WHERE topic = :topic)",
    "region": "+rowid IN (SELECT id FROM posts INDEXED BY posts_public_region"
    " WHERE region = :region AND hidden = 0 AND duplicate_of IS NULL AND removed_at IS NULL)",
    "feed_id": "+rowid IN (SELECT id FROM posts WHERE feed_id = :feed_id)",
}


def narrowing(params: dict[str, Any]) -> str:
    """The index-only conditions of the filters in `params`, for `relevance_sql`."""
    return "".join(f" AND {sql}" for name, sql in NARROWING.items() if name in params)


def relevance_sql(where: str, narrow: str = "") -> str:
    """Rank in the full-text index alone; read posts' rows in rank order until the page is full.

    `ranked` is materialised in rank order and `page` has no ORDER BY, so it
    stops at the page's last post instead of reading every candidate's row
    (a row's flags are stored after its text); snippets only for the page.
    """
    return f"""
        WITH ranked AS MATERIALIZED (
            SELECT id, rank FROM (
                SELECT rowid AS id, rank FROM posts_fts WHERE posts_fts MATCH :q{narrow}
                ORDER BY rowid DESC LIMIT :ranked
            ) ORDER BY rank
        ),
        page AS MATERIALIZED (
            SELECT r.id, r.rank FROM ranked r CROSS JOIN posts p ON p.id = r.id
            CROSS JOIN feeds f ON f.id = p.feed_id
            WHERE {where} LIMIT :limit OFFSET :offset
        )
        SELECT {CARD_COLUMNS}, {SNIPPET} AS snippet
        FROM page b CROSS JOIN posts_fts ON posts_fts.rowid = b.id
        CROSS JOIN posts p ON p.id = b.id CROSS JOIN feeds f ON f.id = p.feed_id
        WHERE posts_fts MATCH :q
        ORDER BY b.rank
    """


async def _search(
    db: Any, selection: Selection, where: list[str], params: dict[str, Any], limit: int
) -> list[Any]:
    conditions = ["posts_fts MATCH :q", *where]
    if selection.order == "relevance":
        params["offset"] = (selection.page - 1) * limit
        params["ranked"] = RANKED
        sql = relevance_sql(" AND ".join(where), narrowing(params))
    else:
        # The FTS table's own rowid order (rowid = posts.id): FTS5 walks its
        # index newest first and stops at the limit; ordering by p.id made
        # SQLite collect and sort every match (2.8 s at the p95 for a common
        # word at 100,000 posts).
        order = "ORDER BY posts_fts.rowid DESC LIMIT :limit"
        if selection.before is not None:
            conditions.append("posts_fts.rowid < :before")
            params["before"] = selection.before
        sql = f"""
            SELECT {CARD_COLUMNS}, {SNIPPET} AS snippet
            FROM posts_fts CROSS JOIN posts p ON p.id = posts_fts.rowid
            CROSS JOIN feeds f ON f.id = p.feed_id
            WHERE {" AND ".join(conditions)}
            {order}
        """
    assert selection.q is not None
    for q in (selection.q, quoted_terms(selection.q)):
        try:
            found = await db.execute(sql, {**params, "q": q}, log_sql_errors=False)
            return list(found.rows)
        except QueryInterrupted:
            raise BadRequest(TOO_SLOW) from None
        except sqlite3.OperationalError:  # FTS5 syntax: try again with every word quoted
            continue
    raise BadRequest(
        f"Search could not understand “{selection.q[:80]}”: try fewer symbols, or put "
        "words in double quotes."
    )


def quoted_terms(q: str) -> str:
    """Every word as an FTS5 string, so symbols and AND/OR/NOT are plain words."""
    words = [w.replace('"', "") for w in q.split()]
    return " ".join(f'"{w}"' for w in words if w) or '""'
