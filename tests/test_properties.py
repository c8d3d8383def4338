"""Property tests: whatever text or HTML a feed carries, sanitised output has no
control or bidi control characters, and sanitised HTML has no active content
and loads images from the feed's own host only."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from xml.sax.saxutils import escape as xml_escape

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.errors import ParseError
from aggregator.models import ParseJob
from aggregator.parsing.parse import parse_feed
from aggregator.parsing.sanitize import clean_html, html_to_text, text_of, text_of_clean_html

BASE = "https://blog.example/posts/"
HOST = "blog.example"  # the feed's host: the one images may load from
CONTROL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
BIDI_CHARACTERS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
BIDI = re.compile(f"[{BIDI_CHARACTERS}]")
# The same needles the hostile suite searches stored HTML for.
ACTIVE = ("<script", "javascript:", "data:", " on", "<svg", "<form", "<iframe", "<style")
FORBIDDEN_TAGS = {
    "script", "style", "svg", "math", "iframe", "object", "embed", "applet", "form",
    "input", "button", "select", "textarea", "template", "frame", "frameset", "base",
    "link", "meta",
}  # fmt: skip

TAGS = [
    "p", "a", "img", "b", "div", "span", "table", "td", "blockquote", "q", "script",
    "style", "svg", "math", "iframe", "object", "embed", "form", "input", "button",
    "textarea", "template", "base", "link", "meta", "noscript", "xmp", "plaintext",
    "title", "details", "select", "option", "picture", "source", "video", "audio", "bdo",
]  # fmt: skip
URL_VALUES = [
    "javascript:alert(1)", " JaVaScRiPt:alert(1)", "java\tscript:alert(1)",
    "&#106;avascript:alert(1)", "data:text/html;base64,PHNjcmlwdD4=", "vbscript:x",
    "https://ok.example/", "/relative", "mailto:a@b.example", "//evil.example/",
    "http://10.0.0.5/x.png", "http://intranet/x.png", "https://blog.example/ok.png",
    "http://BLOG.EXAMPLE:8080/ok.png", "https://blog.example@evil.example/",
    "https://blog.example\\@evil.example/", "https://blog.example.evil.example/",
    "https://cdn.blog.example/", "/a.png 1x, https://evil.example/b.png 2x",
]  # fmt: skip
DANGEROUS_ATTRIBUTES = [
    "onclick", "onerror", "onload", "ONMOUSEOVER", "style", "formaction", "xlink:href",
    "srcdoc", "action", "background", "srcset", "ontoggle", "poster",
]  # fmt: skip
# Text that cannot itself spell a needle: no letters run into "on", "script" or "data".
WORDS = [
    "hello", "42", "&amp;", "&lt;", "&#1;", "&#x9f;", "\x00", "\x07", "\u0085", "é", "<", ">",
    "\u202e", "&#x202E;", "&#8207;", "&lrm;", "\u2067", "\u061c", "\u05e9\u05dc\u05d5\u05dd",
]  # fmt: skip


def attribute() -> st.SearchStrategy[str]:
    url = st.tuples(st.sampled_from(["href", "src", "cite"]), st.sampled_from(URL_VALUES))
    danger = st.tuples(st.sampled_from(DANGEROUS_ATTRIBUTES), st.sampled_from(URL_VALUES))
    harmless = st.tuples(st.sampled_from(["title", "alt", "lang"]), st.sampled_from(["x", "1"]))
    quote = st.sampled_from(['"', "'", ""])
    return st.tuples(st.one_of(url, danger, harmless), quote).map(
        lambda a: f" {a[0][0]}={a[1]}{a[0][1]}{a[1]}" if a[1] or " " not in a[0][1] else ""
    )


text = st.lists(st.sampled_from(WORDS), max_size=4).map(" ".join)


def element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(
        st.sampled_from(TAGS), st.lists(attribute(), max_size=3), st.lists(children, max_size=3)
    ).map(lambda t: f"<{t[0]}{''.join(t[1])}>{''.join(t[2])}</{t[0]}>")


html_fragments = st.recursive(text, element, max_leaves=12)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def assert_no_active_content(cleaned: str) -> None:
    # In nh3's output every "<" opens a tag (a "<" in text is escaped), so the
    # needles are searched in the markup: text such as "&lt;p href=javascript:"
    # (what <plaintext> turns the rest of a fragment into) is inert.
    markup = " ".join(re.findall(r"<[^>]*>", cleaned)).lower()
    assert not [needle for needle in ACTIVE if needle in markup], cleaned
    assert "<" not in re.sub(r"<[^>]*>", "", cleaned), cleaned
    parser = _Tags()
    parser.feed(cleaned)
    for tag, attrs in parser.tags:
        assert tag not in FORBIDDEN_TAGS, cleaned
        for name, value in attrs:
            assert not name.startswith("on") and name not in ("style", "srcdoc"), cleaned
            if name in ("href", "src", "cite"):
                assert (value or "").startswith(("https://", "http://", "mailto:")), cleaned


def browser_host(url: str) -> str:
    """The host a browser contacts for an absolute http(s) URL: the authority
    ends at "/", "\\", "?" or "#", and the host follows its last "@"."""
    match = re.match(r"(?i)https?:[/\\]*([^/\\?#]*)", url)
    assert match, url
    return re.sub(r":[0-9]*$", "", match.group(1).rpartition("@")[2]).lower()


def assert_images_only_from(host: str, cleaned: str) -> None:
    """Every <img> that loads anything names `host`; nothing else loads at all."""
    parser = _Tags()
    parser.feed(cleaned)
    for tag, attrs in parser.tags:
        assert tag not in ("picture", "source", "video", "audio", "bdo"), cleaned
        names = {name for name, _ in attrs}
        assert not names & {"srcset", "background", "poster"}, cleaned
        src = dict(attrs).get("src")
        if tag == "img" and src:
            assert browser_host(src) == host, cleaned


@settings(max_examples=300, deadline=None)
# A list joined, not st.text: st.text over this alphabet drew none of the sampled ones.
@given(st.lists(st.characters() | st.sampled_from(BIDI_CHARACTERS)).map("".join))
def test_any_text_comes_out_without_control_characters(value: str) -> None:
    for out in (clean_html(value, BASE), html_to_text(value), text_of(value)):
        assert not CONTROL.search(out), repr(out)
        assert not BIDI.search(out), repr(out)
    assert "\n" not in text_of(value)


@settings(max_examples=300, deadline=None)
@given(html_fragments)
def test_any_html_comes_out_without_active_content_or_controls(fragment: str) -> None:
    cleaned = clean_html(fragment, BASE)
    assert not CONTROL.search(cleaned), repr(cleaned)
    assert_no_active_content(cleaned)
    # Plain text is checked for controls only: "<plaintext>" or a double-escaped
    # "&amp;lt;script&amp;gt;" legitimately yields the characters "<script" as text.
    for out in (html_to_text(fragment), text_of(fragment)):
        assert not CONTROL.search(out), repr(out)


@settings(max_examples=300, deadline=None)
@given(html_fragments)
def test_any_html_loads_images_only_from_the_feed_host_and_has_no_bidi_controls(
    fragment: str,
) -> None:
    cleaned = clean_html(fragment, BASE, image_host=HOST)
    assert_images_only_from(HOST, cleaned)
    assert_no_active_content(cleaned)
    # Which images load must not change the text that search and dedupe read.
    elsewhere = clean_html(fragment, BASE, image_host="evil.example")
    assert text_of_clean_html(cleaned) == text_of_clean_html(elsewhere)
    for out in (cleaned, html_to_text(fragment), text_of(fragment)):
        assert not BIDI.search(out), repr(out)


def _feed_with(fragment: str) -> bytes:
    escaped = xml_escape(CONTROL_XML.sub("", fragment))  # XML 1.0 cannot carry C0 controls
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<item><guid>g</guid><title>{escaped}</title><description>{escaped}</description>"
        f"<link>https://blog.example/a</link></item></channel></rss>"
    ).encode("utf-8", "surrogatepass")


@settings(max_examples=150, deadline=None)
@given(st.one_of(html_fragments, st.text()))
def test_any_fragment_through_parse_is_stored_without_controls_or_active_content(
    fragment: str,
) -> None:
    job = ParseJob(
        body=_feed_with(fragment),
        url=BASE,
        content_type="application/rss+xml",
        fetched_at="2026-11-23T12:00:00Z",
    )
    try:
        data = parse_feed(job)
    except ParseError:
        return  # a clean refusal is fine: nothing is stored
    for entry in data.entries:
        for value in (entry.title, entry.text, entry.author or ""):
            assert not CONTROL.search(value), value
            assert not BIDI.search(value), value
        for html in (entry.content_html, entry.summary_html):
            if html:
                assert not CONTROL.search(html), html
                assert not BIDI.search(html), html
                assert_no_active_content(html)
                assert_images_only_from(HOST, html)
