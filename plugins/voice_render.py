"""Show post bodies as formatted text in Datasette's row and table pages.

The HTML was sanitised with nh3 when it was stored (see docs/schema.md), so it
is rendered as HTML here instead of as escaped markup. This plugin reads only
the database contract: it never imports the aggregator package.
"""

from __future__ import annotations

from datasette import hookimpl
from markupsafe import Markup

HTML_COLUMNS = {"content_html", "summary_html"}


@hookimpl
def render_cell(value: object, column: str, table: str | None) -> Markup | None:
    if table != "posts" or column not in HTML_COLUMNS or not isinstance(value, str):
        return None
    return Markup('<div class="voice-post" style="max-height:20em;overflow:auto">{}</div>').format(
        Markup(value)
    )
