"""Try a blog before it joins: fetch, discover, parse and tag once, storing nothing.

The edge between a URL someone typed and a feed Voice could read. Every
request goes through the guarded fetcher with the registry's limits (private
and loopback addresses are refused unless the instance allows them), and every
fetched document is parsed in the limited parse workers the update cycle uses,
with the topic vocabulary, so the preview shows what the cycle would store.

    the URL is a feed          -> that feed
    the URL is a web page      -> discovery.plan_candidates, tier by tier (at
                                  most MAX_FETCHES more requests); within a tier
                                  full text beats excerpts
    nothing works              -> `problem` and `advice` in plain English
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from aggregator import __version__, fetching
from aggregator.analysis.vocabulary import Vocabulary, rules_version
from aggregator.errors import FetchError, InternalError, ParseError
from aggregator.health import explain, public_error
from aggregator.joining.discovery import (
    Candidate,
    PageData,
    left_aside,
    looks_like_html,
    plan_candidates,
    platform_of_feed,
    read_page,
)
from aggregator.models import EntryData, FeedData, FetchLimits, ParseJob, Registry, Settings
from aggregator.parsing.pool import ParsePool

MAX_FETCHES = 3  # candidate feeds fetched after the page itself
EXCERPT_CHARS = 600  # a summary-only entry shorter than this reads as an excerpt
_EXCERPT_ENDINGS = ("…", "...", "[…]", "[...]", "read more", "continue reading", "read on")


@dataclass(frozen=True)
class Trial:
    """The outcome of trying one URL: the feed chosen and a preview, or the problem."""

    requested_url: str
    feed_url: str | None
    site_url: str | None
    title: str | None
    platform: str | None
    entries: int
    latest: tuple[tuple[str, str | None], ...]
    full_text: bool | None
    topics: tuple[str, ...]
    chosen_because: str
    problem: str | None
    advice: str | None
    candidates: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return self.feed_url is not None and self.problem is None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["latest"] = [{"title": t, "published": p} for t, p in self.latest]
        data["topics"] = list(self.topics)
        data["candidates"] = [{"url": u, "note": n} for u, n in self.candidates]
        data["ok"] = self.ok
        return data


@dataclass(frozen=True)
class _Attempt:
    """One candidate fetched and parsed: its feed, or what went wrong in words."""

    candidate: Candidate
    url: str  # where the feed lives (after permanent redirects)
    data: FeedData | None = None
    platform: str | None = None
    what: str | None = None  # "answered 404 Not Found", "gave a web page, not a feed"
    advice: str | None = None


@dataclass(frozen=True)
class _Edges:
    client: fetching.Client
    limits: FetchLimits
    settings: Settings
    pool: ParsePool[Vocabulary]


def run_trial(
    url: str,
    registry: Registry,
    vocabulary: Vocabulary | None,
    *,
    allow_private_hosts: bool | None = None,
    transport: fetching.Transport | None = None,
    pool: ParsePool[Vocabulary] | None = None,
) -> Trial:
    """Try `url` as a new member's blog; the blog's faults come back in the Trial, not raised."""
    settings = registry.settings
    if allow_private_hosts is not None:
        settings = replace(settings, allow_private_hosts=allow_private_hosts)
    own = pool is None
    if pool is None:
        from aggregator.update.cycle import make_pool

        pool = make_pool(replace(settings, parse_workers=1))
    pool.share(rules_version(vocabulary) if vocabulary is not None else None, vocabulary)
    try:
        return asyncio.run(_trial(url.strip(), settings, pool, transport))
    finally:
        if own:
            pool.close()


async def _trial(
    url: str, settings: Settings, pool: ParsePool[Vocabulary], transport: fetching.Transport | None
) -> Trial:
    limits = fetching.limits_from_settings(settings, __version__)
    async with fetching.make_client(limits, transport) as client:
        edges = _Edges(client, limits, settings, pool)
        try:
            response = await fetching.fetch_feed(client, url, limits)
        except FetchError as exc:
            what, advice = _said(exc)
            return _failed(url, f"That address {what}.", advice)
        body = response.body or b""
        page_url = response.url
        if not looks_like_html(body, response.content_type):
            given = Candidate(url, "given", None, "main", "the address you gave")
            attempt = await _parse(
                edges,
                given,
                response.permanent_redirect or url,
                body,
                response.content_type,
                response.url,
            )
            if attempt.data is not None:
                return _chosen(url, attempt, "The address you gave is itself a feed.", None, ())
            return _failed(url, f"That address {attempt.what}.", attempt.advice)
        page = read_page(body, page_url)
        return await _discover(edges, url, page)


async def _discover(edges: _Edges, url: str, page: PageData) -> Trial:
    tried: list[_Attempt] = []
    for tier in plan_candidates(page, MAX_FETCHES):
        attempts = [await _fetch(edges, c) for c in tier]
        tried += attempts
        working = [a for a in attempts if a.data is not None]
        if working:
            best, why = _best(working, page, tried)
            notes = _notes(page, tried, best)
            return _chosen(url, best, why, page, notes)
    problem, advice = _nothing_worked(page, tried)
    return _failed(url, problem, advice, page, _notes(page, tried, None))


async def _fetch(edges: _Edges, candidate: Candidate) -> _Attempt:
    try:
        response = await fetching.fetch_feed(edges.client, candidate.url, edges.limits)
    except FetchError as exc:
        what, advice = _said(exc)
        return _Attempt(candidate, candidate.url, what=what, advice=advice)
    where = response.permanent_redirect or candidate.url
    return await _parse(
        edges, candidate, where, response.body or b"", response.content_type, response.url
    )


async def _parse(
    edges: _Edges,
    candidate: Candidate,
    where: str,
    body: bytes,
    content_type: str | None,
    final_url: str,
) -> _Attempt:
    settings = edges.settings
    job = ParseJob(
        body=body,
        url=final_url,
        content_type=content_type,
        fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
        max_entries=settings.max_entries,
        max_entry_bytes=settings.max_entry_bytes,
    )
    edges.pool.start()
    try:
        data = await asyncio.to_thread(edges.pool.parse, job)
    except ParseError as exc:
        what, advice = _said(exc)
        return _Attempt(candidate, where, what=what, advice=advice)
    except InternalError:
        advice = explain("error", "internal").explanation
        return _Attempt(
            candidate, where, what="could not be read (a problem in Voice)", advice=advice
        )
    return _Attempt(candidate, where, data, platform_of_feed(body, final_url))


# -- choosing -----------------------------------------------------------------------


def _best(working: list[_Attempt], page: PageData, tried: list[_Attempt]) -> tuple[_Attempt, str]:
    """The feed to choose among those that worked in one tier, and why, in one sentence."""
    full = [a for a in working if _full_text(a.data) is True]
    best = full[0] if full else working[0]
    source = best.candidate
    if source.source == "advertised" and source.role == "main":
        if len(working) > 1 and full and len(full) < len(working):
            return best, (
                "The page advertises more than one feed of this blog, and this one "
                "carries full text where the other has only excerpts."
            )
        aside = [c for c in left_aside(page) if c.role == "comments"]
        tail = (
            ", leaving aside the comments feed it also lists (readers' comments, not posts)"
            if aside
            else ""
        )
        return best, f"The page advertises it as the blog's feed{tail}."
    if source.source == "conventional":
        broken = any(a.candidate.source == "advertised" for a in tried)
        start = (
            "The feed the page advertises did not work" if broken else "The page advertises no feed"
        )
        where = (
            f"this is where {page.platform} blogs serve theirs"
            if page.platform
            else "this usual feed address answered with a feed"
        )
        return best, f"{start}, and {where}."
    return best, (
        "The page advertises only a category or tag feed, so only the posts in "
        "that category would appear in Voice."
    )


def _nothing_worked(page: PageData, tried: list[_Attempt]) -> tuple[str, str]:
    advertised = [
        a for a in tried if a.candidate.source == "advertised" and a.candidate.role == "main"
    ]
    usual = [a for a in tried if a.candidate.source == "conventional"]
    either = (
        f", and the usual {page.platform} feed address ({usual[0].candidate.url}) "
        "did not give a feed either"
        if page.platform and usual
        else ", and none of the usual feed addresses gave a feed either"
        if usual
        else ""
    )
    if advertised:
        first = advertised[0]
        problem = f"The feed it advertises ({first.candidate.url}) {first.what}{either}."
        return problem, first.advice or _ASK
    aside = left_aside(page)
    json_feeds = [c for c in aside if c.format == "JSON Feed"]
    comments = [c for c in aside if c.role == "comments"]
    category = [a for a in tried if a.candidate.role == "category"]
    if json_feeds:
        return (
            f"That blog advertises only a JSON Feed ({json_feeds[0].url}), which Voice "
            f"cannot read yet{either}.",
            "Voice reads RSS and Atom feeds: ask your blog platform whether it can "
            "publish one of those too, and try its address.",
        )
    if comments:
        return (
            f"That page advertises only a comments feed ({comments[0].url}), which "
            f"carries readers' comments rather than the blog's posts{either}.",
            "Give the address of the blog's posts feed: ask your blog platform or web team for it.",
        )
    if category:
        return (
            f"The only feed that page advertises ({category[0].candidate.url}) "
            f"{category[0].what}{either}.",
            category[0].advice or _ASK,
        )
    if page.platform and usual:
        return (
            f"That page is a web page with no feed advertised, and the usual "
            f"{page.platform} feed address ({usual[0].candidate.url}) {usual[0].what}.",
            _ASK,
        )
    return (
        "That page is a web page with no feed advertised, and none of the usual feed "
        "addresses answered with a feed.",
        _ASK,
    )


_ASK = "Ask your blog platform or web team for the blog's RSS or Atom feed address, and try that."


def _notes(
    page: PageData, tried: list[_Attempt], best: _Attempt | None
) -> tuple[tuple[str, str], ...]:
    """Every address considered, with what it is and what happened to it."""
    notes: list[tuple[str, str]] = []
    for attempt in tried:
        c = attempt.candidate
        if attempt is best:
            outcome = "chosen"
        elif attempt.data is not None:
            outcome = "works, not chosen"
        else:
            outcome = attempt.what or "did not work"
        notes.append((c.url, f"{c.note}: {outcome}"))
    fetched = {a.candidate.url for a in tried}
    for c in page.advertised:
        if c.url not in fetched:
            notes.append((c.url, f"{c.note}: not fetched"))
    return tuple(notes)


# -- what a feed looks like ---------------------------------------------------------


def _newest(data: FeedData) -> list[EntryData]:
    dated = sorted(
        (e for e in data.entries if e.published), key=lambda e: e.published or "", reverse=True
    )
    return dated + [e for e in data.entries if not e.published]


def _excerpt(entry: EntryData) -> bool:
    text = " ".join(entry.text.split())
    if not text:
        return True
    if text.lower().endswith(_EXCERPT_ENDINGS) or text.lower()[-40:].count("read more"):
        return True
    return entry.content_html is None and len(text) < EXCERPT_CHARS


def _full_text(data: FeedData | None) -> bool | None:
    """True when most of the newest entries carry full text, False for excerpts."""
    if data is None or not data.entries:
        return None
    sample = _newest(data)[:10]
    excerpts = sum(_excerpt(e) for e in sample)
    return excerpts * 2 < len(sample)


def _chosen(
    url: str,
    attempt: _Attempt,
    why: str,
    page: PageData | None,
    notes: tuple[tuple[str, str], ...],
) -> Trial:
    data = attempt.data
    assert data is not None
    newest = _newest(data)
    latest = tuple((e.title, e.published) for e in newest[:3])
    topics = sorted({t[0] for e in newest[:3] for t in e.topics})
    return Trial(
        requested_url=url,
        feed_url=attempt.url,
        site_url=data.site_url or (page.url if page else None),
        title=data.title or (page.title if page else None),
        platform=(page.platform if page else None) or attempt.platform,
        entries=data.total_entries,
        latest=latest,
        full_text=_full_text(data),
        topics=tuple(topics),
        chosen_because=why,
        problem=None,
        advice=None,
        candidates=notes,
    )


def _failed(
    url: str,
    problem: str,
    advice: str | None,
    page: PageData | None = None,
    notes: tuple[tuple[str, str], ...] = (),
) -> Trial:
    return Trial(
        requested_url=url,
        feed_url=None,
        site_url=page.url if page else None,
        title=page.title if page else None,
        platform=page.platform if page else None,
        entries=0,
        latest=(),
        full_text=None,
        topics=(),
        chosen_because="No feed was chosen.",
        problem=problem,
        advice=advice or _ASK,
        candidates=notes,
    )


# -- errors in words ----------------------------------------------------------------

_ADDRESS = re.compile(r"\(([^()]+)\): private or reserved address")


def _said(exc: FetchError | ParseError) -> tuple[str, str]:
    """What happened, as a phrase after "That address ...", and what to do about it."""
    kind = exc.kind
    if kind == "blocked_address":
        found = _ADDRESS.search(exc.message)
        where = f" ({found.group(1)})" if found else ""
        return (
            f"is on a private network{where}; Voice only fetches public web addresses",
            "Give the blog's public address, the one its readers use on the internet.",
        )
    if isinstance(exc, FetchError) and kind == "http_status" and exc.http_status:
        status = exc.http_status
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        what = f"answered {status} {phrase}".strip()
        if status == 404:
            return what, (
                "Check the address for typing mistakes; if it is right, ask your "
                "web team where the blog's feed is."
            )
        return what, explain("error", kind, status).explanation
    if kind == "not_a_feed":
        message = exc.message.lower()
        if "json feed" in message:
            return (
                "is a JSON Feed, which Voice cannot read yet",
                "Voice reads RSS and Atom feeds: ask your blog platform whether it can "
                "publish one of those too, and try its address.",
            )
        what = (
            "gave a web page, not a feed"
            if "html" in message
            else "did not give a feed (an RSS or Atom document)"
        )
        return what, _ASK
    if kind == "dns":
        return (
            "names a server that could not be found",
            "Check the address for typing mistakes, or whether the blog has moved.",
        )
    if kind == "bad_scheme":
        return (
            "is not a usable web address",
            "Give an address starting with https:// (or http://).",
        )
    if kind == "timeout":
        return "took too long to answer", explain("error", kind).explanation
    return f"could not be read: {public_error(kind)}", explain("error", kind).explanation
