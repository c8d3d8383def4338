"""Count and read what the front page needs once at start, before the first reader asks.

Just after Datasette starts, the first readers all wait for the first front
page: the navigation counts and the file's pages of the river's index and
newest posts, read from disk (at 100,000 posts the slowest request of a burst
of 20 clients took 1.4 s). Datasette awaits startup hooks before it answers
anyone, so doing that work here moves it ahead of the first request: the
counts are kept (reader/lookup.py) and the pages stay in SQLite's cache.
Rendering through datasette.client is not possible here: its request would
run the startup hooks again.
Reads only the database contract; never imports aggregator.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from datasette import hookimpl

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from reader import lookup, selection  # noqa: E402

DATABASE = "voice"


@hookimpl
def startup(datasette: Any) -> Callable[[], Awaitable[None]]:
    async def warm() -> None:
        if DATABASE not in datasette.databases:
            return
        db = datasette.get_database(DATABASE)
        try:
            await lookup.nav_counts(db)
            await lookup.all_blogs(db)
            await selection.find_posts(db, selection.selection_from_args({}, river=True))
        except (sqlite3.OperationalError, selection.BadRequest):  # no tables yet: nothing to warm
            return

    return warm
