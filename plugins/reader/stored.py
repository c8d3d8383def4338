"""One topic's count and facets, read from `topic_facets` (migration 0014).

A table filtered by one topic (`?_topic=` once and nothing else) counts its
posts and facets them by region, organisation and topic. Counting on request
read one index entry per post of the topic: 0.6 s at the median and 3-4 s
at the 95th percentile for a topic in 79% of a million posts, after each
write. `topic_facets` holds those numbers per topic, kept by triggers in the
writer's own transaction, so each is a sum over a few dozen rows.

Reads only the database contract (docs/schema.md).
"""

from __future__ import annotations

from .changes import KeptCounts

# The where clause voice_topics.py gives a table for each ?_topic= (the i-th).
TOPIC_FILTER = "id IN (SELECT post_id FROM post_topics WHERE topic = :voice_topic_{})"
TOPIC_CLAUSE = TOPIC_FILTER.format(0)
# One topic's posts in each table as Datasette gives its count and facets the
# table's where clause (voice_public.py adds the posts table's own condition).
ONE_TOPIC = {
    "posts_public": (f"from posts_public where {TOPIC_CLAUSE}",),
    "river": (f"from river where {TOPIC_CLAUSE}",),
    "posts": (
        f"from posts where {TOPIC_CLAUSE} and hidden = 0 and duplicate_of IS NULL",
        f"from posts where hidden = 0 and duplicate_of IS NULL and {TOPIC_CLAUSE}",
    ),
}
# topic_facets.shown: 2 shown by every table, 1 not by river (back catalogue),
# 0 only by posts (its blog was taken down).
LEAST_SHOWN = {"posts": 0, "posts_public": 1, "river": 2}


def one_topic(table: str, sql: str) -> bool:
    """Whether `sql` selects `table`'s posts of one topic, filtered by nothing else."""
    whole = sql.rstrip()
    return any(whole.endswith(f" {form}") for form in ONE_TOPIC.get(table, ()))


def facet_sql(table: str, facet: str, limit: int) -> str:
    """The facet's values and counts as Datasette's facet SQL gives them."""
    return f"""
        SELECT value, sum(n) AS count FROM topic_facets
        WHERE topic = :voice_topic_0 AND facet = '{facet}' AND shown >= {LEAST_SHOWN[table]}
        GROUP BY value ORDER BY count DESC, value LIMIT {limit}
    """


def count_sql(table: str) -> str:
    """How many of the table's posts have the topic: its pair with itself."""
    return f"""
        SELECT coalesce(sum(n), 0) FROM topic_facets
        WHERE topic = :voice_topic_0 AND facet = 'topic' AND value = :voice_topic_0
          AND shown >= {LEAST_SHOWN[table]}
    """


class StoredFacet(KeptCounts):
    """Datasette as one facet sees it: its facet SQL swapped for `sql` (from
    topic_facets), the results kept while the database is unchanged."""

    def __init__(self, ds: object, sql: str) -> None:
        super().__init__(ds)
        self._sql = sql

    async def execute(
        self, database: str, sql: str, params: object = None, **kwargs: object
    ) -> object:
        return await super().execute(database, self._sql, params, **kwargs)
