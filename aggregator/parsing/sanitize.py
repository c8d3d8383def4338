"""Make feed HTML safe to show and turn it into plain text; the only module importing nh3.

Everything a feed says is hostile until it has been through here. `clean_html`
keeps an explicit set of harmless tags and attributes, resolves relative links
against the entry's base URL and drops any link that does not resolve to
http, https or mailto. An image loads only from the one host the caller names
(the host the feed was fetched from); any other becomes a link to it, so a
reader's browser tells no other host that the post is being read.
`html_to_text` and `text_of` give plain text for search and for titles.

All of them strip control characters (C0 except tab, newline and carriage
return; DEL; C1; lone surrogates; U+FFFE and U+FFFF) from their input and
output: nh3 passes `&#1;` through, and refuses strings holding surrogates.
They strip bidi controls too (embeddings, overrides, isolates, LRM, RLM, ALM):
invisible, an override makes "Title four [RLO]gnp.exe" read "Title four exe.png".
`strip_controls` alone, without bidi, is for identities (guids, links).
"""

from __future__ import annotations

import functools
import html as html_lib
import re
from urllib.parse import urljoin, urlsplit

import nh3

# Which rules stored posts were cleaned by is SANITIZE_RULES_VERSION, in
# aggregator/parsing/__init__.py: bump it there when a change here must reach
# posts already stored.

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})

# ammonia's default tags without image maps (area carries links of its own)
# and without bdo (<bdo dir="rtl"> is the markup for a bidi override); tfoot
# added. Nothing scriptable, nothing that submits, nothing that embeds.
# <picture> and <source> are unwrapped and srcset never kept, so an image's one
# URL is its src, and an <img> is the only element here that loads anything.
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "acronym", "article", "aside", "b", "bdi", "blockquote", "br",
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
# The class of the link (or, inside a link, the span) an image not loaded
# becomes. nh3 keeps no class attribute, so a feed cannot forge one.
REMOTE_IMAGE = "remote-image"

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

_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
# LRE RLE PDF LRO RLO, LRI RLI FSI PDI, LRM RLM, ALM.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_CONTROL = re.compile(f"[{_CONTROLS}]")
_CONTROL_OR_BIDI = re.compile(f"[{_CONTROLS}{BIDI_CONTROLS}]")
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


def strip_controls_and_bidi(text: str) -> str:
    """`strip_controls`, and bidi controls too: for any text a person reads.

    Their legitimate use (placing punctuation in mixed Arabic or Hebrew and
    English text) is cosmetic; without them the letters are the same and
    in the same order, while with them a title or a link can show a name
    that is not the one it holds.
    """
    return _CONTROL_OR_BIDI.sub("", text)


def safe_url(value: str, base_url: str) -> str | None:
    """`value` resolved against `base_url`, or None unless it is http(s) or mailto.

    urljoin and urlsplit drop ASCII tab and newline and strip leading spaces
    the way browsers do, so "java\\tscript:" is seen as the javascript scheme.
    """
    value = strip_controls(value).strip()
    if _PLAIN_ABSOLUTE.fullmatch(value) and _parses(base_url):
        return value  # what the steps below give it back as, at a tenth of the cost
    try:
        resolved = urljoin(base_url, value) if base_url else value
        parts = urlsplit(resolved)
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        return None
    if scheme != "mailto" and not parts.netloc:
        return None  # "http:/etc" or "http:evil" would resolve against the reader's page
    return resolved


@functools.lru_cache(maxsize=64)
def _parses(base_url: str) -> bool:
    """Whether urljoin can read `base_url` (it raises on a bad IPv6 literal)."""
    try:
        urlsplit(base_url)
    except ValueError:
        return False
    return True


# An absolute http(s) URL that urljoin and urlsplit give back unchanged: a
# lower-case scheme, a plain host and port, a path without ";" (which urlparse
# splits off as parameters), a query and a fragment that are not empty (an
# empty one is dropped) and no spaces (tabs and newlines are removed). Half
# of the links in feeds are like this. tests/test_ingest_equivalence.py
# checks it against the steps of safe_url.
_PLAIN_ABSOLUTE = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~!$&'()*+,=:@%/-]*)?"
    r"(?:\?[^\s#]+)?(?:#\S+)?"
)


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
# or one nh3 will drop. Only then are URL values resolved with safe_url;
# nh3's url_schemes check alone already removes every other scheme. Searched
# in the lower-cased HTML, a quarter of the cost of IGNORECASE on a 2 KB
# fragment: the HTML parser lower-cases ASCII names only, and a scheme is
# ASCII, so lower() finds what nh3 sees (IGNORECASE also took "ſ" for "s").
_MAYBE_RELATIVE = re.compile(r"""(?:href|src|cite)\s*=\s*(?!["']?\s*(?:https?://|mailto:))""")


def clean_html(html: str, base_url: str, image_host: str | None = None) -> str:
    """Sanitise an HTML fragment from a feed; relative links become absolute.

    Images load only from `image_host` (see `on_host`); without one, none do.
    """
    html = strip_controls_and_bidi(html)
    cleaned = _CLEANER.clean(html)
    if _MAYBE_RELATIVE.search(html.lower()):
        cleaned = _resolve_urls(cleaned, base_url)
    if "<img" in cleaned:
        cleaned = _link_remote_images(cleaned, image_host)
    return strip_controls_and_bidi(cleaned).strip()


# The tags in nh3's output that may hold a URL attribute (ALLOWED_ATTRIBUTES).
_URL_TAG = re.compile(r"<(a|img|blockquote|q|del|ins)((?: [a-z-]+=\"[^\"]*\")*)>")
_ESCAPES = (("&", "&amp;"), ("\u00a0", "&nbsp;"), ('"', "&quot;"), ("<", "&lt;"), (">", "&gt;"))


def _resolve_urls(cleaned: str, base_url: str) -> str:
    """Each href, src and cite in nh3's output through `safe_url`, as an attribute filter would.

    nh3 can call a Python `attribute_filter` for every attribute, but that
    callback was most of its cost. This gives the same output: nh3 runs the
    filter after its own scheme check, on the attributes it kept (an <a>'s
    rel already added), replaces values in place and drops with swap_remove,
    which moves the tag's last attribute into the dropped one's place; it
    writes values escaping exactly `_ESCAPES`. tests/test_ingest_equivalence.py
    compares the two over the corpora.
    """

    def fix(match: re.Match[str]) -> str:
        names_values = _ATTRIBUTE.findall(match.group(2))
        attributes = [[name, value] for name, value in names_values]
        dropped = []
        for i, pair in enumerate(attributes):
            if pair[0] not in URL_ATTRIBUTES:
                continue
            resolved = safe_url(html_lib.unescape(pair[1]), base_url)
            if resolved is None:
                dropped.append(i)
            else:
                for char, escape in _ESCAPES:
                    resolved = resolved.replace(char, escape)
                pair[1] = resolved
        for i in reversed(dropped):  # Vec::swap_remove, as nh3 drops them
            attributes[i] = attributes[-1]
            attributes.pop()
        if [tuple(pair) for pair in attributes] == names_values:
            return match.group(0)
        body = "".join(f' {name}="{value}"' for name, value in attributes)
        return f"<{match.group(1)}{body}>"

    return _URL_TAG.sub(fix, cleaned)


def reclean_stored_html(cleaned: str, image_host: str | None) -> str:
    """Apply today's rules to HTML that `clean_html` cleaned under earlier ones.

    Rules 1 to 2 added only the image and bidi rules, so this applies just
    those: running nh3 again would strip the class of links made from images.
    Idempotent, so an interrupted pass can simply run again.
    """
    cleaned = strip_controls_and_bidi(cleaned)
    return _link_remote_images(cleaned, image_host) if "<img" in cleaned else cleaned


def url_host(url: str) -> str | None:
    """The host of an http(s) URL as URLs spell it (lower case, IPv6 in brackets)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return f"[{host}]" if ":" in host else host


# What may follow the host in a URL on it: a port, then the path, query or fragment.
_AFTER_HOST = re.compile(r"(?::[0-9]*)?(?:[/?#]|\Z)")


def on_host(url: str, host: str | None) -> bool:
    """Whether the absolute http(s) `url` names exactly `host`, as a browser reads it.

    A textual match, not urlsplit: for "https://blog.example\\@evil.example/"
    urlsplit says blog.example where a browser goes to evil.example. Anything
    after the host but a port, "/", "?" or "#" (userinfo, a backslash, a longer
    name) counts as another host; so do a subdomain and a different spelling.
    """
    if not host:
        return False
    lowered, host = url.lower(), host.lower()
    for prefix in ("https://" + host, "http://" + host):
        if lowered.startswith(prefix):
            return _AFTER_HOST.match(lowered, len(prefix)) is not None
    return False


# In nh3's output every "<" opens a tag (a "<" in text is escaped as &lt;) and
# attribute values are double-quoted, so these patterns find exactly the tags.
_TAG_BODY = r"""[^>"]*(?:"[^"]*"[^>"]*)*>"""
_LINK_OR_IMAGE = re.compile(r"<(/?)(a|img)\b(" + _TAG_BODY[:-1] + ")>")
_ATTRIBUTE = re.compile(r'([a-z-]+)="([^"]*)"')


def _link_remote_images(cleaned: str, image_host: str | None) -> str:
    """Each <img> not on `image_host` as a link to it labelled with its alt text.

    Inside a link, where a link cannot go, it becomes the label alone.
    """
    depth = 0  # how many links the tag is inside

    def replace(match: re.Match[str]) -> str:
        nonlocal depth
        closing, tag, attributes = match.groups()
        if tag == "a":
            depth = max(depth - 1, 0) if closing else depth + 1
            return match.group(0)
        values = {name: html_lib.unescape(value) for name, value in _ATTRIBUTE.findall(attributes)}
        src = values.get("src")
        if not src or on_host(src, image_host):
            return match.group(0)  # without a src an image loads nothing
        alt = " ".join(values.get("alt", "").split())
        label = html_lib.escape(f"image: {alt}" if alt else "image", quote=False)
        if depth:
            return f'<span class="{REMOTE_IMAGE}">{label}</span>'
        href = html_lib.escape(src, quote=False).replace('"', "&quot;")
        return f'<a class="{REMOTE_IMAGE}" href="{href}" rel="{LINK_REL}">{label}</a>'

    return _LINK_OR_IMAGE.sub(replace, cleaned)


_CLEAN_BLOCK_TAG = re.compile(
    r"</?(?:" + "|".join(sorted(_BLOCK_TAGS, key=len, reverse=True)) + r")\b" + _TAG_BODY
)
_CLEAN_CELL_TAG = re.compile(r"</?t[dh]\b" + _TAG_BODY)
_CLEAN_ANY_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*\b" + _TAG_BODY)
# Exactly what _link_remote_images writes: its href is escaped, its label has no tags.
_REMOTE_IMAGE_LABEL = re.compile(r'<(a|span) class="' + REMOTE_IMAGE + r'"[^>]*>[^<]*</\1>')


def text_of_clean_html(cleaned: str) -> str:
    """Plain text of `clean_html` output, without parsing it a second time.

    An image's label is left out, as the image itself would be: the text of a
    post (and so its fingerprint for finding copies) must not depend on
    whether it was fetched from the host its images are on.
    """
    if REMOTE_IMAGE in cleaned:
        cleaned = _REMOTE_IMAGE_LABEL.sub("", cleaned)
    text = _CLEAN_BLOCK_TAG.sub("\n", cleaned)
    text = _CLEAN_CELL_TAG.sub(" ", text)
    text = html_lib.unescape(_CLEAN_ANY_TAG.sub("", text))
    return _tidy_lines(strip_controls_and_bidi(text))  # entities such as &#1; decode to them


def _tidy_lines(text: str) -> str:
    """Collapse spaces within lines and drop blank lines (str.split is far faster than re)."""
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML fragment: one line per block, no markup."""
    # nh3 parses the way a browser does and leaves only block tags without
    # attributes, so a regex can turn those into line breaks safely: any "<"
    # left in the text is escaped as "&lt;".
    skeleton = _TEXT_CLEANER.clean(strip_controls_and_bidi(html))

    def replace(match: re.Match[str]) -> str:
        return " " if match.group(2) in _CELL_TAGS else "\n"

    text = html_lib.unescape(_TAG.sub(replace, skeleton))
    text = _SPACES.sub(" ", strip_controls_and_bidi(text))
    return _LINES.sub("\n", text).strip()


def text_of(fragment: str) -> str:
    """One line of plain text from a title that may hold markup or entities."""
    return _ANY_SPACE.sub(" ", html_to_text(fragment)).strip()
