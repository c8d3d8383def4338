"""Comments and blank lines of feeds.yaml kept in place while entries change.

Comments between entries: ruamel attaches the blank lines and comments
between two entries to the *last value of the entry above*, so deleting an
entry from the list would also delete the comment introducing the next
entry. `remove_feed` moves them instead: comment lines directly above the
removed entry (no blank line between) go with it; every other comment, such
as a section heading, stays where it was.

Adding an entry or a last key to an entry moves that gap likewise: what
followed the old last line follows the new one.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken


def remove_entry(doc: CommentedMap, feeds: CommentedSeq, index: int) -> None:
    """Delete feeds[index], keeping the comments that belong to its neighbours."""
    after_eol, after = split_gap(trailing_token(feeds[index]))
    if index > 0:
        before_token = trailing_token(feeds[index - 1])
        before_eol, before = split_gap(before_token)
    else:
        before_eol, before = "", seq_start_lines(feeds)
    kept = _drop_own_comments(before) + after
    del feeds[index]
    if index > 0:
        set_trailing(feeds[index - 1], (before_eol or "\n") + "".join(kept))
    else:
        set_seq_start(doc, feeds, kept)


def _drop_own_comments(lines: list[str]) -> list[str]:
    """Lines of the gap above an entry minus the comment block touching it."""
    kept = list(lines)
    while kept and kept[-1].strip():
        kept.pop()  # comment lines directly above the entry: they go with it
    while kept and not kept[-1].strip():
        kept.pop()  # the blank lines are the next entry's to bring
    return kept


def split_gap(token: CommentToken | None) -> tuple[str, list[str]]:
    """A trailing comment token as (end of its value line, following lines)."""
    if token is None:
        return "", []
    eol, _, rest = token.value.partition("\n")
    return eol + "\n", rest.splitlines(keepends=True)


def trailing_slot(node: Any) -> tuple[list[Any], int] | None:
    """Where ruamel keeps the comment after a node: (comment list, position)."""
    if not node:
        return None
    if isinstance(node, CommentedMap):
        key = list(node.keys())[-1]
        value, position = node[key], 2
    elif isinstance(node, CommentedSeq):
        key = len(node) - 1
        value, position = node[key], 0
    else:
        return None
    if isinstance(value, CommentedMap | CommentedSeq) and value and not value.fa.flow_style():
        return trailing_slot(value)
    slot = node.ca.items.setdefault(key, [None, None, None, None])
    return slot, position


def trailing_token(node: Any) -> CommentToken | None:
    found = trailing_slot(node)
    return found[0][found[1]] if found else None


def set_trailing(node: Any, value: str) -> None:
    found = trailing_slot(node)
    if found is None:
        return
    slot, position = found
    if value == "\n":
        slot[position] = None
    elif slot[position] is not None:
        slot[position].value = value
    else:
        slot[position] = CommentToken(value, CommentMark(0))


def seq_start_lines(feeds: CommentedSeq) -> list[str]:
    """Comment lines between `feeds:` and the first entry."""
    tokens = (feeds.ca.comment[1] if feeds.ca.comment else None) or []
    # Each token is one comment line (indent kept as its column) plus blank lines.
    text = "".join(" " * t.start_mark.column + t.value for t in tokens)
    return text.splitlines(keepends=True)


def set_seq_start(doc: CommentedMap, feeds: CommentedSeq, lines: list[str]) -> None:
    """Put `lines` between `feeds:` and the first entry, as ruamel stores them:
    one token per comment line, carrying the blank lines that follow it."""
    tokens: list[CommentToken] = []
    for line in lines:
        text = line.lstrip(" ")
        if text.strip():
            tokens.append(CommentToken(text, CommentMark(len(line) - len(text))))
        elif tokens:
            tokens[-1].value += "\n"
    if feeds.ca.comment and feeds.ca.comment[1] is not None:
        feeds.ca.comment[1][:] = tokens  # the same list is also held by the `feeds` key
    elif tokens:
        feeds.ca.comment = [None, tokens]
        doc.ca.items.setdefault("feeds", [None, None, None, None])[3] = tokens


def blank_between(feeds: CommentedSeq) -> bool:
    """Whether entries are separated by a blank line (the committed style);
    with one entry, assume they are."""
    if len(feeds) < 2:
        return True
    _, gap = split_gap(trailing_token(feeds[-2]))
    return any(not line.strip() for line in gap)


def move_trailing(item: CommentedMap, slot: tuple[list[Any], int], old_last: Any) -> None:
    """The entry's last key changed: what followed the old last line (blank
    line, next entry's comments) goes after the new one; a comment at the end
    of the old last line stays with it, if it is still there."""
    token = slot[0][slot[1]]
    eol, after = split_gap(token)
    if eol.strip() and old_last in item:
        token.value = eol  # same token: its column keeps the comment aligned
    else:
        slot[0][slot[1]] = None
    own_eol, _ = split_gap(trailing_token(item))  # a comment the new last line has
    set_trailing(item, (own_eol or "\n") + "".join(after))
