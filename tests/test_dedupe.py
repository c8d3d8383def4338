"""Dedupe keys and the moved-entry decision: URL tables in tests/data/dedupe/urls.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.analysis.identity import (
    EntryKeys,
    ExistingPost,
    canonical_url,
    content_key,
    entry_keys,
    find_moved_entry,
    title_key,
    words,
    words_remembered,
)
from aggregator.models import EntryData

TABLES = json.loads((Path(__file__).parent / "data" / "dedupe" / "urls.json").read_text())


def cases(table: str, *fields: str) -> list[object]:
    return [pytest.param(*(row[f] for f in fields), id=row["id"]) for row in TABLES[table]]


# --- canonical_url -----------------------------------------------------------


@pytest.mark.parametrize(("url", "key"), cases("keys", "url", "key"))
def test_canonical_url_key(url: str, key: str) -> None:
    assert canonical_url(url) == key


@pytest.mark.parametrize("url", cases("not_http", "url"))
def test_canonical_url_is_none_for_anything_but_an_http_url(url: str) -> None:
    assert canonical_url(url) is None


@pytest.mark.parametrize(("a", "b"), cases("distinct", "a", "b"))
def test_look_alike_urls_stay_distinct(a: str, b: str) -> None:
    assert canonical_url(a) is not None
    assert canonical_url(a) != canonical_url(b)


def test_one_post_linked_every_way_has_one_key() -> None:
    links = [
        "http://www.jo.example.org/2024/05/weeknotes-12/",
        "https://jo.example.org/2024/05/weeknotes-12",
        "https://jo.example.org:443/2024/05/weeknotes-12/index.html",
        "https://jo.example.org/2024/05/weeknotes-12/amp/",
        "https://amp.jo.example.org/2024/05/weeknotes-12/?amp=1",
        "https://jo.example.org/2024/05/weeknotes-12/?utm_source=rss&utm_medium=rss#respond",
    ]
    assert {canonical_url(link) for link in links} == {"jo.example.org/2024/05/weeknotes-12"}


URL_PIECES = st.sampled_from(
    ["www.", "m.", "amp.", "a", "B", ".", "..", "/", "//", "%", "%2e", "%2F", "%7e", "%zz",
     "?", "&", "=", "#", "#!", ":", ":80", ":443", ":99999", "@", "[", "]", "::1", " ", "\t",
     "é", "ü", "\u200b", "\ud800", "index.html", "index.php", "amp", "utm_source=x", "ref=",
     "source=rss--", "amp=1", "m=1", ";jsessionid=1", "blogspot.co.uk", "cdn.ampproject.org",
     "/c/s/", "google.com/amp/s/", "xn--", "-", "_", "+"]
)  # fmt: skip
URL_TAILS = st.lists(URL_PIECES | st.text(max_size=5), max_size=16).map("".join)


@given(st.text())
def test_canonical_url_never_raises_on_any_text(text: str) -> None:
    assert canonical_url(text) is None or isinstance(canonical_url(text), str)


@given(st.sampled_from(["http://", "https://", "HTTPS://"]), URL_TAILS | st.text())
def test_canonical_url_is_stable_when_its_key_is_fed_back(scheme: str, tail: str) -> None:
    key = canonical_url(scheme + tail)
    if key is not None:
        assert canonical_url("https://" + key) == key
        assert canonical_url("http://" + key) == key


# --- content_key and title_key -----------------------------------------------

BODY = (
    "This week we ran two user research sessions on the new council tax forms "
    "and shared what we learned at the LocalGov Digital show and tell."
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(("Weeknotes 12", BODY), ("  weeknotes   12 ", BODY), id="title-spacing"),
        pytest.param(("Weeknotes 12", BODY), ("WEEKNOTES 12", BODY.upper()), id="case"),
        pytest.param(("Weeknotes 12", BODY), ("Weeknotes #12!", BODY), id="title-punctuation"),
        pytest.param(
            ("Weeknotes 12", BODY), ("Weeknotes 12", BODY.replace(" ", "\n\n  ")), id="newlines"
        ),
        pytest.param(
            ("It's weeknotes", BODY), ("It\u2019s weeknotes", BODY), id="curly-apostrophe"
        ),
        pytest.param(
            ("Weeknotes 12", BODY), ("Weeknotes\u00a012", BODY + " \u2026"), id="nbsp-and-ellipsis"
        ),
        pytest.param(("Ｗｅｅｋｎｏｔｅｓ 12", BODY), ("Weeknotes 12", BODY), id="nfkc-fullwidth"),
        pytest.param(("Stra\u00dfe", BODY), ("STRASSE", BODY), id="casefold-eszett"),
        pytest.param(("Weeknotes 12", BODY), ("Week\u00adnotes 12", BODY), id="soft-hyphen"),
    ],
)
def test_content_key_ignores_what_a_reader_does_not_notice(
    a: tuple[str, str], b: tuple[str, str]
) -> None:
    assert content_key(*a) == content_key(*b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(("Weeknotes 12", BODY), ("Weeknotes 13", BODY), id="series-number"),
        pytest.param(("Weeknotes 12", BODY), ("Weeknotes 12", BODY + " More soon."), id="text"),
        pytest.param(("Weeknotes 12", BODY), ("Weeknotes 12", BODY.replace("two", "three")),
                     id="one-word"),
        pytest.param(("Weeknotes", "12 " + BODY), ("Weeknotes 12", BODY), id="title-text-split"),
    ],
)  # fmt: skip
def test_content_key_tells_different_posts_apart(a: tuple[str, str], b: tuple[str, str]) -> None:
    assert content_key(*a) != content_key(*b)


@pytest.mark.parametrize(
    ("title", "text", "prefix"),
    [
        pytest.param("Weeknotes 12", BODY, "c:", id="full-post"),
        pytest.param("Weeknotes", "", "w:", id="title-only"),
        pytest.param("Podcast", "Listen here", "w:", id="boilerplate"),
        pytest.param("", "", "w:", id="empty"),
    ],
)
def test_content_key_is_weak_when_too_short_to_identify_a_post(
    title: str, text: str, prefix: str
) -> None:
    key = content_key(title, text)
    assert key.startswith(prefix) and len(key) == len(prefix) + 64


def test_title_key_ignores_case_spacing_and_punctuation_only() -> None:
    assert title_key("Reflections on LocalGovCamp") == title_key("  reflections on: LocalGovCamp!")
    assert title_key("Weeknotes 12") != title_key("Weeknotes 13")
    assert title_key("Weeknotes 12").startswith("t:")


def test_words_are_remembered_only_inside_the_block() -> None:
    text = "A post's text, split once for its content key and once for its shingles."
    assert words(text) is not words(text)  # outside: computed afresh each time
    with words_remembered():
        first = words(text)
        assert words(text) is first
        with words_remembered():  # a nested block shares the outer memory
            assert words(text) is first
        assert words(text) is first
        assert words(text + " More.") == [*first, "more"]
        assert content_key("t", text) == content_key("t", " ".join(first))
    assert words(text) is not first and words(text) == first


# --- find_moved_entry --------------------------------------------------------


def keys(entry_key: str, url: str | None, title: str, text: str = BODY) -> EntryKeys:
    return EntryKeys(entry_key, url and canonical_url(url), content_key(title, text))


def post(id: int, entry_key: str, url: str | None, title: str, text: str = BODY) -> ExistingPost:
    return ExistingPost(id, entry_key, url and canonical_url(url), content_key(title, text))


OLD_FEED = [
    post(1, "http://jo.example.org/?p=10", "http://jo.example.org/2024/04/weeknotes-11/",
         "Weeknotes 11", BODY + " Eleven."),
    post(2, "http://jo.example.org/?p=12", "http://jo.example.org/2024/05/weeknotes-12/",
         "Weeknotes 12", BODY + " Twelve."),
    post(3, "http://jo.example.org/?p=13", "http://jo.example.org/2024/05/weeknotes-13/",
         "Weeknotes 13", BODY + " Thirteen."),
]  # fmt: skip


def test_http_to_https_move_maps_every_entry_to_its_own_post() -> None:
    moved = [
        keys(p.entry_key.replace("http:", "https:"), "https://jo.example.org" + path, title, text)
        for p, path, title, text in [
            (OLD_FEED[0], "/2024/04/weeknotes-11/", "Weeknotes 11", BODY + " Eleven."),
            (OLD_FEED[1], "/2024/05/weeknotes-12/", "Weeknotes 12", BODY + " Twelve."),
            (OLD_FEED[2], "/2024/05/weeknotes-13/", "Weeknotes 13", BODY + " Thirteen."),
        ]
    ]
    assert [find_moved_entry(new, OLD_FEED) for new in moved] == [1, 2, 3]


def test_platform_move_with_new_urls_matches_by_content() -> None:
    # WordPress to Ghost: new GUIDs, new URLs, same words in a new layout.
    moved = [
        keys("ghost-6650a1", "https://jo.example.org/weeknotes-11/", "Weeknotes 11",
             BODY.replace(" ", "\n") + "  Eleven."),
        keys("ghost-6650a2", "https://jo.example.org/weeknotes-12/", "Weeknotes 12",
             BODY + " Twelve."),
        keys("ghost-6650a3", "https://jo.example.org/weeknotes-14/", "Weeknotes 14",
             BODY + " Fourteen."),
    ]  # fmt: skip
    assert [find_moved_entry(new, OLD_FEED) for new in moved] == [1, 2, None]


NEW_POST = keys("urn:new", "https://jo.example.org/2024/05/weeknotes-12/", "Weeknotes 12")


@pytest.mark.parametrize(
    ("new", "existing", "still_in_feed", "expected"),
    [
        pytest.param(
            keys("http://jo.example.org/?p=12", "https://jo.example.org/other/", "Other"),
            OLD_FEED, (), None, id="guid-reused-is-the-normal-path-not-a-move",
        ),
        pytest.param(
            keys("http://jo.example.org/?p=12", "https://jo.example.org/2024/04/weeknotes-11/",
                 "Weeknotes 11", BODY + " Eleven."),
            OLD_FEED, (), None, id="known-guid-never-moves-onto-another-post",
        ),
        pytest.param(
            NEW_POST, [post(7, "a", "https://jo.example.org/2024/05/weeknotes-12", "Edited")],
            (), 7, id="url-match-despite-edited-content",
        ),
        pytest.param(
            NEW_POST,
            [post(4, "a", "https://jo.example.org/elsewhere/", "Weeknotes 12"),
             post(9, "b", "https://jo.example.org/2024/05/weeknotes-12/", "Edited")],
            (), 9, id="url-match-preferred-over-content-match",
        ),
        pytest.param(
            NEW_POST,
            [post(4, "a", "https://jo.example.org/2024/05/weeknotes-12/", "Edited"),
             post(5, "b", "https://jo.example.org/2024/05/weeknotes-12/", "Weeknotes 12")],
            (), 5, id="url-and-content-beats-url-alone",
        ),
        pytest.param(
            NEW_POST,
            [post(8, "a", "https://jo.example.org/2024/05/weeknotes-12/", "Edited"),
             post(5, "b", "https://jo.example.org/2024/05/weeknotes-12/", "Edited again")],
            (), 5, id="several-url-matches-oldest-wins",
        ),
        pytest.param(
            keys("urn:new", "https://new.example.org/weeknotes-12", "Weeknotes 12"),
            [post(4, "a", "https://jo.example.org/a/", "Weeknotes 12"),
             post(5, "b", "https://jo.example.org/b/", "Weeknotes 12")],
            (), None, id="ambiguous-content-only-match",
        ),
        pytest.param(
            keys("urn:new", "https://new.example.org/weeknotes", "Weeknotes", ""),
            [post(4, "a", "https://jo.example.org/weeknotes/", "Weeknotes", "")],
            (), None, id="weak-content-never-matches",
        ),
        pytest.param(
            keys("urn:new", "https://news.example.com/story", "Link: a good read"),
            [post(4, "a", "https://news.example.com/story", "Link: an older comment")],
            ("a",), None, id="post-still-in-feed-is-not-moved",
        ),
        pytest.param(
            keys("urn:new", None, "Weeknotes 99"),
            [post(4, "a", None, "Weeknotes 98")],
            (), None, id="missing-urls-never-match-each-other",
        ),
        pytest.param(NEW_POST, [], (), None, id="empty-feed"),
        pytest.param(
            keys("urn:new", "https://jo.example.org/weeknotes-14/", "Weeknotes 14"),
            OLD_FEED, (), None, id="genuinely-new-post",
        ),
    ],
)  # fmt: skip
def test_find_moved_entry(
    new: EntryKeys, existing: list[ExistingPost], still_in_feed: tuple[str, ...],
    expected: int | None,
) -> None:  # fmt: skip
    assert find_moved_entry(new, existing, still_in_feed=still_in_feed) == expected


def test_entry_keys_from_parsed_entry() -> None:
    entry = EntryData(
        entry_key="urn:1", raw_hash="0" * 64, guid="urn:1",
        url="https://www.jo.example.org/weeknotes-12/?utm_source=rss", title="Weeknotes 12",
        author=None, published=None, updated=None, categories=(), summary_html=None,
        content_html=None, text=BODY,
    )  # fmt: skip
    assert entry_keys(entry) == EntryKeys(
        "urn:1", "jo.example.org/weeknotes-12", content_key("Weeknotes 12", BODY)
    )
