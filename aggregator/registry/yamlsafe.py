"""YAML as members write it, loaded within limits a hostile file cannot get round.

feeds.yaml and topics.yaml are small hand-written trees of text, numbers,
lists and mappings. Anything far from that (megabytes of text, anchors and
aliases, tags, lists as keys, lists in lists twenty deep, tens of thousands
of values) is refused
before ruamel builds a value, with one line a member can act on, because an
error message or a loader that follows the file where it leads can hang
`voice run` or end in a traceback. Nine lines of aliases make a value of a
billion items that no `repr` or walk finishes; 20,000 brackets end in a
RecursionError after seconds; the round-trip loader, which puts line numbers
on problems, reads about 15,000 values a second.

The shapes are checked on the parser's event stream, which is flat: one pass
that stops at the first problem, before any value (or node tree) exists.

A member's value shown in a message is cut short (`show`, `cut`,
`cut_quoted`): one line each, whatever the file holds.
"""

from __future__ import annotations

import re
from contextlib import closing
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor, SafeConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    CollectionEndEvent,
    CollectionStartEvent,
    MappingStartEvent,
    NodeEvent,
)

MAX_BYTES = 2_000_000  # the committed registry is 3 kB, the vocabulary 25 kB
TOO_LARGE = f"too large: the limit is 2 MB ({MAX_BYTES:,} bytes)"
MAX_DEPTH = 20  # feeds.yaml needs 4 (settings or feeds, a feed, its topics), topics.yaml 4
MAX_VALUES = 50_000  # a registry of 5,000 blogs; the committed one has about 150
NO_ALIASES = "anchors and aliases (&name, *name) are not allowed; write each value out in full"
TOO_DEEP = f"lists and mappings nested more than {MAX_DEPTH} deep; a registry needs no more than 4"
TOO_MANY = f"more than {MAX_VALUES:,} values; far more than a registry needs"
NO_TAGS = "tags (!name) are not allowed; put a value in quotes to keep it as text"
NO_COMPLEX_KEYS = "a key must be text or a number, not a list or mapping"
SHOWN = 80  # characters of a member's value shown in a message
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")  # 'a\'b' or "a"


class YAMLProblem(Exception):
    """Why a file's text was not loaded, with the 1-based line when known."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def too_large(text: str) -> bool:
    """Over MAX_BYTES in UTF-8; a long text is refused without encoding it."""
    return len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES


def load_yaml(text: str, typ: str) -> Any:
    """`text` loaded by ruamel (`typ` "safe" or "rt"); YAMLProblem if it cannot be."""
    if too_large(text):
        raise YAMLProblem(TOO_LARGE)
    check_shape(text, typ)
    yaml = YAML(typ=typ)
    yaml.Constructor = _SafeConstructor if typ == "safe" else _RoundTripConstructor
    try:
        return yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or (str(exc).splitlines() or ["?"])[0]
        raise YAMLProblem(f"not valid YAML: {cut_quoted(reason)}", line) from exc


def cut(text: str, limit: int = SHOWN) -> str:
    """`text` at most `limit` characters long, with "…" where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(value: Any, quotes: bool = True) -> str:
    """A member's value in a message: as Python writes it (so on one line), cut short.

    Text is quoted unless `quotes` is false; other values are never quoted.
    """
    if not isinstance(value, str):
        return cut(repr(value))
    shown = repr(cut(value))
    return shown if quotes else shown[1:-1]


def cut_quoted(message: str) -> str:
    """A message made elsewhere (ruamel, the vocabulary checks) with its quoted values cut.

    Those quote a member's value whole, with repr or in double quotes.
    """
    shorter = _QUOTED.sub(lambda m: m[0] if len(m[0]) <= SHOWN else cut(m[0]) + m[0][0], message)
    return cut(shorter.replace("\n", "\\n").replace("\r", "\\r"), 4 * SHOWN)


def check_shape(text: str, typ: str) -> None:
    """Raise YAMLProblem at the first anchor, alias, tag, list or mapping as a key,
    level too deep or value too many.

    libyaml's events are read first: a few milliseconds for a real registry,
    0.1 s at most (the limits stop it). Where libyaml finds the YAML invalid,
    the loader's own parser is asked, since it may read further (up to 2 s,
    pure Python). Invalid YAML then ends the check quietly: the load reports
    it, with its line, and stops at the same place.
    """
    for parser in dict.fromkeys(("safe", typ)):
        try:
            _scan(text, parser)
            return
        except YAMLError:
            continue


def _scan(text: str, typ: str) -> None:
    # Per open collection: None for a list; for a mapping, whether its next node is a key.
    open_: list[bool | None] = []
    values = 0
    with closing(YAML(typ=typ).parse(text)) as events:
        for event in events:
            if isinstance(event, CollectionEndEvent):
                open_.pop()
                continue
            if not isinstance(event, NodeEvent):
                continue
            line = event.start_mark.line + 1
            if event.anchor is not None:  # &a, or *a
                raise YAMLProblem(NO_ALIASES, line)
            if getattr(event, "tag", None) is not None:  # !!str, !x; None when implicit
                raise YAMLProblem(NO_TAGS, line)
            values += 1
            if values > MAX_VALUES:
                raise YAMLProblem(TOO_MANY, line)
            is_key = bool(open_) and open_[-1] is True
            if open_ and open_[-1] is not None:
                open_[-1] = not open_[-1]  # key, value, key...
            if isinstance(event, CollectionStartEvent):
                if is_key:  # ruamel makes some tuples, and raises TypeError on others
                    raise YAMLProblem(NO_COMPLEX_KEYS, line)
                open_.append(True if isinstance(event, MappingStartEvent) else None)
                if len(open_) > MAX_DEPTH:
                    raise YAMLProblem(TOO_DEEP, line)


class _Readable:
    """A constructor whose failures on one value are YAML errors with the value's line.

    Plain values resolve to numbers and dates by their look, and Python then
    refuses some: an integer of 5,000 digits, the date 2020-13-45.
    """

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)  # type: ignore[misc]
        except ValueError as exc:  # a YAMLError from a value inside is not one
            reason = str(exc).split(";")[0]
            raise ConstructorError(
                problem=f"cannot read this value: {reason}", problem_mark=node.start_mark
            ) from exc


class _SafeConstructor(_Readable, SafeConstructor):
    pass


class _RoundTripConstructor(_Readable, RoundTripConstructor):
    pass
