"""Filter and facet posts by topic through the `post_topics` table.

Datasette's array facet over `posts.topics` reads every row's JSON and is too
slow at 100,000 posts; counting `post_topics` rows for the filtered posts
goes through its (topic, post_id) index instead.

- Filter: `?_topic=open-data` (repeat for posts with all the given topics).
- Facet: `?_facet_topic=topics`, or `facets: [{topic: topics}]` in metadata;
  its counts are kept while the database is unchanged (reader/changes.py).
  Over a whole table or view (no filter, no search) it counts every post's
  topics less those of the few posts the view leaves out (LEFT_OUT): checking
  each of a million posts took 2-4 s, over Datasette's facet limit, so the
  facet was dropped and never kept; this takes ~0.1 s, the same numbers.
  Filtered by one topic and nothing else, the facet and Datasette's count
  (startup wraps each database's execute, one_topic_count) are read from
  topic_facets (reader/stored.py), which the writer keeps.

Reads only the database contract (docs/schema.md); never imports aggregator.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import Facet
from datasette.filters import FilterArguments
from datasette.utils import path_with_added_args, path_with_removed_args
from datasette.utils.asgi import Request

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from reader.cards import NOT_PUBLIC, NOT_SHOWN_BY_POSTS  # noqa: E402
from reader.changes import kept_counts  # noqa: E402
from reader.stored import TOPIC_FILTER, count_sql, facet_sql, one_topic  # noqa: E402

TOPIC_TABLES = {"posts", "posts_public", "river"}


@hookimpl
def filters_from_request(request: Request, table: str | None) -> FilterArguments | None:
    if table not in TOPIC_TABLES:
        return None
    topics = request.args.getlist("_topic")
    if not topics:
        return None
    where = []
    params: dict[str, Any] = {}
    for i, topic in enumerate(topics):
        where.append(TOPIC_FILTER.format(i))
        params[f"voice_topic_{i}"] = topic
    return FilterArguments(
        where, params=params, human_descriptions=[f'topic is "{t}"' for t in topics]
    )


# The posts left out of each table's whole (unfiltered) set, by the table and the
# where clause Datasette gives its facets when nothing else filters it
# (voice_public.py's for posts). Each is NOT of the view's condition, split
# into index ranges; hidden and is_backfill are NOT NULL.
LEFT_OUT = {
    ("posts_public", ""): NOT_PUBLIC,
    ("river", ""): NOT_PUBLIC
    + """
    UNION ALL SELECT id FROM posts WHERE duplicate_of IS NULL AND hidden = 0
        AND removed_at IS NULL AND is_backfill > 0
    UNION ALL SELECT id FROM posts WHERE duplicate_of IS NULL AND hidden = 0
        AND removed_at IS NULL AND is_backfill < 0
""",
    ("posts", "where hidden = 0 and duplicate_of IS NULL"): NOT_SHOWN_BY_POSTS,
}


def left_out(table: str, sql: str) -> str | None:
    """The SQL of the posts outside `table`'s whole set, if `sql` is that whole set.

    Datasette's facet SQL is `select <columns> from <table> <where>`; only the
    exact where clauses of LEFT_OUT are recognised, anything else is None.
    """
    head = f"from {table} "
    if head not in sql and not sql.endswith(f"from {table}"):
        return None
    where = sql.rsplit(f"from {table}", 1)[1].strip()
    return LEFT_OUT.get((table, where))


def whole_set_sql(out: str, limit: int) -> str:
    """Topic counts of every post less those of the posts `out` selects.

    Posts are never deleted (a takedown leaves a tombstone), so every post_topics
    row has its post and the difference is the count over the set. Counting every
    topic reads post_topics_topic in order; the left-out posts are few. Checking
    each of a million rows against the view took 2-4 s, over the facet limit.
    """
    return f"""
        WITH every_post AS (SELECT topic, count(*) AS n FROM post_topics GROUP BY topic),
        not_shown AS (
            SELECT topic, count(*) AS n FROM post_topics
            WHERE post_id IN ({out}) GROUP BY topic
        ),
        counted AS (
            SELECT e.topic AS value, e.n - coalesce(h.n, 0) AS count
            FROM every_post e LEFT JOIN not_shown h ON h.topic = e.topic
        )
        SELECT value, count FROM counted WHERE count > 0
        ORDER BY count DESC, value LIMIT {limit}
    """


def one_topic_count(sql: str) -> str | None:
    """Datasette's count of a table filtered by one topic, read from topic_facets
    (reader/stored.py); None for any other SQL."""
    for table in TOPIC_TABLES:
        if sql.startswith(f"select count(*) from {table} ") and one_topic(table, sql):
            return count_sql(table)
    return None


@hookimpl
def startup(datasette: Any) -> None:
    """Each database answers a one-topic count as one_topic_count says."""
    for db in datasette.databases.values():
        execute = db.execute

        async def counted(sql: str, *args: Any, _execute: Any = execute, **kwargs: Any) -> Any:
            return await _execute(one_topic_count(sql) or sql, *args, **kwargs)

        db.execute = counted


class TopicFacet(Facet):  # type: ignore[misc]
    type = "topic"

    async def suggest(self) -> list[dict[str, Any]]:
        return []

    async def _post_id_column(self) -> str:
        """How to match the filtered posts: `post_id` looks up each one's topics;
        `+post_id` walks every topic's posts in topic order instead (the `+` keeps
        SQLite off the post_id index), half the time of lookups when most posts
        are counted, but the whole index however few are."""
        if self.row_count is None:
            return "+post_id"
        rows = await self.ds.execute(self.database, "SELECT max(id) FROM posts")
        return "+post_id" if self.row_count * 2 >= (rows.first()[0] or 0) else "post_id"

    async def facet_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        results: list[dict[str, Any]] = []
        timed_out: list[str] = []
        if self.table not in TOPIC_TABLES or not self.get_configs():
            return results, timed_out
        size = self.get_facet_size()
        out = left_out(self.table, self.sql)
        if out is not None:
            sql = whole_set_sql(out, size + 1)
        elif one_topic(self.table, self.sql):
            sql = facet_sql(self.table, "topic", size + 1)
        else:
            column = await self._post_id_column()
            sql = f"""
                SELECT topic AS value, count(*) AS count FROM post_topics
                WHERE {column} IN (SELECT id FROM ({self.sql}))
                GROUP BY topic ORDER BY count DESC, value LIMIT {size + 1}
            """
        try:
            rows = await kept_counts(self.ds).execute(
                self.database,
                sql,
                self.params,
                truncate=False,
                custom_time_limit=self.ds.setting("facet_time_limit_ms"),
            )
        except QueryInterrupted:  # over facet_time_limit_ms: say so, keep the page
            return results, ["topics"]
        chosen = set(self.request.args.getlist("_topic"))
        values = []
        for row in rows.rows[:size]:
            selected = row["value"] in chosen
            path = (
                path_with_removed_args(self.request, {"_topic": row["value"]})
                if selected
                else path_with_added_args(self.request, {"_topic": row["value"]})
            )
            values.append(
                {
                    "value": row["value"],
                    "label": row["value"],
                    "count": row["count"],
                    "toggle_url": self.ds.absolute_url(self.request, self.ds.urls.path(path)),
                    "selected": selected,
                }
            )
        results.append(
            {
                "name": "topics",
                "type": self.type,
                "hideable": True,
                "toggle_url": self.ds.urls.path(
                    path_with_removed_args(self.request, {"_facet_topic": "topics"})
                ),
                "results": values,
                "truncated": len(rows.rows) > size,
            }
        )
        return results, timed_out


@hookimpl
def register_facet_classes() -> list[type]:
    return [TopicFacet]
