"""Does this post say it is a copy, and of what? The link a copy gives to its original.

A republished post usually names its original: a Medium copy ends "Originally
published at <a>", a team blog's intro says "Cross-posted from <a>", a
WordPress feed appends "The post <a> appeared first on", a page keeps a
`rel="canonical"` link. `evidence_url` turns that claim into the URL key of
the original, which the "evidence" rule in `similarity` and the evidence index
compare. Pure: no I/O.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

from aggregator.analysis.identity import canonical_url

# A "copy of" link counts only this many characters of HTML from either end:
# the notes sit in an intro or a footer, and a link in the middle of a post
# ("I originally posted about this on ...") is a citation, not a claim.
EVIDENCE_EDGE = 1000

_CLAIM = (
    r"(?:originally\s+(?:published|posted|appeared|written|shared)"
    r"|first\s+(?:appeared|published|posted)"
    r"|cross-?posted\s+(?:from|with)"
    r"|(?:re-?posted|re-?published)\s+(?:from|with\s+(?:kind\s+)?permission)"
    r"|this\s+(?:post|article|piece)\s+is\s+from)"
)
# Text or inline markup between the claim and its link: no block boundary and
# no other link, so the link belongs to the claim's sentence.
_GAP = r"(?:[^<]|</?(?:em|i|strong|b|span|small|cite)\b[^>]*>){0,120}?"
_HREF = r"""<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>"""
_CLAIM_THEN_LINK = re.compile(_CLAIM + _GAP + _HREF, re.IGNORECASE)
_LINK_STATES_CLAIM = re.compile(
    _HREF + r"(?:[^<]|</?(?:em|i|strong|b|span)\b[^>]*>){0,40}?" + _CLAIM, re.IGNORECASE
)
# WordPress (Yoast) feed footer: "The post <a href=POST>Title</a> appeared first on <a>Site</a>."
_YOAST = re.compile(
    r"the\s+post\s+" + _HREF + r"[^<]{0,300}</a>\s*appeared\s+first\s+on", re.IGNORECASE
)
# A word every claim pattern above needs ("appeared first" is the Yoast footer).
_HINTS = (
    "originally", "appeared", "first published", "first posted", "cross-posted",
    "crossposted", "reposted", "re-posted", "republished", "re-published", "is from",
    "canonical",
)  # fmt: skip
_CANONICAL_TAG = re.compile(r"<(?:a|link)\b[^<>]*$", re.IGNORECASE)  # the tag, up to "canonical"
_REL_CANONICAL = re.compile(r"""\brel\s*=\s*["']?(?:[^"'>]*\s)?$""", re.IGNORECASE)
_TAG_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
# Only this much of each end is searched: a claim starting within EVIDENCE_EDGE
# may run on past it. It also bounds the work on malformed HTML, where a
# pattern scanning for a ">" that never comes would be quadratic in the length.
_WINDOW = EVIDENCE_EDGE + 1000
_MAX_TAG = 2000
_CANONICAL_WORD = re.compile(r"canonical(?![\w-])", re.IGNORECASE)


# A post that says it republishes another, with or without a link: "Guest
# post: ..." as its title, or a claim ("first appeared on her own blog",
# "This is a guest post by", "cross-posted from", "we're republishing it here
# with her permission") in its opening or closing words.
_SAYS_COPY = re.compile(
    _CLAIM + r"|\bguest\s+(?:post|blog)\b|\bre-?publish(?:ed|ing)\b", re.IGNORECASE
)
_GUEST_TITLE = re.compile(r"\s*(?:guest\s+(?:post|blog)|cross-?post|re-?post)\b", re.IGNORECASE)
SAYS_COPY_EDGE = 400  # characters of plain text at either end where an intro or outro sits


def says_it_is_a_copy(title: str, text: str) -> bool:
    """Does the post say it republishes someone's post, by its title or its intro or outro?

    Weaker than `evidence_url` (it names no original), so it only lets the
    "contained" rule in `similarity` trust a copy under a new title.
    """
    if _GUEST_TITLE.match(title):
        return True
    ends = (text[:SAYS_COPY_EDGE], text[-SAYS_COPY_EDGE:])
    return any(_SAYS_COPY.search(end) for end in ends)


def evidence_url(content_html: str | None, base_url: str | None) -> str | None:
    """The URL key of the original this post says it is a copy of, or None.

    A claim in the post's own words ("Originally published at <a>",
    "This post first appeared on <a>", "Cross-posted from <a>", a WordPress
    "The post <a> appeared first on" footer) near its start or end, or a
    `rel="canonical"` link anywhere. The sanitiser rewrites `rel` on stored
    HTML, so the canonical link is only seen in HTML that has not been through it.

    Conservative, since a wrong claim folds a different post: links to a
    site's home page, or to any page above the post's own address (a Medium
    publication), say where, not which post, and are ignored; if the links
    found disagree, there is no evidence.
    """
    if not content_html:
        return None
    lowered = content_html.lower()
    if not any(hint in lowered for hint in _HINTS):
        return None  # most posts claim nothing: a few substring scans instead of four patterns
    size = len(content_html)
    if size <= 2 * _WINDOW:
        segments = [(0, content_html)]
    else:
        segments = [(0, content_html[:_WINDOW]), (size - _WINDOW, content_html[-_WINDOW:])]
    hrefs: list[str] = []
    for offset, segment in segments:
        for pattern in (_CLAIM_THEN_LINK, _LINK_STATES_CLAIM, _YOAST):
            for match in pattern.finditer(segment):
                if (
                    offset + match.start() < EVIDENCE_EDGE
                    or offset + match.end() > size - EVIDENCE_EDGE
                ):
                    hrefs.append(match.group(1) or match.group(2) or "")
    hrefs.extend(_canonical_links(content_html))
    own = canonical_url(base_url) if base_url else None
    keys = {key for href in hrefs if (key := _post_key(href, base_url)) and not _above(key, own)}
    return keys.pop() if len(keys) == 1 else None


def _above(key: str, own: str | None) -> bool:
    """A link to a page above the post's own address (its Medium publication, its
    blog's section) says where the post lives, not which post it copies: Medium's
    footer "<post> was originally published in <publication> on Medium" is one."""
    return own is not None and own.startswith(key.rstrip("/") + "/")


def _canonical_links(content_html: str) -> list[str]:
    """hrefs of <a> or <link> tags with rel "canonical", found from the word, not the tags."""
    hrefs = []
    for word in _CANONICAL_WORD.finditer(content_html):
        at = word.start()
        start = content_html.rfind("<", max(0, at - _MAX_TAG), at)
        end = content_html.find(">", at, at + _MAX_TAG)
        if start == -1 or end == -1:
            continue
        before = content_html[start:at]
        if _CANONICAL_TAG.match(before) and _REL_CANONICAL.search(before):
            href = _TAG_HREF.search(content_html, start, end + 1)
            if href:
                hrefs.append(href.group(1) or href.group(2) or href.group(3) or "")
    return hrefs


def _post_key(href: str, base_url: str | None) -> str | None:
    """canonical_url of a link, or None if it cannot name one post (a bare host)."""
    url = html.unescape(href).strip()
    try:
        url = urljoin(base_url, url) if base_url else url
    except ValueError:
        return None
    key = canonical_url(url)
    if key is None or ("/" not in key and "?" not in key):
        return None
    return key
