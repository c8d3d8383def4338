"""Make feed HTML safe to show and turn it into plain text; the only module importing nh3.

Everything a feed says is hostile until it has been through here. `clean_html`
keeps an explicit set of harmless tags and attributes, resolves relative links
against the entry's base URL and drops any link that does not resolve to
http, https or mailto. `html_to_text` and `text_of` give plain text for search
and for titles. All three strip control characters (C0 except tab, newline and
carriage return; DEL; C1; lone surrogates; U+FFFE and U+FFFF) from their input
and output: nh3 passes `&#1;` through, and refuses strings holding surrogates.
"""

from __future__ import annotations

import html as html_lib
import re
from urllib.parse import urljoin, urlsplit

import nh3

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})

# ammonia's default tags without image maps (area carries links of its own);
# tfoot added. Nothing scriptable, nothing that submits, nothing that embeds.
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "acronym", "article", "aside", "b", "bdi", "bdo", "blockquote", "br",
        "caption", "center", "cite", "code", "col", "colgroup", "data", "dd", "del",
        "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "footer",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "i", "img", "ins",
        "kbd", "li", "mark", "nav", "ol", "p", "pre", "q", "rp", "rt", "rtc", "ruby", "s",
        "samp", "small", "span", "strike", "strong", "sub", "summary", "sup", "table",
        "tbody", "td", "tfoot", "th", "thead", "time", "tr", "tt", "u", "ul", "var", "wbr",
    }
)  # fmt: skip

# Dropped with everything inside them, not just unwrapped.
DROPPED_TAGS = frozenset(
    {
        "script", "style", "svg", "math", "iframe", "object", "embed", "applet",
        "form", "input", "button", "select", "textarea", "template", "frameset", "frame",
    }
)  # fmt: skip

ALLOWED_ATTRIBUTES = {
    "*": {"title", "lang", "dir"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "data": {"value"},
    "ol": {"start", "reversed", "type"},
    "li": {"value"},
    "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "headers", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
    "abbr": {"title"},
}
URL_ATTRIBUTES = frozenset({"href", "src", "cite"})
LINK_REL = "noopener noreferrer nofollow"

# Tags that end a line of text in html_to_text; table cells become spaces.
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "dd", "details",
        "div", "dl", "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hgroup", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
        "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
_CELL_TAGS = frozenset({"td", "th"})

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_TAG = re.compile(r"<(/?)([a-z0-9]+)[^>]*>")
_SPACES = re.compile(r"[^\S\n]+")
_LINES = re.compile(r"\s*\n\s*")
_ANY_SPACE = re.compile(r"\s+")

_TEXT_CLEANER = nh3.Cleaner(
    tags=set(_BLOCK_TAGS | _CELL_TAGS),
    clean_content_tags=set(DROPPED_TAGS),
    attributes={},
    link_rel=None,
)


def strip_controls(text: str) -> str:
    """Remove control characters, lone surrogates and noncharacters U+FFFE/U+FFFF."""
    return _CONTROL.sub("", text)


def safe_url(value: str, base_url: str) -> str | None:
    """`value` resolved against `base_url`, or None unless it is http(s) or mailto.

    urljoin and urlsplit drop ASCII tab and newline and strip leading spaces
    the way browsers do, so "java\\tscript:" is seen as the javascript scheme.
    """
    value = strip_controls(value).strip()
    try:
        resolved = urljoin(base_url, value) if base_url else value
        scheme = urlsplit(resolved).scheme.lower()
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    if scheme not in ALLOWED_SCHEMES:
        return None
    if scheme != "mailto" and not urlsplit(resolved).netloc:
        return None  # "http:/etc" or "http:evil" would resolve against the reader's page
    return resolved


_CLEANER_OPTIONS = {
    "tags": set(ALLOWED_TAGS),
    "clean_content_tags": set(DROPPED_TAGS),
    "attributes": {tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    "strip_comments": True,
    "link_rel": LINK_REL,
    "url_schemes": set(ALLOWED_SCHEMES),
}
_CLEANER = nh3.Cleaner(**_CLEANER_OPTIONS)  # type: ignore[arg-type]

# A URL attribute whose value does not start with an allowed scheme: relative,
# or one nh3 will drop. Only then is the (slower) Python attribute filter needed;
# nh3's url_schemes check alone already removes every other scheme.
_MAYBE_RELATIVE = re.compile(
    r"""(?:href|src|cite)\s*=\s*(?!["']?\s*(?:https?://|mailto:))""", re.IGNORECASE
)


def clean_html(html: str, base_url: str) -> str:
    """Sanitise an HTML fragment from a feed; relative links become absolute."""
    html = strip_controls(html)
    if not _MAYBE_RELATIVE.search(html):
        return strip_controls(_CLEANER.clean(html)).strip()

    def filter_attribute(tag: str, attribute: str, value: str) -> str | None:
        if attribute in URL_ATTRIBUTES:
            return safe_url(value, base_url)
        return value

    cleaned = nh3.clean(
        html,
        attribute_filter=filter_attribute,
        **_CLEANER_OPTIONS,  # type: ignore[arg-type]
    )
    return strip_controls(cleaned).strip()


# In nh3's output every "<" opens a tag (a "<" in text is escaped as &lt;) and
# attribute values are double-quoted, so these patterns find exactly the tags.
_TAG_BODY = r"""[^>"]*(?:"[^"]*"[^>"]*)*>"""
_CLEAN_BLOCK_TAG = re.compile(
    r"</?(?:" + "|".join(sorted(_BLOCK_TAGS, key=len, reverse=True)) + r")\b" + _TAG_BODY
)
_CLEAN_CELL_TAG = re.compile(r"</?t[dh]\b" + _TAG_BODY)
_CLEAN_ANY_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*\b" + _TAG_BODY)


def text_of_clean_html(cleaned: str) -> str:
    """Plain text of `clean_html` output, without parsing it a second time."""
    text = _CLEAN_BLOCK_TAG.sub("\n", cleaned)
    text = _CLEAN_CELL_TAG.sub(" ", text)
    text = html_lib.unescape(_CLEAN_ANY_TAG.sub("", text))
    return _tidy_lines(strip_controls(text))  # entities such as &#1; decode to controls


def _tidy_lines(text: str) -> str:
    """Collapse spaces within lines and drop blank lines (str.split is far faster than re)."""
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML fragment: one line per block, no markup."""
    # nh3 parses the way a browser does and leaves only block tags without
    # attributes, so a regex can turn those into line breaks safely: any "<"
    # left in the text is escaped as "&lt;".
    skeleton = _TEXT_CLEANER.clean(strip_controls(html))

    def replace(match: re.Match[str]) -> str:
        return " " if match.group(2) in _CELL_TAGS else "\n"

    text = html_lib.unescape(_TAG.sub(replace, skeleton))
    text = _SPACES.sub(" ", strip_controls(text))
    return _LINES.sub("\n", text).strip()


def text_of(fragment: str) -> str:
    """One line of plain text from a title that may hold markup or entities."""
    return _ANY_SPACE.sub(" ", html_to_text(fragment)).strip()
