"""Feeds of the reader pages: Atom, JSON Feed and the members' OPML.

- `/feed.atom`, `/feed.json`: the river (latest posts, no back catalogues).
- `/topics/<slug>.atom|.json`, `/regions/<slug>...`, `/blogs/<slug>...`.
- `/search.atom|.json?q=...` (q required).
- `/blogs.opml`: every live member blog's own feed, grouped by region.

Each feed takes the pages' query arguments (topic, region, blog, q, since,
until), so `/topics/open-data.atom?region=london` works, and holds the 50
newest posts by first seen. Answers carry an ETag (a hash of the body) and
Last-Modified, and a matching If-None-Match or If-Modified-Since gets a 304.
A bad argument is a 400 with one plain sentence; an unknown slug in the path
a 404. Links are absolute, built from the request; entry ids never depend on
it (docs/feeds.md). Reads only the database contract; never imports aggregator.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response

sys.path.insert(0, str(Path(__file__).parent))
from reader import selection, syndication  # noqa: E402

LIMIT = 50
SITE = syndication.PUBLISHER
CACHE = "public, max-age=300"
FORMATS = {
    "atom": (syndication.atom_feed, syndication.ATOM_TYPE),
    "json": (syndication.json_feed, syndication.JSON_TYPE),
}
KINDS = {"topics": "topic", "regions": "region", "blogs": "blog"}
# Member blogs offered for subscription: live, with a page on Voice.
OPML_SQL = """
    SELECT title, url AS feed_url, site_url, region, added_at FROM feeds
    WHERE removed_at IS NULL AND slug IS NOT NULL AND status NOT IN ('removed', 'gone')
"""


def _text(message: str, status: int) -> Response:
    return Response.text(message, status=status, headers={"Cache-Control": "no-store"})


def _with_query(path: str, args: dict[str, str]) -> str:
    return f"{path}?{urlencode(sorted(args.items()))}" if args else path


def _instant(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _not_modified(request: Any, tag: str, modified: datetime | None) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:  # when both are sent, If-None-Match decides (RFC 9110)
        tags = [t.strip().removeprefix("W/") for t in match.split(",")]
        return "*" in tags or tag in tags
    since = request.headers.get("if-modified-since")
    if not since or modified is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    return modified.replace(microsecond=0) <= when.replace(tzinfo=when.tzinfo or UTC)


def _answer(request: Any, body: bytes, content_type: str, modified: datetime | None) -> Response:
    tag = syndication.etag(body)
    headers = {"Cache-Control": CACHE, "ETag": tag}
    if modified is not None:
        modified = min(modified, datetime.now(UTC))
        headers["Last-Modified"] = syndication.http_date(modified)
    if _not_modified(request, tag, modified):
        return Response("", status=304, headers=headers)
    return Response(body, status=200, headers=headers, content_type=content_type)


async def _names(db: Any, chosen: selection.Selection) -> dict[str, str]:
    """What people call the selection's topic, region and blog (absent: unknown)."""
    found: dict[str, list[str]] = {}
    if chosen.topic:
        rows = await db.execute(
            "SELECT coalesce(nullif(label, ''), slug) FROM topics WHERE slug = ?", [chosen.topic]
        )
        found["topic"] = [r[0] for r in rows]
    if chosen.blog:
        rows = await db.execute(
            "SELECT coalesce(nullif(title, ''), slug) FROM feeds"
            " WHERE slug = ? AND removed_at IS NULL",
            [chosen.blog],
        )
        found["blog"] = [r[0] for r in rows]
    if chosen.region:
        rows = await db.execute(
            "SELECT DISTINCT region FROM feeds WHERE removed_at IS NULL AND region != ''"
        )
        found["region"] = [r[0] for r in rows if selection.slugify(r[0]) == chosen.region]
    return {kind: values[0] for kind, values in found.items() if values}


def _title(names: dict[str, str], chosen: selection.Selection) -> str:
    parts = [names[k] for k in ("topic", "region", "blog") if k in names]
    if chosen.q:
        parts.append(f"search for “{chosen.q}”")
    if chosen.since:
        parts.append(f"from {chosen.since}")
    if chosen.until:
        parts.append(f"to {chosen.until}")
    return f"{SITE}: {', '.join(parts) or ('Latest posts' if chosen.river else 'All posts')}"


async def _feed(datasette: Any, request: Any) -> Response:
    fmt = request.url_vars["format"]
    kind, slug = request.url_vars.get("kind"), request.url_vars.get("slug")
    name = request.url_vars.get("name")  # "feed" (the river), "search" or None
    fixed = {KINDS[kind]: slug} if kind and slug else {}
    db = datasette.get_database()
    try:
        chosen = selection.selection_from_args(request.args, **fixed, river=name == "feed")
    except selection.BadRequest as exc:
        if fixed:  # a path slug that cannot be one is simply not there
            return _text(f"There is no {KINDS[str(kind)]} “{str(slug)[:80]}”.", 404)
        return _text(exc.message, 400)
    if name == "search" and not chosen.q:
        return _text(f"Say what to search for, for example /search.{fmt}?q=open+data", 400)
    names = await _names(db, chosen)
    if fixed and KINDS[str(kind)] not in names:
        return _text(f"There is no {KINDS[str(kind)]} “{slug}”.", 404)
    chosen = replace(chosen, order="recent", before=None, page=1)
    try:
        page = await selection.find_posts(db, chosen, limit=LIMIT)
    except selection.BadRequest as exc:
        return _text(exc.message, 400)
    # Feeds are always newest first, so `order` says nothing; the path gives `fixed`.
    args = {k: v for k, v in chosen.query_args().items() if k not in fixed and k != "order"}
    where = f"/{kind}/{slug}" if fixed else "/search" if name == "search" else ""
    base = f"{request.scheme}://{request.host}"
    head = syndication.FeedHead(
        key=_with_query(where.lstrip("/") or "river", args),
        title=_title(names, chosen),
        self_url=base + datasette.urls.path(_with_query(f"{where or '/feed'}.{fmt}", args)),
        home_url=base + datasette.urls.path(_with_query(where or "/", args)),
    )
    render, content_type = FORMATS[fmt]
    return _answer(request, render(head, page.cards), content_type, syndication.newest(page.cards))


async def _opml(datasette: Any, request: Any) -> Response:
    blogs = (await datasette.get_database().execute(OPML_SQL)).rows
    added = [t for t in (_instant(b["added_at"]) for b in blogs) if t is not None]
    created = max(added) if added else None
    members = [
        syndication.MemberFeed(b["title"] or "", b["feed_url"], b["site_url"], b["region"])
        for b in blogs
    ]
    body = syndication.opml(f"{SITE}: member blogs", members, created)
    return _answer(request, body, syndication.OPML_TYPE, created)


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/(?P<name>feed|search)\.(?P<format>atom|json)$", _feed),
        (r"^/(?P<kind>topics|regions|blogs)/(?P<slug>[^/]+)\.(?P<format>atom|json)$", _feed),
        (r"^/blogs\.opml$", _opml),
    ]
