"""Reposts as they really differ from their original, and look-alikes that must stay apart.

Every development cluster's canonical post (tests/data/eval/gold.json,
`split` "dev" only: the held-out part is never read) is parsed with the real
parser and stored on a member's own blog. Then, one variation at a time and
each in its own copy of that database, a team blog reposts every one of them
the way people do: an intro of one to three sentences (claiming a copy, or
not), an editor's note or a signature at the end, headings and images
re-rendered, quotes and dashes retyped, the title with the blog's name
appended, a teaser cut after one or two paragraphs; the same day, two weeks,
three months or nine months later. Each repost must be linked to its
original through the real fetch cycle. Look-alikes made from the same posts
(weeknote N+1 from one template, part 2 of a series, next year's event, a
job ad for another role) must not be.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from aggregator.analysis.sketch import is_cut
from aggregator.models import EntryData, ParseJob
from aggregator.parsing.parse import parse_feed
from aggregator.parsing.pool import ParsePool
from aggregator.storage.connection import private_path
from aggregator.update import update_feeds
from tests.support.feedserver import FeedServer

from .conftest import DATA, registry_for, rows

EVAL = DATA / "eval"
NOW = datetime(2026, 6, 1, tzinfo=UTC)  # after every repost, so no date is clamped
MEMBER = "member.rss"
TEAM = "team.rss"
TEAM_BLOG = "Brackenford Digital"
EDITOR = "Morwenna Pascoe"  # the team blog's editor, a named person


@dataclass(frozen=True)
class Original:
    guid: str
    url: str
    title: str
    author: str
    blog: str
    published: datetime
    html: str
    excerpt: bool  # its own feed gives only an excerpt ("[…]"), so every copy of it is a teaser


def development_originals() -> list[Original]:
    """The canonical post of every development cluster, parsed from its feed."""
    gold = json.loads((EVAL / "gold.json").read_text(encoding="utf-8"))
    wanted = [
        p for p in gold["posts"] if p["split"] == "dev" and p.get("cluster") and p.get("canonical")
    ]
    originals = []
    for post in wanted:
        body = (EVAL / "feeds" / post["feed"]).read_bytes()
        feed = parse_feed(ParseJob(body, "https://x.example/", None, "2026-06-01T00:00:00Z"))
        entry = next(e for e in feed.entries if e.guid == post["guid"])
        originals.append(_original(entry, feed.title or post["feed"]))
    return originals


def _original(entry: EntryData, blog: str) -> Original:
    body = entry.content_html or entry.summary_html
    assert entry.url and entry.published and body
    return Original(
        guid=entry.guid or entry.entry_key,
        url=entry.url,
        title=entry.title,
        author=entry.author or "Jo Pearce",
        blog=blog,
        published=datetime.fromisoformat(entry.published).astimezone(UTC),
        html=body,
        excerpt=is_cut(entry.text),
    )


ORIGINALS = development_originals()


# --- the ways a repost differs ----------------------------------------------------

_PARAGRAPH = re.compile(r"<(p|h[1-6]|ul|ol|blockquote|figure)\b.*?</\1>", re.DOTALL)


def paragraphs(body: str) -> list[str]:
    found = [m.group(0) for m in _PARAGRAPH.finditer(body)]
    return found or [f"<p>{body}</p>"]


def teaser(body: str, n: int, tail: str) -> str:
    kept = [p for p in paragraphs(body) if p.startswith("<p")][:n]
    last = re.sub(r"</p>\Z", f" {tail}</p>", kept[-1])
    return "\n".join(kept[:-1] + [last])


def rerendered(body: str) -> str:
    """h2 becomes h3 (h3 bold text), images dropped or captioned, lists re-indented."""
    body = re.sub(r"<h3\b[^>]*>(.*?)</h3>", r"<p><strong>\1</strong></p>", body, flags=re.S)
    body = re.sub(r"<h2\b[^>]*>(.*?)</h2>", r"<h3>\1</h3>", body, flags=re.S)
    body = re.sub(r"<img\b[^>]*>", "", body)
    body = re.sub(r"<li>", "<li>\n  ", body)
    caption = "Photo: the team at work (Brackenford Council)"
    figure = f"<figure><figcaption>{caption}</figcaption></figure>"
    parts = paragraphs(body)
    return "\n".join(parts[:2] + [figure] + parts[2:])


def retyped(body: str) -> str:
    """Curly quotes straight and straight curly, dashes swapped, spaces doubled."""
    body = body.replace("\u2019", "'").replace("\u2018", "'")
    body = re.sub(r"(?<=\w)'(?=\w)", "\u2019", body)
    body = body.replace("&quot;", '"').replace("\u201c", '"').replace("\u201d", '"')
    body = body.replace(" - ", " \u2013 ").replace("\u2014", " \u2013 ")
    return re.sub(r"\. (?=[A-Z])", ".  ", body)


def intro(text: str) -> Callable[[Original], str]:
    return lambda o: f"<p><em>{text.format(author=o.author, blog=html.escape(o.blog))}</em></p>"


INTRO_CLAIM = intro("This post first appeared on {blog}. We're grateful to {author} for letting "
                    "us share it.")  # fmt: skip
INTRO_COLLEAGUE = intro("We're sharing this post by our colleague {author}, who many of you "
                        "will know from the regional network. It's well worth five minutes, "
                        "and {author} would love to hear what you think.")  # fmt: skip
INTRO_PLAIN = intro("{author} has been working on this for the last few months. Here they "
                    "write about what happened and what they would do differently.")  # fmt: skip
INTRO_ONE = intro("Something from {author} this week.")
EDITORS_NOTE = intro("Editor's note: {author} works in local government. The views here are "
                     "their own. If you'd like to write for us, get in touch with the "
                     "digital team.")  # fmt: skip
SIGNATURE = intro("\u2014 {author}, {blog}")


def linked_claim(o: Original) -> str:
    link = f'<a href="{html.escape(o.url)}">{html.escape(o.blog)}</a>'
    return f"<p>This post first appeared on {link}.</p>"


@dataclass(frozen=True)
class Variation:
    name: str
    body: Callable[[Original], str]
    title: Callable[[Original], str] = lambda o: o.title
    author: Callable[[Original], str] = lambda o: o.author
    late: bool = True  # also reposted months later (a round-up's teaser comes within days)


def suffixed(o: Original) -> str:
    return f"{o.title} \u2013 {TEAM_BLOG}"


VARIATIONS = [
    Variation("verbatim", lambda o: o.html),
    Variation("intro-claim-linked", lambda o: linked_claim(o) + o.html),
    Variation("intro-claim", lambda o: INTRO_CLAIM(o) + o.html),
    Variation("intro-colleague", lambda o: INTRO_COLLEAGUE(o) + o.html),
    Variation("intro-plain", lambda o: INTRO_PLAIN(o) + o.html),
    Variation("intro-one-line", lambda o: INTRO_ONE(o) + o.html),
    Variation("editors-note", lambda o: o.html + EDITORS_NOTE(o)),
    Variation("signature", lambda o: o.html + SIGNATURE(o)),
    Variation("intro-and-editors-note", lambda o: INTRO_COLLEAGUE(o) + o.html + EDITORS_NOTE(o)),
    Variation("rerendered", lambda o: rerendered(o.html)),
    Variation("retyped", lambda o: retyped(o.html)),
    Variation("title-suffix", lambda o: o.html, title=suffixed),
    Variation("title-suffix-intro", lambda o: INTRO_PLAIN(o) + o.html, title=suffixed),
    Variation("team-account", lambda o: INTRO_PLAIN(o) + o.html, author=lambda o: "Digital team"),
    # a team blog runs the post under its editor's byline, crediting the author in its intro
    Variation("editor-byline", lambda o: INTRO_COLLEAGUE(o) + o.html, author=lambda o: EDITOR),
    Variation(
        "all-at-once",
        lambda o: INTRO_COLLEAGUE(o) + retyped(rerendered(o.html)) + SIGNATURE(o),
        title=suffixed,
    ),
    Variation("teaser-1-ellipsis", lambda o: teaser(o.html, 1, "[\u2026]"), late=False),
    Variation("teaser-2-read-more", lambda o: teaser(o.html, 2, "\u2026") +
              f'<p><a href="{html.escape(o.url)}">Read more</a></p>', late=False),
    Variation("teaser-1-suffix", lambda o: teaser(o.html, 1, "[\u2026]"), title=suffixed,
              late=False),
    Variation("teaser-2-suffix-read-more", lambda o: teaser(o.html, 2, "[\u2026]") +
              "<p>Read more</p>", title=suffixed, late=False),
]  # fmt: skip
DELAYS = {"same-day": 0, "2-weeks": 14, "3-months": 91, "9-months": 273}
# A year or two late, a repost is one still when it says so or credits the
# author by name (an annual post's next edition does neither): every variation
# whose intro or outro names the author, or claims a copy.
VERY_LATE = {"13-months": 396, "2-years": 730}
SIGNED = ("intro-claim", "intro-colleague", "intro-plain", "intro-one-line", "editors-note",
          "signature", "intro-and-editors-note", "title-suffix-intro", "team-account",
          "all-at-once", "editor-byline")  # fmt: skip
CASES = [
    pytest.param(v, delay, id=f"{v.name}-{delay}")
    for v in VARIATIONS
    for delay in DELAYS
    if v.late or DELAYS[delay] <= 14
] + [pytest.param(v, delay, id=f"{v.name}-{delay}") for v in VARIATIONS if v.name in SIGNED
     for delay in VERY_LATE]  # fmt: skip
DAYS = DELAYS | VERY_LATE


# --- feeds and the store -------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    guid: str
    url: str
    title: str
    author: str
    published: datetime
    html: str


def rss(items: list[Item], title: str) -> bytes:
    entries = "".join(
        f"<item><title>{html.escape(i.title)}</title><link>{html.escape(i.url)}</link>"
        f'<guid isPermaLink="false">{html.escape(i.guid)}</guid>'
        f"<dc:creator>{html.escape(i.author)}</dc:creator>"
        f"<pubDate>{format_datetime(i.published)}</pubDate>"
        f"<content:encoded><![CDATA[{i.html}]]></content:encoded></item>\n"
        for i in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{html.escape(title)}</title><link>https://x.example/</link>"
        f"<description>{html.escape(title)}</description>\n{entries}</channel></rss>"
    ).encode()


def run(db: Path, pool: ParsePool, server: FeedServer, name: str, *, own_blog: bool) -> None:
    registry = registry_for(server.url(name))
    if own_blog:
        registry = replace(registry, feeds=(replace(registry.feeds[0], author="A member"),))
    result = update_feeds(registry, db, due_only=False, clock=lambda: NOW, pool=pool)
    assert result.feeds[0].outcome == "ok", result.feeds[0]


def canonical_of(db: Path) -> dict[str, str | None]:
    """guid -> the guid of its post's canonical (None for a canonical post)."""
    found = rows(
        db, "SELECT p.guid, c.guid FROM posts p LEFT JOIN posts c ON c.id = p.duplicate_of"
    )
    return dict(found)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, FeedServer]]:
    root = tmp_path_factory.mktemp("variations")
    with FeedServer(root) as server:
        yield root, server


@pytest.fixture(scope="module")
def member_db(site: tuple[Path, FeedServer], pool: ParsePool) -> Path:
    """A store holding every development original on a member's own blog."""
    root, server = site
    items = [Item(o.guid, o.url, o.title, o.author, o.published, o.html) for o in ORIGINALS]
    (root / MEMBER).write_bytes(rss(items, "Members' blogs"))
    db = root / "member.db"
    run(db, pool, server, MEMBER, own_blog=True)
    return db


def fresh_copy(db: Path, target: Path) -> Path:
    shutil.copy(db, target)
    if private_path(db).exists():
        shutil.copy(private_path(db), private_path(target))
    return target


def cycle(site: tuple[Path, FeedServer], pool: ParsePool, member_db: Path, name: str,
          items: list[Item], tmp_path: Path) -> dict[str, str | None]:  # fmt: skip
    root, server = site
    (root / name).write_bytes(rss(items, TEAM_BLOG))
    db = fresh_copy(member_db, tmp_path / "voice.db")
    run(db, pool, server, name, own_blog=False)
    return canonical_of(db)


# --- realistic reposts are found ------------------------------------------------------


@pytest.mark.parametrize(("variation", "delay"), CASES)
def test_every_realistic_repost_is_linked_to_its_original(
    site: tuple[Path, FeedServer], pool: ParsePool, member_db: Path, tmp_path: Path,
    variation: Variation, delay: str,
) -> None:  # fmt: skip
    name = f"{variation.name}-{delay}.rss"
    # Voice has only the excerpt of a post whose blog gives excerpts; a repost
    # months later is of the whole post, so it is not one of these variations.
    reposted = [(i, o) for i, o in enumerate(ORIGINALS) if DAYS[delay] <= 14 or not o.excerpt]
    items = [
        Item(
            guid=f"repost-{i}",
            url=f"https://team.example.gov.uk/{variation.name}/{delay}/{i}/",
            title=variation.title(o),
            author=variation.author(o),
            published=o.published + timedelta(days=DAYS[delay], hours=3),
            html=variation.body(o),
        )
        for i, o in reposted
    ]
    found = cycle(site, pool, member_db, name, items, tmp_path)
    missed = [o.title for i, o in reposted if found[f"repost-{i}"] != o.guid]
    assert missed == [], f"{len(missed)} of {len(reposted)} missed"
    assert all(found[o.guid] is None for o in ORIGINALS)  # the member's own post leads


# --- look-alikes stay apart ---------------------------------------------------------------


def _by_title(fragment: str) -> Original:
    return next(o for o in ORIGINALS_AND_OTHERS if fragment in o.title)


def _all_development_posts() -> list[Original]:
    gold = json.loads((EVAL / "gold.json").read_text(encoding="utf-8"))
    dev = [p for p in gold["posts"] if p["split"] == "dev"]
    found = []
    for feed_name in sorted({p["feed"] for p in dev}):
        body = (EVAL / "feeds" / feed_name).read_bytes()
        feed = parse_feed(ParseJob(body, "https://x.example/", None, "2026-06-01T00:00:00Z"))
        guids = {p["guid"] for p in dev if p["feed"] == feed_name}
        found += [_original(e, feed.title or feed_name) for e in feed.entries if e.guid in guids]
    return found


ORIGINALS_AND_OTHERS = _all_development_posts()


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]  # fmt: skip
_DAY_OF = re.compile(r"\b([1-9]|[12]\d)(?= (?:" + "|".join(_MONTHS) + r")\b)")
_MONTH = re.compile(r"\b(" + "|".join(_MONTHS) + r")\b")


def next_edition(text: str) -> str:
    """Next year's edition from one template: years one on, dates, months and place moved."""
    text = re.sub(r"\b(20\d\d)\b", lambda m: str(int(m.group(1)) + 1), text)
    text = _DAY_OF.sub(lambda m: str(int(m.group(1)) % 28 + 3), text)
    text = _MONTH.sub(lambda m: _MONTHS[(_MONTHS.index(m.group(1)) + 1) % 12], text)
    return text.replace("Birmingham", "Leeds").replace("£38,000 to £42,000", "£34,000 to £37,000")


def _new_body(template: Original, other: Original) -> str:
    """The template's headings and short lines, the other post's paragraphs in between."""
    own = paragraphs(template.html)
    fill = [p for p in paragraphs(other.html) if len(p) > 120]
    out, k = [], 0
    for p in own:
        if len(p) > 120 and k < len(fill):
            out.append(fill[k])
            k += 1
        else:
            out.append(p)
    return "\n".join(out)


def lookalikes() -> list[tuple[str, Original, Item]]:
    """(name, the stored post, a look-alike of it on another feed)."""
    cases = []
    weeknote = _by_title("Weeknotes 12")
    other = _by_title("Weeknote: pipelines")
    cases.append(
        (
            "weeknote-next",
            weeknote,
            Item(
                "la-weeknote",
                "https://team.example.gov.uk/weeknotes-13-bis/",
                "Weeknotes 13",
                weeknote.author,
                weeknote.published + timedelta(days=7),
                _new_body(weeknote, other),
            ),
        )
    )
    weeknote_untitled = replace(weeknote, title="Weeknotes")
    cases.append(
        (
            "weeknote-same-title",
            weeknote_untitled,
            Item(
                "la-weeknote-2",
                "https://team.example.gov.uk/weeknotes-bis/",
                "Weeknotes",
                weeknote.author,
                weeknote.published + timedelta(days=7),
                _new_body(weeknote, other),
            ),
        )
    )
    for i, o in enumerate(ORIGINALS[:12]):
        first = paragraphs(o.html)[0]
        rest = _new_body(ORIGINALS[(i + 5) % len(ORIGINALS)], ORIGINALS[(i + 7) % len(ORIGINALS)])
        cases.append(
            (
                f"part-2-{i}",
                o,
                Item(
                    f"la-part2-{i}",
                    f"https://team.example.gov.uk/part-2/{i}/",
                    f"{o.title}, part 2",
                    o.author,
                    o.published + timedelta(days=14),
                    first + rest,
                ),
            )
        )
    event = _by_title("LocalGovCamp 2019: tickets now available")
    yearless = replace(event, title="LocalGovCamp: tickets now available")
    for name, stored, days in [("event-next-year", event, 364),
                               ("event-next-year-same-title", yearless, 364),
                               ("event-nine-months-on-same-title", yearless, 273)]:  # fmt: skip
        cases.append(
            (
                name,
                stored,
                Item(
                    f"la-{name}",
                    f"https://team.example.gov.uk/{name}/",
                    next_edition(stored.title),
                    stored.author,
                    stored.published + timedelta(days=days),
                    next_edition(stored.html),
                ),
            )
        )
    # A year or two on, a team blog's next edition credits last year's author
    # by name: a credit lets a late repost in, never a text whose dates moved.
    credited = replace(yearless, author="Priya Shah")
    for name, days in [("event-next-year-credited", 364), ("event-two-years-on-credited", 728)]:
        cases.append(
            (
                name,
                credited,
                Item(
                    f"la-{name}",
                    f"https://team.example.gov.uk/{name}/",
                    credited.title,
                    EDITOR,
                    credited.published + timedelta(days=days),
                    INTRO_COLLEAGUE(credited) + next_edition(credited.html),
                ),
            )
        )
    template = ORIGINALS[3]
    cases.append(
        (
            "same-title-new-body-credited-a-year-on",
            template,
            Item(
                "la-new-body-credited",
                "https://team.example.gov.uk/new-body-credited/",
                template.title,
                EDITOR,
                template.published + timedelta(days=400),
                INTRO_COLLEAGUE(template) + _new_body(template, ORIGINALS[9]),
            ),
        )
    )
    job = _by_title("We're hiring: senior user researcher")
    other = _by_title("We're hiring: content designer")
    role = re.compile("senior user researcher", re.IGNORECASE)
    own, theirs = paragraphs(job.html), [p for p in paragraphs(other.html) if len(p) > 120]
    duties = "\n".join(own[:2] + theirs[1:2] + own[3:4] + theirs[2:3] + own[5:])
    ad = role.sub("content designer", next_edition(duties))
    for name, days in [("job-another-role", 2), ("job-another-role-next-year", 300)]:
        cases.append(
            (
                name,
                job,
                Item(
                    f"la-{name}",
                    f"https://jobs.example.org/{name}/",
                    role.sub("content designer", job.title),
                    job.author,
                    job.published + timedelta(days=days),
                    ad,
                ),
            )
        )
    yearless_job = replace(job, title="We're hiring")
    cases.append(
        (
            "job-another-role-same-title",
            yearless_job,
            Item(
                "la-job-same-title",
                "https://jobs.example.org/same-title/",
                "We're hiring",
                job.author,
                job.published + timedelta(days=120),
                ad,
            ),
        )
    )
    return cases


def side_by_side(
    site: tuple[Path, FeedServer], pool: ParsePool, tmp_path: Path,
    name: str, stored: Original, item: Item,
) -> dict[str, str | None]:  # fmt: skip
    """Store the member's post, then the other post from a team blog: each post's canonical."""
    root, server = site
    first = Item(stored.guid, stored.url, stored.title, stored.author, stored.published,
                 stored.html)  # fmt: skip
    (root / f"la-{name}-a.rss").write_bytes(rss([first], "A member's blog"))
    (root / f"la-{name}-b.rss").write_bytes(rss([item], TEAM_BLOG))
    db = tmp_path / "voice.db"
    run(db, pool, server, f"la-{name}-a.rss", own_blog=True)
    run(db, pool, server, f"la-{name}-b.rss", own_blog=False)
    return canonical_of(db)


LOOKALIKES = lookalikes()


@pytest.mark.parametrize(("name", "stored", "item"), LOOKALIKES, ids=[c[0] for c in LOOKALIKES])
def test_a_lookalike_is_not_linked(
    site: tuple[Path, FeedServer], pool: ParsePool, tmp_path: Path,
    name: str, stored: Original, item: Item,
) -> None:  # fmt: skip
    assert side_by_side(site, pool, tmp_path, name, stored, item) == {
        stored.guid: None,
        item.guid: None,
    }
