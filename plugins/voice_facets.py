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
  topic and nothing else, the counts are read from topic_facets
  (reader/stored.py), not from the posts.
The topic facet (voice_topics.py) keeps its counts the same way
(reader.changes.kept_counts).

Each of Datasette's connections also keeps up to CACHE_MB of the file's
pages (SQLite's default is 2 MB), so a facet or count that reads an index
again finds it in memory rather than asking the kernel page by page (a
topic's region counts at 100,000 posts, when they were counted on request:
39 -> 19 ms). Datasette has four
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
from reader.stored import StoredFacet, facet_sql, one_topic  # noqa: E402

STORED = ("region", "organisation")  # the columns topic_facets counts


class CountedFacet(ColumnFacet):  # type: ignore[misc]
    """Datasette's column facet, its counts kept while the database is unchanged."""

    type = "counted"

    async def suggest(self) -> list[dict[str, Any]]:
        return []

    async def facet_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        if not self.get_configs():
            return [], []
        plain, self.ds = self.ds, kept_counts(self.ds)
        results: list[dict[str, Any]] = []
        timed_out: list[str] = []
        stored = one_topic(self.table, self.sql)
        size = self.get_facet_size()
        for config in self.get_configs():  # each column with its own SQL
            facet = copy.copy(self)
            facet.get_configs = lambda config=config: [config]
            column = config["config"].get("column") or config["config"]["simple"]
            if stored and column in STORED:
                facet.ds = StoredFacet(plain, facet_sql(self.table, column, size + 1))
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
