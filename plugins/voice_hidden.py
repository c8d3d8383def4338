"""Leave taken-down posts out of the posts table's pages, JSON and CSV.

`voice remove` marks a blog's posts `hidden = 1` and keeps them for the audit
(see docs/schema.md); readers browsing /voice/posts should not see them. The
views `posts_public` and `river` leave them out in SQL already. Arbitrary SQL
queries still see every row: that is the researcher's and the auditor's tool.
"""

from __future__ import annotations

from datasette import hookimpl
from datasette.filters import FilterArguments


@hookimpl
def filters_from_request(table: str | None) -> FilterArguments | None:
    if table != "posts":
        return None
    return FilterArguments(["hidden = 0"], human_descriptions=["not taken down"])
