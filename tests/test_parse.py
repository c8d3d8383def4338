"""parse_feed: fixture documents in tests/data/parse/ and what a reader would see of them."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.models import FeedData, ParseJob
from aggregator.parsing.parse import parse_feed

DATA = Path(__file__).parent / "data" / "parse"
URL = "https://council.example/feed.xml"
FETCHED_AT = "2024-06-01T00:00:00Z"


def job_for(name: str, **changes: object) -> ParseJob:
    job = ParseJob(
        body=(DATA / name).read_bytes(),
        url=URL,
        content_type="application/xml",
        fetched_at=FETCHED_AT,
    )
    return dataclasses.replace(job, **changes)


def as_json(data: FeedData) -> object:
    """What the expected files hold: everything but the block hashes (test_blocks.py)."""
    found = json.loads(json.dumps(dataclasses.asdict(data)))
    del found["blocks"]
    return found


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("rss2.xml", id="rss2"),
        pytest.param("atom.xml", id="atom"),
        pytest.param("rss1.rdf", id="rss1"),
        pytest.param("relative-links.xml", id="xml-base"),
        pytest.param("relative-rss.xml", id="no-base"),
        pytest.param("hostile-content.xml", id="hostile"),
        pytest.param("duplicates.xml", id="duplicates"),
        pytest.param("images-and-bidi.xml", id="images-and-bidi"),
    ],
)
def test_feed_matches_expected_json(name: str) -> None:
    expected = json.loads((DATA / (name.rsplit(".", 1)[0] + ".expected.json")).read_text())
    assert as_json(parse_feed(job_for(name))) == expected


@pytest.mark.parametrize(
    ("name", "content_type", "kind", "message"),
    [
        pytest.param(
            "html-page.html",
            "text/html",
            "not_a_feed",
            "this is an HTML page, not a feed: check the feed URL",
            id="html-page",
        ),
        pytest.param(
            "empty.xml",
            "application/xml",
            "not_a_feed",
            "the server sent an empty document",
            id="empty",
        ),
        pytest.param(
            "json.json",
            "application/feed+json",
            "not_a_feed",
            "this is a JSON Feed; Voice reads RSS and Atom feeds only",
            id="json-feed",
        ),
        pytest.param(
            "plain.txt",
            "text/plain",
            "not_a_feed",
            "this looks like plain text, not a feed",
            id="plain-text",
        ),
        pytest.param(
            "entities-billion-laughs.xml",
            "application/xml",
            "entities",
            "refused: the document's DTD declares entities, which feeds do not need",
            id="billion-laughs",
        ),
        pytest.param(
            "entities-spaced.xml", "application/xml", "entities", None, id="entity-lowercase-spaced"
        ),
        pytest.param("entities-utf16.xml", None, "entities", None, id="entity-utf16-no-bom"),
        pytest.param("entities-utf7.xml", None, "entities", None, id="entity-utf7"),
    ],
)
def test_refused_documents(
    name: str, content_type: str | None, kind: str, message: str | None
) -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(job_for(name, content_type=content_type))
    assert caught.value.kind == kind
    assert caught.value.url == URL
    if message is not None:
        assert caught.value.message == message


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        pytest.param(b"[1, 2, 3]", "not_a_feed", "this looks like JSON", id="json-array"),
        pytest.param(b"\xef\xbb\xbf   \n", "not_a_feed", "empty document", id="bom-and-spaces"),
        pytest.param(b"<note><to>Ann</to></note>", "not_a_feed", "XML document", id="other-xml"),
        pytest.param(
            b'<rss version="2.0"><channel><title>Cut off',
            "malformed",
            "not well-formed",
            id="truncated-feed",
        ),
        pytest.param(
            "<?xml version='1.0' encoding='utf-16'?><!DOCTYPE r [<!ENTITY a 'b'>]><rss/>".encode(
                "utf-16"
            ),
            "entities",
            "refused",
            id="utf16-with-bom",
        ),
        pytest.param(
            "<?xml version='1.0' encoding='utf-32'?><!DOCTYPE r [<!ENTITY a 'b'>]><rss/>".encode(
                "utf-32-le"
            ),
            "entities",
            "refused",
            id="utf32-no-bom",
        ),
    ],
)
def test_refused_bodies(body: bytes, kind: str, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(ParseJob(body=body, url=URL, content_type=None, fetched_at=FETCHED_AT))
    assert caught.value.kind == kind
    assert message in caught.value.message


def test_an_empty_but_valid_feed_is_not_an_error() -> None:
    body = b'<rss version="2.0"><channel><title>Quiet</title><ttl>abc</ttl></channel></rss>'
    data = parse_feed(ParseJob(body=body, url=URL, content_type=None, fetched_at=FETCHED_AT))
    assert (data.title, data.entries, data.total_entries, data.ttl_minutes) == (
        "Quiet",
        (),
        0,
        None,
    )


def test_unchanged_entries_are_seen_but_not_carried() -> None:
    first = parse_feed(job_for("rss2.xml"))
    known = {entry.entry_key: entry.raw_hash for entry in first.entries[:3]}
    again = parse_feed(job_for("rss2.xml", known=known))
    assert [entry.title for entry in again.entries] == ["Written in the future"]
    assert again.seen_keys == first.seen_keys


def test_a_changed_entry_is_carried_again() -> None:
    first = parse_feed(job_for("rss2.xml"))
    known = {entry.entry_key: entry.raw_hash for entry in first.entries}
    known["council-blog-42"] = "an older hash"
    again = parse_feed(job_for("rss2.xml", known=known))
    assert [entry.entry_key for entry in again.entries] == ["council-blog-42"]


def test_the_newest_entries_are_kept_when_a_feed_is_too_long() -> None:
    data = parse_feed(job_for("rss2.xml", max_entries=2))
    # the future-dated entry counts as fetched_at, the newest; the undated one ranks last
    assert [entry.title for entry in data.entries] == [
        "Our new bin service",
        "Written in the future",
    ]
    assert data.total_entries == 4
    assert "kept the newest 2 of 4 entries" in data.notes
    assert len(data.seen_keys) == 4


def test_long_content_is_truncated_and_said() -> None:
    data = parse_feed(job_for("rss2.xml", max_entry_bytes=40))
    bins = data.entries[0]
    assert bins.content_html == "<p>We rebuilt the </p>"  # cut inside a tag, which nh3 drops
    assert bins.text == "We rebuilt the"
    assert data.notes == ("truncated 2 entries longer than 40 bytes",)


def test_future_dates_are_clamped_to_the_fetch_time() -> None:
    data = parse_feed(job_for("rss2.xml"))
    future = next(entry for entry in data.entries if entry.title == "Written in the future")
    assert future.published == FETCHED_AT
    assert future.updated is None  # RSS has no updated date; published never stands in for it


@pytest.mark.parametrize(
    ("name", "index", "url", "content_link"),
    [
        pytest.param(
            "relative-links.xml",
            0,
            "https://base.example/blog/2024/first-post",
            "https://cdn.example/assets/page.html",
            id="absolute-xml-base-on-feed-entry-and-content",
        ),
        pytest.param(
            "relative-links.xml",
            1,
            "https://base.example/blog/second",
            "https://base.example/blog/x.html",
            id="javascript-xml-base-ignored",
        ),
        pytest.param(
            "relative-base.xml",
            0,
            "https://council.example/sub/post",
            "https://council.example/sub/a.html",
            id="relative-xml-base-joined-to-feed-url",
        ),
        pytest.param(
            "relative-rss.xml",
            0,
            "https://council.example/posts/one",
            "https://council.example/two",
            id="no-xml-base-feed-url",
        ),
    ],
)
def test_links_are_absolute(name: str, index: int, url: str, content_link: str) -> None:
    """resolve_relative_uris=False only stops feedparser rewriting inside content:
    it still resolves entry links against xml:base and reports each content's base."""
    entry = parse_feed(job_for(name)).entries[index]
    assert entry.url == url
    assert f'href="{content_link}"' in (entry.content_html or entry.summary_html or "")


REMOTE = '<a class="remote-image" href="{}" rel="noopener noreferrer nofollow">{}</a>'


@pytest.mark.parametrize(
    ("index", "fragment"),
    [
        pytest.param(
            0,
            '<img src="https://council.example/images/chart.png" alt="Chart">',
            id="feed-host-relative-kept",
        ),
        pytest.param(
            0,
            '<img src="https://council.example/images/map.png" alt="Map">',
            id="feed-host-kept-srcset-dropped",
        ),
        pytest.param(
            0,
            '<img src="https://council.example/images/photo.jpg" alt="Photo">',
            id="picture-source-dropped",
        ),
        pytest.param(
            0, REMOTE.format("https://tracker.example/pixel.gif", "image"), id="other-host-linked"
        ),
        pytest.param(
            0, REMOTE.format("http://10.0.0.5/x.png", "image: internal"), id="internal-address"
        ),
        pytest.param(0, REMOTE.format("http://intranet/x.png", "image"), id="internal-name"),
        pytest.param(
            0,
            REMOTE.format("https://evil.example/x.png", "image: protocol-relative"),
            id="protocol-relative",
        ),
        pytest.param(
            1,
            REMOTE.format("http://10.0.0.5/x.png", "image: on the entry's link host"),
            id="entry-link-host-not-trusted",
        ),
        pytest.param(
            1,
            REMOTE.format("https://www.council.example/logo.png", "image: on the site link host"),
            id="site-link-host-not-trusted",
        ),
        pytest.param(
            1,
            '<span class="remote-image">image: thumbnail</span></a>',
            id="inside-a-link-labelled",
        ),
    ],
)
def test_images_load_only_from_the_host_the_feed_was_fetched_from(
    index: int, fragment: str
) -> None:
    """The feed URL's host is where Voice fetched from; links in the feed are only claims."""
    entry = parse_feed(job_for("images-and-bidi.xml")).entries[index]
    assert fragment in (entry.summary_html or "")


def test_text_is_the_same_whichever_host_the_feed_was_fetched_from() -> None:
    """Duplicate detection compares text: a copy fetched elsewhere must read the same."""
    here = parse_feed(job_for("images-and-bidi.xml"))
    there = parse_feed(job_for("images-and-bidi.xml", url="https://tracker.example/feed"))
    moved = there.entries[0].summary_html or ""
    assert '<img src="https://tracker.example/pixel.gif"' in moved
    assert REMOTE.format("https://council.example/images/map.png", "image: Map") in moved
    assert [(e.text, e.content_key) for e in here.entries] == [
        (e.text, e.content_key) for e in there.entries
    ]


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        pytest.param(lambda d: d.entries[0].title, "Title four gnp.exe", id="title"),
        pytest.param(lambda d: d.entries[0].author, "Ann Lee", id="author"),
        pytest.param(lambda d: d.title, "Council golb", id="feed-title"),
        pytest.param(lambda d: d.entries[0].categories, ("Housing",), id="category"),
        pytest.param(
            lambda d: "invoice fdp.exe</a>, with a mark in the body." in d.entries[0].summary_html,
            True,
            id="link-and-body-text",
        ),
        pytest.param(
            lambda d: "invoice fdp.exe, with a mark in the body." in d.entries[0].text,
            True,
            id="search-text",
        ),
        pytest.param(
            lambda d: d.entries[0].text.endswith(
                "\u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd"
            ),
            True,
            id="arabic-and-hebrew-kept",
        ),
    ],
)
def test_bidi_controls_are_removed_from_what_people_read(
    read: Callable[[FeedData], object], expected: object
) -> None:
    assert read(parse_feed(job_for("images-and-bidi.xml"))) == expected


def test_a_bare_guid_stays_as_written_whatever_the_feed_url() -> None:
    for url in ("https://council.example/feed.xml", "http://moved.example/rss"):
        data = parse_feed(job_for("duplicates.xml", url=url))
        assert data.seen_keys == ("same-guid", "other-guid")


def test_canary_feedparser_still_parses_through_buffered_expat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """feedparser 6.0 builds its SAX parser with
    xml.sax.make_parser(PREFERRED_XML_PARSERS), and parse.py names Voice's
    buffered expat driver first in that list (a large speed-up). If an upgrade
    changes how feedparser parses, escaped HTML reaches it in pieces again, this
    fails, and the workaround must be revisited."""
    from feedparser.parsers.strict import _StrictFeedParser

    pieces: list[str] = []
    characters = _StrictFeedParser.characters

    def spy(self: _StrictFeedParser, text: str) -> None:
        pieces.append(text)
        characters(self, text)

    monkeypatch.setattr(_StrictFeedParser, "characters", spy)
    parse_feed(job_for("rss2.xml"))
    assert "Our new <em>bin</em> service" in pieces
    assert "<p>Only a description, with an entity: caf&eacute;</p>" in pieces


def test_importing_parse_leaves_the_standard_library_sax_parser_alone() -> None:
    """Text buffering is for feedparser only: any other xml.sax user in a process
    that imports the parse stage (a worker, the tests, the bench) gets the
    standard library's parser as it ships."""
    import xml.sax
    import xml.sax.expatreader

    import aggregator.parsing.parse  # noqa: F401

    reset = xml.sax.expatreader.ExpatParser.reset
    assert (reset.__module__, reset.__qualname__) == ("xml.sax.expatreader", "ExpatParser.reset")
    parser = xml.sax.make_parser()
    parser.reset()
    assert parser._parser.buffer_text is False


def test_canary_feedparser_copies_content_parameters_through_voice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """feedparser 6.0's element handlers (feedparser.mixin) deep-copy each text
    element's content parameters with `copy.deepcopy`; parse.py gives that module
    a cheaper copy of them. If an upgrade copies them some other way, this fails
    and the shortcut, now doing nothing, should go."""
    import feedparser.mixin

    from aggregator.parsing import parse

    assert feedparser.mixin.copy.deepcopy is parse._copy_content_params
    copied: list[object] = []

    def spy(params: object, memo: object = None) -> object:
        copied.append(dict(params))  # type: ignore[call-overload]  # feedparser clears it after
        return parse._copy_content_params(params)

    monkeypatch.setattr(feedparser.mixin.copy, "deepcopy", spy)
    parse_feed(job_for("rss2.xml"))
    assert copied and all(isinstance(p, dict) and "type" in p for p in copied)


SHARED_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "feedparser"


def feedparser_reading(path: Path) -> str:
    """feedparser's whole result for a document, as comparable text."""
    import feedparser

    result = feedparser.parse(path.read_bytes(), sanitize_html=False, resolve_relative_uris=False)
    return json.dumps(result, default=repr, sort_keys=True)


def assert_copies_change_no_reading(paths: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import copy

    import feedparser.mixin

    cheap = [feedparser_reading(path) for path in paths]
    monkeypatch.setattr(feedparser.mixin, "copy", copy)
    deep = [feedparser_reading(path) for path in paths]
    changed = [str(p) for p, a, b in zip(paths, cheap, deep, strict=True) if a != b]
    assert not changed


def test_the_cheap_copy_of_content_parameters_changes_no_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = sorted(p for p in DATA.iterdir() if p.suffix in {".xml", ".rdf"})
    assert len(paths) > 10
    assert_copies_change_no_reading(paths, monkeypatch)


@pytest.mark.skipif(not SHARED_CORPUS.is_dir(), reason=f"no feedparser corpus at {SHARED_CORPUS}")
def test_the_cheap_copy_changes_no_reading_of_feedparsers_own_corpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = sorted(p for p in SHARED_CORPUS.rglob("*.xml"))
    assert_copies_change_no_reading(paths, monkeypatch)
