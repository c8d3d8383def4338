"""Canaries: upstream behaviour Voice works around, pinned in pyproject.toml.

Each test states what feedparser 6.0.x, nh3 0.3.x, httpx 0.28.x or numpy 2.x does today
and which workaround depends on it. If an upgrade changes the behaviour, the
test fails and the workaround must be revisited (or removed).
"""

from __future__ import annotations

import io
import warnings

import feedparser
import nh3
import numpy as np
import pytest

RSS_BARE_GUID = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>a</title><guid>1234</guid><link>/posts/a</link></item></channel></rss>"""


def test_feedparser_resolves_bare_guids_against_content_location() -> None:
    """Why parse.py passes no Content-Location: bare guids would become URLs, and
    every entry key would change when the feed URL does (parse.py, design.md)."""
    with_location = feedparser.parse(
        io.BytesIO(RSS_BARE_GUID),
        response_headers={"content-location": "https://blog.example/feed/"},
        resolve_relative_uris=False,
        sanitize_html=False,
    )
    without = feedparser.parse(
        io.BytesIO(RSS_BARE_GUID), resolve_relative_uris=False, sanitize_html=False
    )
    assert with_location.entries[0].id == "https://blog.example/feed/1234"
    assert without.entries[0].id == "1234"


def test_feedparser_updated_falls_back_to_published() -> None:
    """Why parse.py reads `updated_parsed` with dict.get: FeedParserDict.get falls back."""
    doc = b"""<rss version="2.0"><channel><title>t</title><item><title>a</title>
    <pubDate>Mon, 21 Nov 2016 09:00:00 GMT</pubDate></item></channel></rss>"""
    entry = feedparser.parse(io.BytesIO(doc)).entries[0]
    with pytest.warns(DeprecationWarning):
        assert entry.get("updated_parsed") is not None
    assert dict.get(entry, "updated_parsed") is None


def test_nh3_checks_schemes_before_the_attribute_filter() -> None:
    """sanitize.clean_html relies on url_schemes dropping javascript: before its filter."""
    seen: list[str] = []

    def spy(tag: str, attribute: str, value: str) -> str:
        seen.append(value)
        return value

    out = nh3.clean(
        '<a href="javascript:alert(1)">x</a><a href="/ok">y</a>',
        url_schemes={"http", "https"},
        attribute_filter=spy,
    )
    assert "javascript" not in out and "javascript:alert(1)" not in seen and "/ok" in seen


def test_nh3_passes_numeric_control_references_through() -> None:
    """Why sanitize strips control characters from nh3's output as well as its input."""
    assert "&#1;" in nh3.clean("a&#1;b") or "\x01" in nh3.clean("a&#1;b")


def test_nh3_refuses_lone_surrogates() -> None:
    """Why sanitize strips surrogates before calling nh3."""
    with pytest.raises(UnicodeEncodeError):
        nh3.clean("a\ud800b")


def test_numpy_uint64_arithmetic_wraps_as_the_shingle_hash_needs() -> None:
    """hashing.run_hashes computes CPython's 64-bit tuple hash with numpy uint64
    arrays, whose multiply, add and shifts wrap modulo 2**64 like C's unsigned
    arithmetic, with no warning or error. Stored MinHash signatures and LSH
    bands depend on it: if numpy ever checks or widens, the pinned values in
    test_similarity.py fail as well."""
    big = np.array([2**64 - 1, 2**63 + 5], dtype=np.uint64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        product = big * np.uint64(3)
        total = big + np.uint64(2)
        rotated = (big << np.uint64(31)) | (big >> np.uint64(33))
    assert product.dtype == np.uint64
    assert product.tolist() == [(x * 3) % 2**64 for x in big.tolist()]
    assert total.tolist() == [(x + 2) % 2**64 for x in big.tolist()]
    assert rotated.tolist() == [((x << 31) | (x >> 33)) % 2**64 for x in big.tolist()]
