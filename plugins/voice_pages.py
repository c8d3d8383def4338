"""Readers' Voice: the pages people read, inside Datasette (issue 10).

- `/` the latest posts (no back catalogues), fair share: at most three
  posts in a row from one blog, the rest of the run as "N more from <blog>";
- `/topics`, `/topics/<slug>`, `/regions`, `/regions/<slug>`, `/blogs`,
  `/blogs/<slug>` (with the blog's health in plain English);
- `/posts/<id>` one post in full, with its copies and why each topic was given;
- `/search?q=` best match first (or `order=recent`), with topic, region,
  since and until filters.

Every list takes the same args as its Atom and JSON feeds (plugins/voice_feeds.py)
and links to them. A reader's bad parameter is a 400 page saying what is
wrong, never a 500. The data comes from `plugins/reader/` (docs/reader.md);
this plugin never imports aggregator.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import Request, Response

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from reader import lookup, selection  # noqa: E402
from reader.selection import BadRequest, Card, Selection  # noqa: E402
from reader.text import STATUS_TEXT, readable_date  # noqa: E402

DATABASE = "voice"
PAGE_SIZE = 25
FAIR_SHARE = 3  # posts in a row from one blog before the rest collapse
SITE = "LocalGov Digital Voice"

TOPIC_SOURCES = {
    "category": "from the post's own category",
    "rules": "from words and phrases in its title and text",
    "feed": "from the blog's usual topics",
    "editor": "set by an editor",
}
COPY_RULES = {
    "same-url": "the same address",
    "evidence": "it says it was first published there",
    "same-content": "the same title and text",
    "near-duplicate": "nearly the same text",
}


def fair_share(cards: tuple[Card, ...], limit: int = FAIR_SHARE) -> list[dict[str, Any]]:
    """Cards, with the rest of any run of more than `limit` from one blog as one line."""
    items: list[dict[str, Any]] = []
    run_blog: object = None
    run = 0
    for card in cards:
        blog = (card.blog_slug, card.blog_title)
        run = run + 1 if blog == run_blog else 1
        run_blog = blog
        if run <= limit:
            items.append({"card": card})
        elif items[-1].get("more"):
            items[-1]["more"] += 1
        else:
            items.append({"more": 1, "blog_title": card.blog_title, "blog_slug": card.blog_slug})
    return items


def copy_reason(reason: str | None) -> str:
    """ "near-duplicate 0.83" -> "nearly the same text (83% alike)"."""
    if not reason:
        return "found by Voice"
    rule, _, score = reason.partition(" ")
    said = COPY_RULES.get(rule, rule)
    try:
        value = float(score)
    except ValueError:
        return said
    return f"{said} ({value:.0%} alike)" if value < 1 else said


def topic_reason(source: str, score: float | None, evidence: Sequence[str] = ()) -> str:
    """Why a post has a topic, as the post page says it ("set by an editor").

    With the words that counted most (post_topics.evidence):
    'from words and phrases in its title and text: "peer review", "assessors"'.
    """
    said = TOPIC_SOURCES.get(source) or "from " + (source or "Voice's rules")
    words = ", ".join(f"\u201c{w}\u201d" for w in evidence)
    if evidence and source == "rules":
        said += ": " + words
    elif evidence and source == "category":
        said += ", and its words " + words
    return said


def link(path: str, args: dict[str, str] | None = None) -> str:
    return path + ("?" + urlencode(args) if args else "")


def feeds_for(base: str, sel: Selection, fixed: str | None = None) -> dict[str, str]:
    """The Atom and JSON Feed addresses matching this page and its filters."""
    args = {k: v for k, v in sel.query_args().items() if k != fixed and k != "order"}
    return {"atom": link(base + ".atom", args), "json": link(base + ".json", args)}


async def render(
    datasette: Any, request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    body = await datasette.render_template(
        template,
        {
            "site": SITE,
            "readable_date": readable_date,
            "status_text": STATUS_TEXT,
            "copy_reason": copy_reason,
            "topic_reason": topic_reason,
            **context,
        },
        request=request,
    )
    return Response.html(body, status=status)


async def problem(datasette: Any, request: Request, message: str, status: int = 400) -> Response:
    title = "Page not found" if status == 404 else "There is a problem with this address"
    return await render(
        datasette,
        request,
        "voice_error.html",
        {"title": title, "message": message, "status": status},
        status=status,
    )


async def list_page(
    datasette: Any,
    request: Request,
    sel: Selection,
    context: dict[str, Any],
    *,
    share: bool = True,
) -> Response:
    db = datasette.get_database(DATABASE)
    page = await selection.find_posts(db, sel, limit=PAGE_SIZE)
    args = sel.query_args()
    older = (
        link(request.path, {**args, "before": str(page.next_before)}) if page.next_before else None
    )
    newer = link(request.path, args) if sel.before else None
    items = fair_share(page.cards) if share else [{"card": c} for c in page.cards]
    return await render(
        datasette,
        request,
        context.pop("template", "voice_list.html"),
        {"selection": sel, "items": items, "older": older, "newer": newer, **context},
    )


async def river(datasette: Any, request: Request) -> Response:
    try:
        sel = selection.selection_from_args(request.args, river=True)
        regions, topics = await lookup.nav_counts(datasette.get_database(DATABASE))
        return await list_page(
            datasette,
            request,
            sel,
            {
                "template": "voice_river.html",
                "regions": regions,
                "topics": topics,
                "feeds": feeds_for("/feed", sel),
            },
        )
    except BadRequest as e:
        return await problem(datasette, request, e.message)


async def topics_index(datasette: Any, request: Request) -> Response:
    _, topics = await lookup.nav_counts(datasette.get_database(DATABASE))
    return await render(datasette, request, "voice_topics.html", {"topics": topics})


async def regions_index(datasette: Any, request: Request) -> Response:
    regions, _ = await lookup.nav_counts(datasette.get_database(DATABASE))
    return await render(datasette, request, "voice_regions.html", {"regions": regions})


async def topic_page(datasette: Any, request: Request) -> Response:
    slug = request.url_vars["slug"]
    _, topics = await lookup.nav_counts(datasette.get_database(DATABASE))
    found = [t for t in topics if t[0] == slug]
    if not found:
        return await problem(datasette, request, f"There is no topic “{slug}”.", 404)
    _, label, description, count = found[0]
    try:
        sel = selection.selection_from_args(request.args, topic=slug)
        context = {"h1": label, "intro": description, "count": count, "kind": "topic"}
        context["feeds"] = feeds_for(f"/topics/{slug}", sel, "topic")
        return await list_page(datasette, request, sel, context)
    except BadRequest as e:
        return await problem(datasette, request, e.message)


async def region_page(datasette: Any, request: Request) -> Response:
    slug = request.url_vars["slug"]
    db = datasette.get_database(DATABASE)
    regions, _ = await lookup.nav_counts(db)
    names = [name for name, s, _ in regions if s == slug]
    try:
        sel = selection.selection_from_args(request.args, region=slug)
        context = {"h1": names[0] if names else slug, "kind": "region"}
        context["feeds"] = feeds_for(f"/regions/{slug}", sel, "region")
        if not names:  # a region of live blogs with no public post yet is still a region
            found = await db.execute(
                "SELECT DISTINCT region FROM feeds WHERE removed_at IS NULL AND region != ''"
            )
            match = [r[0] for r in found.rows if selection.slugify(r[0]) == slug]
            if not match:
                return await problem(datasette, request, f"There is no region “{slug}”.", 404)
            context["h1"] = match[0]
        return await list_page(datasette, request, sel, context)
    except BadRequest as e:
        return await problem(datasette, request, e.message)


async def blogs_index(datasette: Any, request: Request) -> Response:
    blogs = await lookup.all_blogs(datasette.get_database(DATABASE))
    by_region: dict[str, list[lookup.Blog]] = {}
    for blog in blogs:
        by_region.setdefault(blog.region or "No region given", []).append(blog)
    return await render(datasette, request, "voice_blogs.html", {"by_region": by_region})


async def blog_page(datasette: Any, request: Request) -> Response:
    slug = request.url_vars["slug"]
    blog = await lookup.blog_info(datasette.get_database(DATABASE), slug)
    if blog is None:
        return await problem(datasette, request, f"There is no member blog “{slug}”.", 404)
    try:
        sel = selection.selection_from_args(request.args, blog=slug)
        context = {
            "template": "voice_blog.html",
            "blog": blog,
            "h1": blog.title,
            "feeds": feeds_for(f"/blogs/{slug}", sel, "blog"),
        }
        return await list_page(datasette, request, sel, context, share=False)
    except BadRequest as e:
        return await problem(datasette, request, e.message)


async def post_page(datasette: Any, request: Request) -> Response:
    post_id = int(request.url_vars["id"])
    db = datasette.get_database(DATABASE)
    detail = await lookup.post_detail(db, post_id)
    if detail is None:
        # A copy of another post is read on its canonical post's page, which
        # lists where else it was published (302: a dedupe rebuild may relink it).
        canonical = await lookup.canonical_of(db, post_id)
        if canonical is not None:
            return Response.redirect(datasette.urls.path(f"posts/{canonical}"))
        message = "There is no post with this number: it may have been taken down."
        return await problem(datasette, request, message, 404)
    return await render(datasette, request, "voice_post.html", {"post": detail})


async def search_page(datasette: Any, request: Request) -> Response:
    db = datasette.get_database(DATABASE)
    regions, topics = await lookup.nav_counts(db)
    form = {
        name: request.args.get(name) or "" for name in ("q", "topic", "region", "since", "until")
    }
    form["order"] = request.args.get("order") or ""
    context: dict[str, Any] = {"form": form, "regions": regions, "topics": topics}
    args: Any = request.args
    if form["order"] == "relevance" and not form["q"].strip():  # the form's default, no words
        args = {k: request.args.get(k) for k in request.args if k != "order"}
    try:
        sel = selection.selection_from_args(args)
    except BadRequest as e:
        return await render(
            datasette, request, "voice_search.html", {**context, "error": e.message}, 400
        )
    if not (sel.q or sel.topic or sel.region or sel.since or sel.until):
        return await render(datasette, request, "voice_search.html", context)
    try:
        page = await selection.find_posts(db, sel, limit=PAGE_SIZE)
    except BadRequest as e:
        return await render(
            datasette, request, "voice_search.html", {**context, "error": e.message}, 400
        )
    args = sel.query_args()
    older = None
    if page.next_before:
        older = link("/search", {**args, "before": str(page.next_before)})
    elif page.next_page:
        older = link("/search", {**args, "page": str(page.next_page)})
    newer = None
    if sel.page > 1:
        newer = link("/search", {**args, **({"page": str(sel.page - 1)} if sel.page > 2 else {})})
    elif sel.before:
        newer = link("/search", args)
    other = replace(sel, order="recent" if sel.order == "relevance" else "relevance")
    switch = link("/search", other.query_args()) if sel.q else None
    context.update(
        selection=sel,
        searched=True,
        items=[{"card": c} for c in page.cards],
        older=older,
        newer=newer,
        switch=switch,
        feeds=feeds_for("/search", sel),
    )
    return await render(datasette, request, "voice_search.html", context)


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/$", river),
        (r"^/topics$", topics_index),
        (r"^/topics/(?P<slug>[a-z0-9-]+)$", topic_page),
        (r"^/regions$", regions_index),
        (r"^/regions/(?P<slug>[a-z0-9-]+)$", region_page),
        (r"^/blogs$", blogs_index),
        (r"^/blogs/(?P<slug>[a-z0-9-]+)$", blog_page),
        (r"^/posts/(?P<id>[0-9]{1,18})$", post_page),
        (r"^/search$", search_page),
    ]
