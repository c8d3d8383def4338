"""The posts table and posts_public show the columns people read; `?_col=` shows any other.

Some columns of `posts` are Voice's own bookkeeping (identity and duplicate
keys, hashes, the MinHash signature) and `text` repeats `content_html` as
plain text for search; in `posts_public`, the researchers' view, `entry_key`
is the same bookkeeping and `duplicate_reason` is always empty (copies are
not in it). Datasette 0.65 has no setting to leave columns out by default,
so this wrapper adds `_nocol=` for them to requests for those tables' page,
JSON and CSV that name no columns themselves: any `_col` or
`_nocol` in the address turns it off (`?_col=minhash` shows the signature,
`?_nocol=title` everything but the title). Row pages and SQL show every column.
Reads only the database contract; never imports aggregator.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl

INTERNAL_COLUMNS = (
    "entry_key",
    "guid",
    "raw_hash",
    "url_key",
    "content_key",
    "evidence_key",
    "minhash",
)
HIDDEN = {"posts": INTERNAL_COLUMNS, "posts_public": ("entry_key", "duplicate_reason")}
HTML_ONLY_COLUMNS = ("text",)  # in the JSON and CSV, where search tools want it
POSTS = re.compile(r"^/[^/]+/(?P<table>posts|posts_public)(?P<format>\.json|\.csv)?$")

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


def hidden_columns(path: str, query_string: str) -> list[str]:
    """The columns to leave out of this request, or [] to leave it as it is."""
    match = POSTS.match(path)
    if match is None:
        return []
    names = {name for name, _ in parse_qsl(query_string, keep_blank_values=True)}
    if names & {"_col", "_nocol"}:
        return []
    internal = HIDDEN[match["table"]]
    if match["format"]:
        return list(internal)
    return [*internal, *HTML_ONLY_COLUMNS]


async def existing(datasette: Any, path: str, columns: list[str]) -> list[str]:
    """Those of `columns` the table has (Datasette refuses _nocol of a missing one)."""
    match = POSTS.match(path)
    try:
        db = datasette.get_database(path.split("/")[1])
    except KeyError:
        return []
    if match is None:
        return []
    have = set(await db.table_columns(match["table"]))
    return [column for column in columns if column in have]


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[ASGIApp], ASGIApp]:
    def wrap(app: ASGIApp) -> ASGIApp:
        async def without_internal_columns(
            scope: Message,
            receive: Callable[[], Awaitable[Message]],
            send: Callable[[Message], Awaitable[None]],
        ) -> None:
            if scope["type"] == "http":
                query = scope.get("query_string", b"").decode("latin-1")
                path = scope.get("path", "")
                hidden = hidden_columns(path, query)
                if hidden:
                    hidden = await existing(datasette, path, hidden)
                if hidden:
                    extra = urlencode([("_nocol", column) for column in hidden])
                    query = f"{query}&{extra}" if query else extra
                    scope = {**scope, "query_string": query.encode("latin-1")}
            await app(scope, receive, send)

        return without_internal_columns

    return wrap
