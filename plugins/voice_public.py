"""The posts table's pages, JSON and CSV show public, canonical posts.

Taken-down posts (`hidden = 1`, see `voice remove`) are always left out.
Copies of another post (`duplicate_of` set) are left out too, so each post
shows once; `?_copies=1` shows them, with `duplicate_of` and
`duplicate_reason` saying which post they copy and why. The views
`posts_public` and `river` apply the same rules in SQL; arbitrary SQL still
sees every row, for researchers and audits. A research release (a database
named `voice-<id>`, plugins/voice_research.py) holds no taken-down posts and
no `hidden` column, so only its copies are left out. Reads only the
database contract.
"""

from __future__ import annotations

from datasette import hookimpl
from datasette.filters import FilterArguments
from datasette.utils.asgi import Request

RELEASE_PREFIX = "voice-"  # research releases' databases: voice-2026-12-07


@hookimpl
def filters_from_request(
    request: Request, database: str | None, table: str | None
) -> FilterArguments | None:
    if table != "posts":
        return None
    release = (database or "").startswith(RELEASE_PREFIX)
    where, said = ([], []) if release else (["hidden = 0"], ["not taken down"])
    if request.args.get("_copies") != "1":
        where.append("duplicate_of IS NULL")
        said.append("not a copy of another post (?_copies=1 shows copies)")
    return FilterArguments(where, human_descriptions=said)
