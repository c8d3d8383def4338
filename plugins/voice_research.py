"""Data for researchers: /research lists the research releases, and Datasette serves each.

Releases are the folders `voice release` writes into `releases/` beside the
live database (docs/schema.md, "Research releases"). Each one not withdrawn
is served as an immutable database named `voice-<id>`, so it has the same
JSON, CSV and SQL API as the live data and its SQLite file can be downloaded;
its Parquet, JSON Lines, manifest and CHANGES files are served from
/research/<id>/<file>, and only files its manifest lists. The folder is looked
at again when it changes, so a release made while the site runs (by `voice
run`) appears without a restart, and a deleted one goes. A release holding a
post or blog since taken down at its author's request is withdrawn (plugins/
reader/releases.py). A database that goes has its connections closed, so a
deleted release's file is really freed; its name is not served again by
this process (Datasette keeps connections per thread under the name): a
release that comes back is listed as served again after a restart.
`voice release` never gives an id out twice, so this is rare. Reads only
the database contract; never imports aggregator.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import replace
from html import escape
from pathlib import Path
from typing import Any

from datasette import hookimpl
from datasette.database import Database
from datasette.utils import format_bytes
from datasette.utils.asgi import AsgiFileDownload, Request, Response

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from reader.releases import (  # noqa: E402
    RELEASE_ID,
    RETIRED,
    Release,
    TakenDown,
    find_releases,
)
from reader.text import readable_date  # noqa: E402

LIVE = "voice"
SITE = "LocalGov Digital Voice"
TYPES = {
    ".parquet": "application/vnd.apache.parquet",
    ".gz": "application/gzip",
    ".json": "application/json",
    ".db": "application/vnd.sqlite3",
    "": "text/plain; charset=utf-8",
}
Message = MutableMapping[str, Any]
CLOSE_AFTER = 60.0  # seconds a removed release database stays open for requests under way
log = logging.getLogger(__name__)


class Releases:
    """What is served now, and the state of the folder and of takedowns it was read at."""

    def __init__(self) -> None:
        self.seen: tuple[object, ...] | None = None
        self.listed: list[Release] = []
        self.conn: sqlite3.Connection | None = None
        self.retired: set[str] = set()  # databases served once and since removed
        self.failure = ""  # the last error reading releases or takedowns, logged once

    def takedowns(self, path: str) -> tuple[int, int]:
        """How many takedowns there have been, and the latest: cheap to ask every request."""
        if self.conn is None:
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        count, latest = self.conn.execute("SELECT count(*), max(id) FROM removals").fetchone()
        return count, latest or 0

    def taken_down(self) -> TakenDown:
        assert self.conn is not None
        posts = self.conn.execute("SELECT post_id FROM takedowns")
        blogs = self.conn.execute("SELECT id FROM feeds WHERE removed_at IS NOT NULL")
        return TakenDown(frozenset(r[0] for r in posts), frozenset(r[0] for r in blogs))


def _folder(datasette: Any) -> Path | None:
    try:
        live = datasette.get_database(LIVE)
    except KeyError:
        return None
    return Path(live.path).parent / "releases" if live.path else None


def sync(datasette: Any) -> list[Release]:
    """Serve the releases there are now; cheap (one stat) when nothing changed.

    Never fails a request: if the releases or the takedowns cannot be read,
    no release is served until they can (the error is logged once).
    """
    state: Releases = datasette._voice_releases
    try:
        return _sync(datasette, state)
    except Exception as exc:  # noqa: BLE001  (whatever it is, no page may fail with it)
        # Fail closed: a release is served only while takedowns can be checked.
        if str(exc) != state.failure:
            log.error("research releases withdrawn: cannot read them: %s", exc)
        state.failure = str(exc)
        if state.conn is not None:
            state.conn.close()
        state.conn, state.seen, state.listed = None, None, []
        _retire(datasette, state, keep={})
        return []


def _sync(datasette: Any, state: Releases) -> list[Release]:
    folder = _folder(datasette)
    if folder is None:
        return []
    try:
        info = folder.stat()
        stamp: tuple[object, ...] = (info.st_mtime_ns, info.st_nlink)
    except OSError:
        stamp = ()
    key = (*stamp, *state.takedowns(datasette.get_database(LIVE).path)) if stamp else ()
    if key == state.seen:
        return state.listed
    listed = [
        replace(r, withdrawn_because=RETIRED)
        if r.database_name in state.retired and not r.withdrawn
        else r
        for r in (find_releases(folder, state.taken_down()) if stamp else [])
    ]
    served = {r.database_name: r for r in listed if not r.withdrawn}
    _retire(datasette, state, keep=served)
    for name, release in served.items():
        if name not in datasette.databases:
            db = Database(datasette, path=str(release.database), is_mutable=False)
            database = release.resource(release.database.name)
            if database:  # the manifest's SHA-256 is the file's: no need to read 1 GB again
                db.cached_hash = database["hash"].removeprefix("sha256:")
            datasette.add_database(db, name=name)
    state.seen, state.listed, state.failure = key, listed, ""
    return listed


def _retire(datasette: Any, state: Releases, keep: Mapping[str, Release]) -> None:
    """Stop serving every release database not in `keep`. Their connections are
    closed a minute later, when a download or query in progress has finished."""
    for name, gone in list(datasette.databases.items()):
        if name.startswith("voice-") and name not in keep:
            datasette.remove_database(name)
            state.retired.add(name)
            try:
                asyncio.get_running_loop().call_later(CLOSE_AFTER, gone.close)
            except RuntimeError:  # no loop: nothing can be using it
                gone.close()


@hookimpl
def startup(datasette: Any) -> None:
    datasette._voice_releases = Releases()
    sync(datasette)


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[Any], Any]:
    def wrap(app: Any) -> Any:
        async def with_current_releases(
            scope: Message,
            receive: Callable[[], Awaitable[Message]],
            send: Callable[[Message], Awaitable[None]],
        ) -> None:
            if scope["type"] == "http" and hasattr(datasette, "_voice_releases"):
                sync(datasette)
            await app(scope, receive, send)

        return with_current_releases

    return wrap


@hookimpl
def get_metadata(datasette: Any) -> dict[str, Any]:
    """Each release's database says what it is and how to cite it, on its pages and JSON.

    For every release served, whatever was asked: Datasette's database page
    looks its metadata up under "databases" without naming the database.
    """
    state: Releases | None = getattr(datasette, "_voice_releases", None)
    if state is None:
        return {}
    return {
        "databases": {
            release.database_name: {
                "description_html": (
                    f"<p>Research release {release.release_id}: a fixed copy of Voice's public "
                    "data. Its files, manifest and changes are on "
                    f'<a href="/research#release-{release.release_id}">Data for researchers</a>.'
                    f"</p><p>Cite as: {escape(citation(release))}</p>"
                ),
                "license": "CC-BY-4.0 for Voice's own data; posts remain their authors'",
                "license_url": "https://creativecommons.org/licenses/by/4.0/",
            }
            for release in state.listed
            if not release.withdrawn
        }
    }


def citation(release: Release) -> str:
    return str(release.manifest.get("citation", ""))


async def research(datasette: Any, request: Request) -> Response:
    releases = sync(datasette)
    body = await datasette.render_template(
        "voice_research.html",
        {
            "site": SITE,
            "releases": releases,
            "readable_date": readable_date,
            "citation": citation,
            "size": format_bytes,  # the units of Datasette's own download link
        },
        request=request,
    )
    # Not kept by voice_cache: the releases folder, not the database, changes this page.
    return Response.html(body, headers={"Cache-Control": "no-store"})


async def release_file(datasette: Any, request: Request) -> Any:
    release_id, name = request.url_vars["id"], request.url_vars["file"]
    found = [r for r in sync(datasette) if r.release_id == release_id and not r.withdrawn]
    path = found[0].file(name) if found and RELEASE_ID.match(release_id) else None
    if path is None:
        return Response.text("There is no such file in a research release.", status=404)
    suffix = next((s for s in TYPES if s and name.endswith(s)), "")
    return AsgiFileDownload(path, filename=name, content_type=TYPES[suffix])


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/research$", research),
        (
            r"^/research/(?P<id>[0-9][0-9-]{9,15})/(?P<file>[A-Za-z0-9_-]+(?:\.[0-9a-z]+){0,2})$",
            release_file,
        ),  # fmt: skip
    ]
