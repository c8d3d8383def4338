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
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from aggregator import __version__, fetching
from aggregator.analysis.vocabulary import Vocabulary, rules_version
from aggregator.errors import FetchError, InternalError, ParseError
from aggregator.health import explain
from aggregator.joining.discovery import (
    Candidate,
    PageData,
    describe,
    looks_like_html,
    plan_candidates,
    platform_of_feed,
    read_page,
)
from aggregator.joining.verdict import (
    ASK_FOR_FEED,
    Attempt,
    choose,
    full_text,
    newest,
    notes_on,
    nothing_worked,
    said,
)
from aggregator.models import FetchLimits, ParseJob, Registry, Settings
from aggregator.parsing.pool import ParsePool

MAX_FETCHES = 3  # candidate feeds fetched after the page itself


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
            what, advice = said(exc)
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
            if attempt.data is not None and _comments_feed(url, attempt.data.title):
                return _failed(
                    url,
                    "That address is a comments feed: it carries readers' comments, not the "
                    "blog's posts.",
                    "Give the blog's home page, or the address of its posts feed.",
                )
            if attempt.data is not None:
                return _chosen(url, attempt, "The address you gave is itself a feed.", None, ())
            return _failed(url, f"That address {attempt.what}.", attempt.advice)
        page = read_page(body, page_url)
        return await _discover(edges, url, page)


def _comments_feed(url: str, title: str | None) -> bool:
    """A comments feed by its address, or by the title WordPress gives one ("Comments on: …")."""
    by_title = (title or "").lower().startswith("comments on")
    return by_title or describe(url, "given", None).role == "comments"


async def _discover(edges: _Edges, url: str, page: PageData) -> Trial:
    tried: list[Attempt] = []
    for tier in plan_candidates(page, MAX_FETCHES):
        attempts = [await _fetch(edges, c) for c in tier]
        tried += attempts
        working = [a for a in attempts if a.data is not None]
        if working:
            best, why = choose(working, page, tried)
            notes = notes_on(page, tried, best)
            return _chosen(url, best, why, page, notes)
    problem, advice = nothing_worked(page, tried)
    return _failed(url, problem, advice, page, notes_on(page, tried, None))


async def _fetch(edges: _Edges, candidate: Candidate) -> Attempt:
    try:
        response = await fetching.fetch_feed(edges.client, candidate.url, edges.limits)
    except FetchError as exc:
        what, advice = said(exc)
        return Attempt(candidate, candidate.url, what=what, advice=advice)
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
) -> Attempt:
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
        what, advice = said(exc)
        return Attempt(candidate, where, what=what, advice=advice)
    except InternalError:
        advice = explain("error", "internal").explanation
        return Attempt(
            candidate, where, what="could not be read (a problem in Voice)", advice=advice
        )
    return Attempt(candidate, where, data, platform_of_feed(body, final_url))


def _chosen(
    url: str,
    attempt: Attempt,
    why: str,
    page: PageData | None,
    notes: tuple[tuple[str, str], ...],
) -> Trial:
    data = attempt.data
    assert data is not None
    first = newest(data)[:3]
    latest = tuple((e.title, e.published) for e in first)
    topics = sorted({t[0] for e in first for t in e.topics})
    return Trial(
        requested_url=url,
        feed_url=attempt.url,
        site_url=data.site_url or (page.url if page else None),
        title=data.title or (page.title if page else None),
        platform=(page.platform if page else None) or attempt.platform,
        entries=data.total_entries,
        latest=latest,
        full_text=full_text(data),
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
        advice=advice or ASK_FOR_FEED,
        candidates=notes,
    )
