"""Facet counts kept while the database is unchanged (issue 13).

A facet over every public post reads a whole index: 40-150 ms at 100,000
posts and ten times that at a million, for every page of a table's JSON,
its HTML page and each `?_next=`. The counts are the same until Voice next
writes, so the facets of posts, river and posts_public keep them, per SQL
and parameters, with the database's version (reader/changes.py); the links
in each facet are still made from the request.

- `counted`: Datasette's column facet with its counts kept, for metadata.yml
  (`facets: [{counted: region}]`); its JSON says `"type": "column"`, as the
  column facet's did, so researchers' code sees no change.
The topic facet (voice_topics.py) keeps its counts the same way
(reader.changes.kept_counts).

Reads only the database contract; never imports aggregator.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from datasette import hookimpl
from datasette.facets import ColumnFacet

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from reader.changes import kept_counts  # noqa: E402


class CountedFacet(ColumnFacet):  # type: ignore[misc]
    """Datasette's column facet, its counts kept while the database is unchanged."""

    type = "counted"

    async def suggest(self) -> list[dict[str, Any]]:
        return []

    async def facet_results(self) -> tuple[list[dict[str, Any]], list[str]]:
        if not self.get_configs():
            return [], []
        self.ds = kept_counts(self.ds)
        results, timed_out = await super().facet_results()
        for facet in results:
            facet["type"] = "column"
        return results, timed_out


@hookimpl
def register_facet_classes() -> list[type]:
    return [CountedFacet]
