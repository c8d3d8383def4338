"""Step 0014: each topic's public posts counted by region, organisation and topic.

A table filtered by one topic (`?_topic=`) shows facets by region,
organisation and topic. Counting them on request read one index entry per
post of the topic: for a topic in 79% of a million posts, 0.6 s at the
median and 3-4 s at the 95th percentile, after every write. `topic_facets`
holds those counts, kept by triggers in the transaction that changes a post
or its topics, so a facet reads a few dozen rows.

`shown` says which public tables show the posts counted (docs/schema.md):
2 every one (`river` too), 1 `posts` and `posts_public` (back catalogue),
0 `posts` only (`removed_at` set but not hidden: a takedown hides as well,
but the views' conditions allow it, so it is counted as they would). Copies and
hidden posts are not counted; NULL regions and organisations are not
either, as Datasette's facets leave them out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils


def _shown(row: str) -> str:
    """SQL for the `shown` class of the posts row `row`; NULL when no table shows it."""
    return (
        f"CASE WHEN {row}.hidden = 0 AND {row}.duplicate_of IS NULL THEN"
        f" CASE WHEN {row}.removed_at IS NOT NULL THEN 0"
        f" WHEN {row}.is_backfill = 0 THEN 2 ELSE 1 END END"
    )


_FACETS = ("region", "organisation")  # the posts columns counted per topic, besides topics
_ADD = (
    "INSERT INTO topic_facets (topic, facet, shown, value, n) {select} WHERE {where}"
    " ON CONFLICT (topic, facet, shown, value) DO UPDATE SET n = n + excluded.n;"
)


def _post_rows(post: str, sign: str) -> list[str]:
    """Statements adding `sign` for every topic row of the posts row `post` (a
    trigger's OLD or NEW), all its topic pairs included."""
    state = _shown(post)
    mine = f"t.post_id = {post}.id AND ({state}) IS NOT NULL"
    return [
        _ADD.format(
            select=f"SELECT t.topic, '{facet}', {state}, {post}.{facet}, {sign} FROM post_topics t",
            where=f"{mine} AND {post}.{facet} IS NOT NULL",
        )
        for facet in _FACETS
    ] + [
        _ADD.format(
            select=f"SELECT t.topic, 'topic', {state}, u.topic, {sign}"
            " FROM post_topics t JOIN post_topics u ON u.post_id = t.post_id",
            where=mine,
        )
    ]


def _topic_row(row: str, sign: str) -> list[str]:
    """Statements adding `sign` for the one post_topics row `row` (OLD or NEW); its
    pairs with the post's other topics both ways, and with itself once."""
    state = _shown("p")
    mine = f"p.id = {row}.post_id AND ({state}) IS NOT NULL"
    facets = [
        _ADD.format(
            select=f"SELECT {row}.topic, '{facet}', {state}, p.{facet}, {sign} FROM posts p",
            where=f"{mine} AND p.{facet} IS NOT NULL",
        )
        for facet in _FACETS
    ]
    pairs = [
        _ADD.format(
            select=f"SELECT {row}.topic, 'topic', {state}, {row}.topic, {sign} FROM posts p",
            where=mine,
        ),  # fmt: skip
    ] + [
        _ADD.format(
            select=f"SELECT {a}, 'topic', {state}, {b}, {sign}"
            f" FROM posts p JOIN post_topics o ON o.post_id = p.id",
            where=f"{mine} AND o.topic <> {row}.topic",
        )
        for a, b in ((f"{row}.topic", "o.topic"), ("o.topic", f"{row}.topic"))
    ]
    return facets + pairs


def _trigger_sql() -> list[str]:
    """The triggers that keep topic_facets equal to counting the public tables."""
    changed = (
        f"({_shown('OLD')}) IS NOT ({_shown('NEW')}) OR (({_shown('NEW')}) IS NOT NULL"
        " AND (OLD.region IS NOT NEW.region OR OLD.organisation IS NOT NEW.organisation))"
    )
    return [
        "CREATE TRIGGER topic_facets_topic_added AFTER INSERT ON post_topics BEGIN "
        + "\n".join(_topic_row("NEW", "1")) + " END",
        "CREATE TRIGGER topic_facets_topic_removed AFTER DELETE ON post_topics BEGIN "
        + "\n".join(_topic_row("OLD", "-1")) + " END",
        "CREATE TRIGGER topic_facets_topic_moved BEFORE UPDATE OF post_id, topic"
        " ON post_topics BEGIN SELECT RAISE(ABORT, 'post_topics rows are deleted and"
        " inserted, never moved (topic_facets)'); END",
        "CREATE TRIGGER topic_facets_post_changed AFTER UPDATE OF hidden, duplicate_of,"
        f" removed_at, is_backfill, region, organisation ON posts WHEN {changed} BEGIN "
        + "\n".join(_post_rows("OLD", "-1") + _post_rows("NEW", "1")) + " END",
        # A count at 0 goes: its value (an organisation's name) may be a taken-down blog's.
        "CREATE TRIGGER topic_facets_none_left AFTER UPDATE OF n ON topic_facets"
        " WHEN NEW.n = 0 BEGIN DELETE FROM topic_facets WHERE topic = NEW.topic"
        " AND facet = NEW.facet AND shown = NEW.shown AND value = NEW.value; END",
        "CREATE TRIGGER topic_facets_post_deleted AFTER DELETE ON posts BEGIN "
        + "\n".join(_post_rows("OLD", "-1")) + " END",
    ]  # fmt: skip


def rebuild_sql() -> list[str]:
    """Counts from scratch: what the triggers keep, for the migration and checks."""
    state = _shown("p")
    visible = f"({state}) IS NOT NULL"
    return (
        ["DELETE FROM topic_facets"]
        + [
            f"INSERT INTO topic_facets (topic, facet, shown, value, n)"
            f" SELECT t.topic, '{facet}', {state}, p.{facet}, count(*)"
            f" FROM post_topics t JOIN posts p ON p.id = t.post_id"
            f" WHERE {visible} AND p.{facet} IS NOT NULL GROUP BY 1, 3, 4"
            for facet in _FACETS
        ]
        + [
            f"INSERT INTO topic_facets (topic, facet, shown, value, n)"
            f" SELECT t.topic, 'topic', {state}, u.topic, count(*)"
            f" FROM post_topics t JOIN posts p ON p.id = t.post_id"
            f" JOIN post_topics u ON u.post_id = t.post_id WHERE {visible} GROUP BY 1, 3, 4"
        ]
    )


def _m0014_topic_facets(db: sqlite_utils.Database) -> None:
    """Table `topic_facets`, its triggers, and its counts from the posts there are."""
    db.execute(
        """
        CREATE TABLE topic_facets (
            topic TEXT NOT NULL,
            facet TEXT NOT NULL,
            shown INTEGER NOT NULL,
            value TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (topic, facet, shown, value)
        ) WITHOUT ROWID
        """
    )
    for statement in _trigger_sql() + rebuild_sql():
        db.execute(statement)
