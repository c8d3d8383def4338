"""A bad sort in the address is the asker's mistake: 400 with the reason, not a 500.

Datasette 0.65 raises its DatasetteError with the default status 500 for
`?_sort=` or `?_sort_desc=` naming a column it cannot sort by (`rank` without
a search, a typo, a column of a view) and for both at once. This hook answers
those with 400 and Datasette's own message, as JSON for `.json` addresses
and as Datasette's error page otherwise; every other error is left to
Datasette. Reads nothing from the aggregator package.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from datasette import hookimpl
from datasette.utils.asgi import Response
from datasette.views.base import DatasetteError

SORT_MISTAKES = ("Cannot sort table by ", "Cannot use _sort and _sort_desc")
STATUS = 400


def is_sort_mistake(exception: BaseException) -> bool:
    return isinstance(exception, DatasetteError) and str(exception.message).startswith(
        SORT_MISTAKES
    )


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
