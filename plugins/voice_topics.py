"""Filter and facet posts by topic through the `post_topics` table.

Datasette's array facet over `posts.topics` reads every row's JSON and is too
slow at 100,000 posts; counting `post_topics` rows for the filtered posts
goes through its (topic, post_id) index instead.

- Filter: `?_topic=open-data` (repeat for posts with all the given topics).
- Facet: `?_facet_topic=topics`, or `facets: [{topic: topics}]` in metadata;
  its counts are kept while the database is unchanged (reader/changes.py).

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

from reader.changes import kept_counts  # noqa: E402

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
        where.append(f"id IN (SELECT post_id FROM post_topics WHERE topic = :voice_topic_{i})")
        params[f"voice_topic_{i}"] = topic
    return FilterArguments(
        where, params=params, human_descriptions=[f'topic is "{t}"' for t in topics]
    )


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
