"""Find each entry's bytes in a document, so unchanged entries skip feedparser.

A blog's feed changes by one new post at the top; feedparser would read the
other nineteen again only for Voice to find their raw hashes unchanged. Each
entry element's bytes (a *block*) are hashed together with everything that
could change how feedparser reads them: the document's prologue, the start
tags of the root and of RSS 2.0's channel (namespaces, xml:base, xml:lang),
the feed URL (relative links and keys), the Content-Type and the rules'
version. A block seen before, whose entry still has the raw hash it had
then, needs no reading: parse.py gives feedparser the document without it.

The outcome must be what reading the whole document gives, so only
documents whose shape is certain take this path: valid UTF-8 declared as
UTF-8 (or not declared), well-formed (checked here with expat; no DTD),
entries exactly where RSS 2.0, RSS 1.0 or Atom 1.0 put them, and nothing
through which feedparser carries state from one entry to another (_Scan).
Anything else (`layout_of` returns None) is read whole, as before.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import sys
import xml.parsers.expat
from dataclasses import dataclass

from aggregator.parsing.entities import CHARSET_PARAMETER

# Bump "blocks-2" when what a block's hash stands for changes (entry keys or
# raw hashes computed differently in entries.py); the reader's version (parse.py
# passes feedparser's) and Python's are part of it by themselves. Stored maps
# then match nothing and every entry is read again once.
RULES = "blocks-2 {{}} python-{}.{}".format(*sys.version_info[:2])

_ATOM = "http://www.w3.org/2005/Atom"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_RSS1 = "http://purl.org/rss/1.0/"
_SEP = " "  # expat's namespace separator: "uri local"; no name holds a space
_RSS1_CHANNEL = f"{_RSS1}{_SEP}channel"
# root, the entries' parent (None: the root), the entry element
_SHAPES = (
    ("rss", "channel", "item"),
    (f"{_ATOM}{_SEP}feed", None, f"{_ATOM}{_SEP}entry"),
    (f"{_RDF}{_SEP}RDF", None, f"{_RSS1}{_SEP}item"),
)
# Local names that reset feed-wide state in feedparser wherever they appear, and
# content that marks the next entry as having content (see _Scan).
_FEED_NAMES = frozenset({"rss", "rdf", "feed", "channel", "item", "entry"})
_CONTENT_NAMES = frozenset({"content", "encoded", "body", "fullitem", "summary"})
# A start tag from its "<" (expat has already checked it is well-formed).
_START_TAG = re.compile(rb"""<[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*/?>""")
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_UTF8 = frozenset({"utf-8", "utf8"})
_UTF8_DECODER = codecs.getincrementaldecoder("utf-8")
_PIECE = 8192
HASH_CHARS = 32


@dataclass(frozen=True)
class Layout:
    """Where a document's entries are, and the hash of each."""

    spans: tuple[tuple[int, int], ...]  # each entry's [start, end) in the body
    hashes: tuple[str, ...]  # one per span


def layout_of(
    body: bytes, content_type: str | None, url: str, limit: int, reader: str
) -> Layout | None:
    """The entries' places and hashes, or None when the document must be read whole.

    More than `limit` entries (the feed's max_entries, which only a reading
    of every entry's date can apply) also means whole: the scan stops there.
    `reader` names the parser and its version, which the hashes cover.
    """
    if not _declared_utf8(body, content_type):
        return None
    if not _valid_utf8(body):
        return None
    found = _Scan(limit).run(body)
    if found is None:
        return None
    context, spans = found
    # Lengths first, so no two different contexts and blocks run together alike.
    head = json.dumps([RULES.format(reader), url, content_type, len(context)]).encode(
        "utf-8", "surrogatepass"
    )
    seed = hashlib.sha256(len(head).to_bytes(8, "big") + head + context)
    hashes, view = [], memoryview(body)
    for start, end in spans:
        digest = seed.copy()
        digest.update(view[start:end])
        hashes.append(digest.hexdigest()[:HASH_CHARS])
    return Layout(tuple(spans), tuple(hashes))


def without(body: bytes, layout: Layout, skipped: frozenset[int]) -> bytes:
    """The document with the entries at the `skipped` positions cut out."""
    if not skipped:
        return body
    parts, at = [], 0
    for index, (start, end) in enumerate(layout.spans):
        if index in skipped:
            parts.append(body[at:start])
            at = end
    parts.append(body[at:])
    return b"".join(parts)


def _valid_utf8(body: bytes) -> bool:
    """Checked in pieces: decoding a whole document at once allocates a string of
    its size, and freeing it made the worker's heap shrink and regrow around
    feedparser (50 more page faults a document)."""
    if body.isascii():
        return True
    decoder = _UTF8_DECODER()
    try:
        for start in range(0, len(body), _PIECE):
            decoder.decode(body[start : start + _PIECE])
        decoder.decode(b"", True)
    except UnicodeDecodeError:
        return False
    return True


def _declared_utf8(body: bytes, content_type: str | None) -> bool:
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in body:  # UTF-16 or -32
        return False
    head = body.removeprefix(b"\xef\xbb\xbf")[:512]
    if head.lstrip().startswith(b"<?xml") and b"?>" not in head:
        return False  # a declaration this long is read whole, as feedparser reads it
    declared = _XML_ENCODING.match(head)
    if declared and declared.group(1).decode("ascii").lower() not in _UTF8:
        return False
    # feedparser takes the last charset parameter; one at most is taken here
    charsets = CHARSET_PARAMETER.findall(content_type or "")
    return not charsets or (len(charsets) == 1 and charsets[0].lower() in _UTF8)


class _Odd(Exception):
    """Something in the document that could carry state from one entry to another."""


class _Scan:
    """One expat pass recording the entries' spans and the context bytes.

    feedparser keeps some state across elements, so cutting an entry out
    could change how another reads. Each of these sends the document to be
    read whole (found by a differential fuzzer; tests/test_blocks.py):
    - a `base` or `xml:base` attribute, or a namespace declaration, anywhere
      but on the root and channel start tags (which are hashed): feedparser
      keeps an element's base after it closes when no ancestor set one, and
      its namespace tables are the document's;
    - an element named like a feed's root, channel or entry (any case, any
      namespace) anywhere but in its place: each resets feed-wide state;
    - content outside the entries (`content`, `content:encoded`, `body`,
      `fullitem`, `summary`): it marks "has content" until the next entry ends.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parser = xml.parsers.expat.ParserCreate(namespace_separator=_SEP)
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.StartNamespaceDeclHandler = self._declared
        # A DTD (even without entities: those are refused before) or an entity
        # left unexpanded: feedparser rewrites doctypes and reads such
        # documents its own way, so they are read whole.
        self.parser.StartDoctypeDeclHandler = self._odd
        self.parser.SkippedEntityHandler = self._odd
        self.parser.ordered_attributes = True  # a list: cheaper than a dict
        self.depth = 0
        self.entry_depth = -1
        self.in_parent = False
        self.declaring = False  # namespace declarations on the next start tag
        self.shape: tuple[str, str | None, str] | None = None
        self.context: list[tuple[int, int]] = []
        self.spans: list[tuple[int, int]] = []
        self.entry_start = -1
        self.empty_end = -1
        self.body = b""

    def run(self, body: bytes) -> tuple[bytes, list[tuple[int, int]]] | None:
        self.body = body
        try:
            # In pieces: expat copies what it is given into a buffer of that size,
            # and a whole document's worth, freed, shrank the worker's heap
            # just before feedparser grew it again (50 more page faults a document).
            view = memoryview(body)
            for start in range(0, len(body), _PIECE):
                self.parser.Parse(view[start : start + _PIECE], False)
            self.parser.Parse(b"", True)
        except (xml.parsers.expat.ExpatError, ValueError, _Odd):  # ValueError: an encoding
            return None
        if self.shape is None or len(self.context) < (2 if self.shape[1] else 1):
            return None
        (_, root_end), *rest = self.context
        context = body[:root_end] + b"".join(body[s:e] for s, e in rest)
        return context, self.spans

    def _odd(self, *args: object) -> None:
        raise _Odd

    def _declared(self, prefix: str | None, uri: str) -> None:
        self.declaring = True

    def _tag_end(self, start: int) -> int:
        match = _START_TAG.match(self.body, start)
        if match is None:  # cannot happen after expat accepted it; be safe
            raise _Odd
        return match.end()

    def _start(self, name: str, attributes: list[str]) -> None:
        depth = self.depth
        self.depth = depth + 1
        local = name[name.rfind(_SEP) + 1 :].lower()
        if self.entry_start >= 0:  # inside an entry, the usual case
            if local in _FEED_NAMES or self.declaring or (attributes and _sets_base(attributes)):
                raise _Odd
            return
        at = self.parser.CurrentByteIndex
        if depth == 0:
            self.shape = next((s for s in _SHAPES if s[0] == name), None)
            if self.shape is None:
                raise _Odd
            self.entry_depth = 2 if self.shape[1] else 1
            self.declaring = False
            self.context.append((at, self._tag_end(at)))
            return
        assert self.shape is not None
        _, parent, entry = self.shape
        if parent is not None and depth == 1 and name == parent and not self.in_parent:
            if len(self.context) > 1:  # a second channel
                raise _Odd
            self.in_parent = True
            self.declaring = False
            self.context.append((at, self._tag_end(at)))
        elif self.declaring or (attributes and _sets_base(attributes)):
            raise _Odd
        elif name == entry and depth == self.entry_depth and (parent is None or self.in_parent):
            self.entry_start = at
            tag_end = self._tag_end(at)
            self.empty_end = tag_end if self.body[tag_end - 2 : tag_end] == b"/>" else -1
        elif (local in _FEED_NAMES or local in _CONTENT_NAMES) and not (
            depth == 1 and name == _RSS1_CHANNEL  # RSS 1.0's, beside its items, is in place
        ):
            raise _Odd

    def _end(self, name: str) -> None:
        self.depth -= 1
        if self.depth == 1 and self.shape is not None and name == self.shape[1]:
            self.in_parent = False
        elif self.depth == self.entry_depth and self.entry_start >= 0:
            at = self.parser.CurrentByteIndex
            # <item/> is one tag, which ends where its start tag does
            end = self.empty_end if self.empty_end >= 0 else self.body.index(b">", at) + 1
            self.spans.append((self.entry_start, end))
            self.entry_start = -1
            if len(self.spans) > self.limit:
                raise _Odd


def _sets_base(attributes: list[str]) -> bool:
    """True if an attribute is named `base` in any namespace (xml:base, base)."""
    return any(key[key.rfind(_SEP) + 1 :].lower() == "base" for key in attributes[::2])
