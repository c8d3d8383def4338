"""Facet counts kept while the database is unchanged (issue 13).

A facet over every public post reads a whole index: 40-150 ms at 100,000
posts and ten times that at a million, for every page of a table's JSON,
its HTML page and each `?_next=`. The counts are the same until Voice next
writes, so the facets of posts, river and posts_public keep them, per SQL
and parameters, with the database's version (reader/changes.py); the links
in each facet are still made from the request.

- `counted`: Datasette's column facet with its counts kept, for metadata.yml
  (`facets: [{counted: region}]`); its JSON says `"type": "column"`, as the
  column facet's did, so researchers' code sees no change. Filtered by one
  topic and nothing else, each column is counted from an index that holds it
  and the view's condition (INDEX), not from posts_public_state.
The topic facet (voice_topics.py) keeps its counts the same way
(reader.changes.kept_counts).

Each of Datasette's connections also keeps up to CACHE_MB of the file's
pages (SQLite's default is 2 MB), so a facet or count that reads an index
again finds it in memory rather than asking the kernel page by page: a
topic's region counts at 100,000 posts 39 -> 19 ms. Datasette has four
connections per file, well inside its address-space limit
(aggregator/service.py).

Reads only the database contract; never imports aggregator.
"""

from __future__ import annotations

import copy
import sqlite3
import sys
from pathlib import Path
from typing import Any

from datasette import hookimpl
from datasette.facets import ColumnFacet

CACHE_MB = 32

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from reader.changes import kept_counts  # noqa: E402

TOPIC_CLAUSE = "id IN (SELECT post_id FROM post_topics WHERE topic = :voice_topic_0)"
# One topic's posts in each table (?_topic= once, nothing else), as Datasette gives
# its facets, and the same posts read from an index that holds the counted column
# and every column of the view's condition.
ONE_TOPIC = {
    "posts_public": (f"from posts_public where {TOPIC_CLAUSE}",),
    "river": (f"from river where {TOPIC_CLAUSE}",),
    "posts": (
        f"from posts where {TOPIC_CLAUSE} and hidden = 0 and duplicate_of IS NULL",
        f"from posts where hidden = 0 and duplicate_of IS NULL and {TOPIC_CLAUSE}",
    ),
}
VIEW_WHERE = {
    "posts_public": "hidden = 0 AND duplicate_of IS NULL AND removed_at IS NULL",
    "river": "hidden = 0 AND is_backfill = 0 AND duplicate_of IS NULL AND removed_at IS NULL",
    "posts": "hidden = 0 AND duplicate_of IS NULL",
}
INDEX = {
    ("posts_public", "region"): "posts_public_region",
    ("posts_public", "organisation"): "posts_organisation",
    ("river", "region"): "posts_region",
    ("river", "organisation"): "posts_organisation",
    ("posts", "region"): "posts_region",
    ("posts", "organisation"): "posts_organisation",
}


def one_topic_sql(table: str, column: str, sql: str) -> str:
    """`sql` read from an index alone, if it is one topic's posts of `table`.

    SQLite checks each public post (posts_public_state, ~1M entries of several
    columns) against the topic; the narrower index that holds `column` reads the
    same posts: a region at 1,000,000 posts 0.27-1.5 s -> 0.12-0.44 s.
    """
    index = INDEX.get((table, column))
    whole = sql.rstrip()
    if index is None or not whole.startswith("select "):
        return sql
    if not any(whole.endswith(f" {form}") for form in ONE_TOPIC[table]):
        return sql
    return (
        f"select {column} from posts INDEXED BY {index}"
        f" where {VIEW_WHERE[table]} and {TOPIC_CLAUSE}"
    )


class CountedFacet(ColumnFacet):  # type: ignore[misc]
    """Datasette's column facet, its counts kept while the database is unchanged."""

    type = "counted"

    async def suggest(self) -> list[dict[str, Any]]:
        return []

    async def facet_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        if not self.get_configs():
            return [], []
        self.ds = kept_counts(self.ds)
        results: list[dict[str, Any]] = []
        timed_out: list[str] = []
        for config in self.get_configs():  # each column with its own SQL
            facet = copy.copy(self)
            facet.get_configs = lambda config=config: [config]
            column = config["config"].get("column") or config["config"]["simple"]
            if self.table in ONE_TOPIC:
                facet.sql = one_topic_sql(self.table, column, self.sql)
            counted, late = await ColumnFacet.facet_results(facet)
            results += counted
            timed_out += late
        for facet in results:
            facet["type"] = "column"
        return results, timed_out


@hookimpl
def register_facet_classes() -> list[type]:
    return [CountedFacet]


@hookimpl
def prepare_connection(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA cache_size = -{CACHE_MB * 1024}")
