"""A bad sort or search in the address is the asker's mistake: 400 with the reason.

Datasette 0.65 raises its DatasetteError with the default status 500 for
`?_sort=` or `?_sort_desc=` naming a column it cannot sort by (`rank` without
a search, a typo, a column of a view) and for both at once. This hook answers
those with 400 and Datasette's own message, as JSON for `.json` addresses
and as Datasette's error page otherwise; every other error is left to
Datasette. A `?_search=` on a table with no full-text index (a research
release's tables, `feeds`) Datasette silently ignores, answering every row
as if they matched; it is a 400 that says so. Reads nothing from the
aggregator package.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from datasette import hookimpl
from datasette.utils.asgi import Response
from datasette.views.base import DatasetteError

SORT_MISTAKES = ("Cannot sort table by ", "Cannot use _sort and _sort_desc")
NO_SEARCH = (
    "{table} has no full-text search: _search would match every row. Filter columns "
    "instead (column__contains=word), or use ?sql= with LIKE"
)
STATUS = 400


def is_sort_mistake(exception: BaseException) -> bool:
    return isinstance(exception, DatasetteError) and str(exception.message).startswith(
        SORT_MISTAKES
    )


@hookimpl
def filters_from_request(
    request: Any, database: str, table: str, datasette: Any
) -> Callable[[], Awaitable[None]]:
    """Refuse a search where Datasette would find no full-text index (as its own
    search filter looks for one: the address, the table's metadata, the table)."""

    async def check() -> None:
        if not any(k.startswith("_search") and k != "_searchmode" for k in request.args):
            return
        fts = request.args.get("_fts_table") or datasette.table_metadata(database, table).get(
            "fts_table"
        )
        if not fts and not await datasette.get_database(database).fts_table(table):
            raise DatasetteError(NO_SEARCH.format(table=table), status=STATUS)

    return check


@hookimpl
def handle_exception(
    datasette: Any, request: Any, exception: BaseException
) -> Callable[[], Awaitable[Response]] | None:
    if not is_sort_mistake(exception):
        return None
    assert isinstance(exception, DatasetteError)
    info = {"ok": False, "error": exception.message, "status": STATUS, "title": None}

    async def answer() -> Response:
        if request.path.endswith(".json"):
            return Response.json(info, status=STATUS)
        template = datasette.jinja_env.select_template([f"{STATUS}.html", "error.html"])
        context = {
            **info,
            "urls": datasette.urls,
            "app_css_hash": datasette.app_css_hash(),
            "menu_links": lambda: [],
        }
        return Response.html(await template.render_async(context), status=STATUS)

    return answer
