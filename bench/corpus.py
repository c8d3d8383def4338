"""A deterministic synthetic corpus of blog feeds for the benchmark.

Feed `i` is RSS 2.0 (`.rss`), Atom (`.atom`) or RSS 1.0 (`.rdf`) by `i % 3`.
Every entry is generated from its own seeded random stream, so adding a new
entry at the top of a feed leaves the other entries byte-for-byte the same.
Entry bodies are blog-like HTML (paragraphs, links, some relative, lists, an
image, a blockquote) of roughly 2-6 KB.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

KINDS = ("rss", "atom", "rdf")
EPOCH = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)

_WORD_TEXT = """
council residents service design user research discovery alpha beta live agile sprint
backlog retro show-and-tell product owner delivery manager GOV.UK Notify Pay Forms
LocalGov Drupal open source procurement legacy system API open data accessibility WCAG
digital inclusion social care adult services children's services waste collection
bin day council tax planning application housing repairs library parish unitary county
district borough cyber security cloud Microsoft 365 data protection FOI request
Local Digital Declaration funding pathfinder co-design content designer interaction
designer developer architect CDIO transformation channel shift self-service contact centre
phone calls web chat assisted digital budget savings pilot roadmap stakeholder elected
members cabinet scrutiny committee spreadsheet form case management CRM integration
citizen outcomes evidence prototype usability testing hypothesis metrics dashboard team
colleagues network meetup unconference LocalGovCamp community blog post weeknotes
"""
_PLACE_TEXT = """
Camden Leeds Hackney Adur Worthing Stockport Kent Suffolk Devon Cornwall Gloucestershire
Bristol Cardiff Glasgow Belfast Nottingham Derbyshire Essex Norfolk Cumbria Sunderland
"""
_FIRST_TEXT = "Sam Alex Priya Tom Rachel Dave Aisha Ben Carol Gareth Fiona Imran Jo Kate Liam"
_LAST_TEXT = "Smith Patel Jones Evans Brown Taylor Khan Wilson Hughes Murphy Clarke Shah Reid"
WORDS = tuple(_WORD_TEXT.split())
PLACES = tuple(_PLACE_TEXT.split())
FIRST = tuple(_FIRST_TEXT.split())
LAST = tuple(_LAST_TEXT.split())


@dataclass(frozen=True)
class EntrySpec:
    """One generated entry, ready to be written in any of the three formats."""

    guid: str
    link: str
    title: str
    author: str
    published: datetime
    categories: tuple[str, ...]
    summary: str
    content_html: str


@dataclass(frozen=True)
class FeedSpec:
    """One generated feed: its file name, format and site."""

    index: int
    kind: str
    filename: str
    title: str
    site_url: str


def feed_spec(index: int) -> FeedSpec:
    kind = KINDS[index % 3]
    place = PLACES[index % len(PLACES)]
    return FeedSpec(
        index=index,
        kind=kind,
        filename=f"feed-{index:04d}.{kind}",
        title=f"{place} Digital blog {index}",
        site_url=f"https://digital.{place.lower()}{index}.gov.uk",
    )


def _sentence(rng: random.Random, low: int = 8, high: int = 22) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def _link(rng: random.Random, site: str) -> str:
    slug = "-".join(rng.choice(WORDS).lower().replace("'", "") for _ in range(3))
    href = rng.choice(
        (
            f"/services/{slug}",  # site-relative
            f"../{rng.randint(2019, 2024)}/{slug}/",  # path-relative
            f"{site}/guides/{slug}",
            f"https://www.gov.uk/guidance/{slug}",
            f"https://localgov.digital/{slug}",
        )
    )
    return f'<a href="{href}">{escape(" ".join(slug.split("-")))}</a>'


def _paragraph(rng: random.Random, site: str) -> str:
    parts = [escape(_sentence(rng)) for _ in range(rng.randint(2, 5))]
    if rng.random() < 0.6:
        parts.insert(rng.randint(0, len(parts)), f"See {_link(rng, site)} for more.")
    return "<p>" + " ".join(parts) + "</p>"


def entry_html(rng: random.Random, site: str, target_bytes: int) -> str:
    """Blog-post HTML of about `target_bytes`, always with a list, image and quote."""
    blocks = [_paragraph(rng, site), _paragraph(rng, site)]
    items = "".join(f"<li>{escape(_sentence(rng, 4, 10))}</li>" for _ in range(rng.randint(3, 6)))
    tag = rng.choice(("ul", "ol"))
    blocks.append(f"<{tag}>{items}</{tag}>")
    year, month, photo = rng.randint(2020, 2025), rng.randint(1, 12), rng.randint(1, 999)
    image = f"/wp-content/uploads/{year}/{month:02d}/photo-{photo}.jpg"
    blocks.append(
        f'<p><img src="{image}" alt="{escape(_sentence(rng, 3, 8))}" width="800" height="450"></p>'
    )
    blocks.append(f"<blockquote><p>{escape(_sentence(rng, 10, 25))}</p></blockquote>")
    while sum(len(b) for b in blocks) < target_bytes:
        blocks.insert(rng.randint(1, len(blocks)), _paragraph(rng, site))
    if rng.random() < 0.3:
        blocks.append(f"<h2>{escape(_sentence(rng, 2, 5))}</h2>{_paragraph(rng, site)}")
    return "\n".join(blocks)


def entry_spec(seed: int, feed: FeedSpec, number: int) -> EntrySpec:
    """Entry `number` of `feed`; 0 is the oldest, higher numbers are newer."""
    rng = random.Random(f"{seed}:{feed.index}:{number}")
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))).capitalize()
    slug = "-".join(title.lower().replace("'", "").replace(".", "").split()[:6])
    minutes = rng.randint(0, 59)
    published = EPOCH + timedelta(days=3 * number, hours=feed.index % 24, minutes=minutes)
    content = entry_html(rng, feed.site_url, rng.randint(1700, 5200))
    return EntrySpec(
        guid=f"{feed.site_url}/?p={feed.index * 10_000 + number}",
        link=f"{feed.site_url}/{published:%Y/%m}/{slug}-{number}/",
        title=title,
        author=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        published=published,
        categories=tuple(sorted({rng.choice(WORDS) for _ in range(rng.randint(1, 4))})),
        summary=_sentence(rng, 20, 40),
        content_html=content,
    )


def _rfc822(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _rss2(feed: FeedSpec, entries: list[EntrySpec]) -> str:
    items = []
    for e in entries:
        cats = "".join(f"<category>{escape(c)}</category>" for c in e.categories)
        items.append(
            f"<item><title>{escape(e.title)}</title><link>{escape(e.link)}</link>"
            f'<guid isPermaLink="false">{escape(e.guid)}</guid>'
            f"<pubDate>{_rfc822(e.published)}</pubDate><dc:creator>{escape(e.author)}</dc:creator>"
            f"{cats}<description>{escape(e.summary)}</description>"
            f"<content:encoded>{escape(e.content_html)}</content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{escape(feed.title)}</title><link>{feed.site_url}/</link>"
        f"<description>Weeknotes and posts from {escape(feed.title)}</description>"
        f"<language>en-GB</language><lastBuildDate>{_rfc822(entries[0].published)}</lastBuildDate>"
        + "\n".join(items)
        + "</channel></rss>\n"
    )


def _atom(feed: FeedSpec, entries: list[EntrySpec]) -> str:
    items = []
    for e in entries:
        cats = "".join(f"<category term={quoteattr(c)}/>" for c in e.categories)
        items.append(
            f"<entry><title>{escape(e.title)}</title>"
            f'<link rel="alternate" type="text/html" href={quoteattr(e.link)}/>'
            f"<id>{escape(e.guid)}</id><published>{_iso(e.published)}</published>"
            f"<updated>{_iso(e.published)}</updated>"
            f"<author><name>{escape(e.author)}</name></author>{cats}"
            f'<summary type="text">{escape(e.summary)}</summary>'
            f'<content type="html">{escape(e.content_html)}</content></entry>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
        'xml:lang="en-GB">'
        f"<title>{escape(feed.title)}</title><id>{feed.site_url}/</id>"
        f'<link rel="alternate" href="{feed.site_url}/"/>'
        f'<link rel="self" href="{feed.site_url}/{feed.filename}"/>'
        f"<updated>{_iso(entries[0].published)}</updated>" + "\n".join(items) + "</feed>\n"
    )


def _rdf(feed: FeedSpec, entries: list[EntrySpec]) -> str:
    seq = "".join(f"<rdf:li rdf:resource={quoteattr(e.link)}/>" for e in entries)
    items = []
    for e in entries:
        subjects = "".join(f"<dc:subject>{escape(c)}</dc:subject>" for c in e.categories)
        items.append(
            f"<item rdf:about={quoteattr(e.link)}><title>{escape(e.title)}</title>"
            f"<link>{escape(e.link)}</link><dc:date>{_iso(e.published)}</dc:date>"
            f"<dc:creator>{escape(e.author)}</dc:creator>{subjects}"
            f"<description>{escape(e.summary)}</description>"
            f"<content:encoded>{escape(e.content_html)}</content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel rdf:about={quoteattr(feed.site_url + '/' + feed.filename)}>"
        f"<title>{escape(feed.title)}</title><link>{feed.site_url}/</link>"
        f"<description>Posts from {escape(feed.title)}</description>"
        f"<items><rdf:Seq>{seq}</rdf:Seq></items></channel>" + "\n".join(items) + "</rdf:RDF>\n"
    )


RENDERERS = {"rss": _rss2, "atom": _atom, "rdf": _rdf}


class Corpus:
    """The benchmark's feed files in `directory`, with one optional extra entry."""

    def __init__(self, directory: Path, feeds: int, entries: int, seed: int = 2025) -> None:
        self.directory = directory
        self.feeds = [feed_spec(i) for i in range(feeds)]
        self.entries = entries
        self.seed = seed
        # Every tenth feed gets a new entry in the "changed" cycle.
        self.changing = [f for f in self.feeds if f.index % 10 == 0]

    def render(self, feed: FeedSpec, extra: bool) -> bytes:
        count = self.entries + (1 if extra else 0)
        specs = [entry_spec(self.seed, feed, n) for n in reversed(range(count))]  # newest first
        return RENDERERS[feed.kind](feed, specs).encode("utf-8")

    def _write(self, feed: FeedSpec, extra: bool, mtime: float) -> None:
        path = self.directory / feed.filename
        path.write_bytes(self.render(feed, extra))
        os.utime(path, (mtime, mtime))

    def write_base(self, mtime: float) -> int:
        """Write every feed without the extra entry; return the total bytes written."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for old in self.directory.iterdir():
            old.unlink()
        for feed in self.feeds:
            self._write(feed, extra=False, mtime=mtime)
        return sum(p.stat().st_size for p in self.directory.iterdir())

    def apply_change(self, mtime: float) -> None:
        """Add one new entry at the top of every tenth feed."""
        for feed in self.changing:
            self._write(feed, extra=True, mtime=mtime)

    def restore(self, mtime: float) -> None:
        """Put the changed feeds back to their base content, with a newer mtime."""
        for feed in self.changing:
            self._write(feed, extra=False, mtime=mtime)
