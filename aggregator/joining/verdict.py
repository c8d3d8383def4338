"""What a trial concludes, in words; pure, no I/O.

`trial` fetches and parses; this module decides, from what came back, which
feed to choose and why (`choose`), what to say when nothing worked
(`nothing_worked`), what a fetch or parse error means to a newcomer (`said`)
and whether a feed carries full text or excerpts (`full_text`). Every
sentence here is shown to people: on the command line, on the /connect page
and to moderators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus

from aggregator.errors import FetchError, ParseError
from aggregator.health import explain, public_error
from aggregator.joining.discovery import Candidate, PageData, left_aside
from aggregator.models import EntryData, FeedData

EXCERPT_CHARS = 600  # a summary-only entry shorter than this reads as an excerpt
_EXCERPT_ENDINGS = ("…", "...", "[…]", "[...]", "read more", "continue reading", "read on")


@dataclass(frozen=True)
class Attempt:
    """One candidate fetched and parsed: its feed, or what went wrong in words."""

    candidate: Candidate
    url: str  # where the feed lives (after permanent redirects)
    data: FeedData | None = None
    platform: str | None = None
    what: str | None = None  # "answered 404 Not Found", "gave a web page, not a feed"
    advice: str | None = None


# -- choosing -----------------------------------------------------------------------


def choose(working: list[Attempt], page: PageData, tried: list[Attempt]) -> tuple[Attempt, str]:
    """The feed to choose among those that worked in one tier, and why, in one sentence."""
    full = [a for a in working if full_text(a.data) is True]
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


def nothing_worked(page: PageData, tried: list[Attempt]) -> tuple[str, str]:
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
        return problem, first.advice or ASK_FOR_FEED
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
            category[0].advice or ASK_FOR_FEED,
        )
    if page.platform and usual:
        return (
            f"That page is a web page with no feed advertised, and the usual "
            f"{page.platform} feed address ({usual[0].candidate.url}) {usual[0].what}.",
            ASK_FOR_FEED,
        )
    return (
        "That page is a web page with no feed advertised, and none of the usual feed "
        "addresses answered with a feed.",
        ASK_FOR_FEED,
    )


ASK_FOR_FEED = (
    "Ask your blog platform or web team for the blog's RSS or Atom feed address, and try that."
)


def notes_on(
    page: PageData, tried: list[Attempt], best: Attempt | None
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


def newest(data: FeedData) -> list[EntryData]:
    dated = sorted(
        (e for e in data.entries if e.published), key=lambda e: e.published or "", reverse=True
    )
    return dated + [e for e in data.entries if not e.published]


def is_excerpt(entry: EntryData) -> bool:
    text = " ".join(entry.text.split())
    if not text:
        return True
    if text.lower().endswith(_EXCERPT_ENDINGS) or text.lower()[-40:].count("read more"):
        return True
    return entry.content_html is None and len(text) < EXCERPT_CHARS


def full_text(data: FeedData | None) -> bool | None:
    """True when most of the newest entries carry full text, False for excerpts."""
    if data is None or not data.entries:
        return None
    sample = newest(data)[:10]
    excerpts = sum(is_excerpt(e) for e in sample)
    return excerpts * 2 < len(sample)


# -- errors in words ----------------------------------------------------------------

_ADDRESS = re.compile(r"\(([^()]+)\): private or reserved address")


def said(exc: FetchError | ParseError) -> tuple[str, str]:
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
        return what, ASK_FOR_FEED
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
