"""Show post bodies as formatted text on Datasette's pages for posts, river and posts_public.

The HTML was sanitised with nh3 when it was stored (see docs/schema.md), so it
is rendered as HTML instead of as escaped markup:

- on a row page (`/voice/posts/1`) in full, in the flow of the page (no
  scroll box: a scrolling region would need its own keyboard focus);
- in a table or view listing, where a post is one row among many, as HTML
  when it is short and otherwise as its first words in plain text, so rows
  stay a few lines high; the row page, the JSON and the post's own link give
  the whole post.

Which page is being drawn is remembered per request by a small ASGI wrapper,
since Datasette 0.65's render_cell is not told. Reads only the database
contract: it never imports the aggregator package.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from datasette import hookimpl
from datasette.app import Datasette
from markupsafe import Markup

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from reader.text import shift_headings  # noqa: E402

HTML_COLUMNS = {"content_html", "summary_html"}
POST_TABLES = {"posts", "river", "posts_public"}
EXCERPT_CHARS = 280  # a listing shows HTML whose text is this long or shorter, else an excerpt
ROW_PAGE = re.compile(r"^/[^/]+/[^/]+/[^/]+$")  # /<database>/<table>/<primary key>, HTML only

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]
on_row_page: ContextVar[bool] = ContextVar("voice_on_row_page", default=False)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parts.append(" ")  # <p>a</p><p>b</p> reads "a b", not "ab"


def text_of(html: str) -> str:
    """The words of an HTML fragment, whitespace collapsed."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split())


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` cut at a word boundary before `limit` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut.rstrip(" ,.;:-") + "…"


@hookimpl
def render_cell(
    row: Any, value: object, column: str, table: str | None, datasette: Datasette
) -> Markup | None:
    if table in POST_TABLES and column == "title" and isinstance(value, str) and value:
        post_id = _post_id(row)
        if post_id is not None:  # the title links to the post's reader page
            href = datasette.urls.path(f"posts/{post_id}")
            return Markup('<a href="{}">{}</a>').format(href, value)
    if table not in POST_TABLES or column not in HTML_COLUMNS or not isinstance(value, str):
        return None
    text = text_of(value)
    if on_row_page.get() or len(text) <= EXCERPT_CHARS:
        # the post's own headings go under the page's h1, without gaps (as on /posts/<id>)
        body = shift_headings(value, start=2)
        return Markup('<div class="voice-post">{}</div>').format(Markup(body))
    return Markup('<p class="voice-excerpt">{}</p>').format(excerpt(text))


@hookimpl
def asgi_wrapper() -> Callable[[ASGIApp], ASGIApp]:
    def wrap(app: ASGIApp) -> ASGIApp:
        async def remembering_the_page(
            scope: Message,
            receive: Callable[[], Awaitable[Message]],
            send: Callable[[Message], Awaitable[None]],
        ) -> None:
            path = scope.get("path", "") if scope["type"] == "http" else ""
            token = on_row_page.set(bool(ROW_PAGE.match(path)) and not path.startswith("/-/"))
            try:
                await app(scope, receive, send)
            finally:
                on_row_page.reset(token)

        return remembering_the_page

    return wrap


def _post_id(row: Any) -> int | None:
    """The row's post id, when the page shows it (a `_col=` selection may leave it out)."""
    try:
        value = row["id"]
    except (KeyError, IndexError, TypeError):
        return None
    return value if isinstance(value, int) else None
