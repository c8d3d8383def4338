"""What two posts' author fields say about who wrote them (a byline, not an account).

Pure helpers of the duplicate rules (`similarity`): the same named person on
two blogs is a sign of a republished post; two different named people a sign
of two different posts.
"""

from __future__ import annotations

from aggregator.analysis.identity import words

# Author fields that name a role or an account, not a person: they say nothing
# about who wrote a republished post.
_UNNAMED = frozenset(
    {"admin", "administrator", "editor", "editors", "webmaster", "team", "staff", "guest",
     "author", "blog", "unknown", "anonymous", "comms", "communications", "digital", "web"}
)  # fmt: skip


def named_authors_agree(a: str | None, b: str | None) -> bool:
    """Both name a person and share a word: one author, whichever blog ran the post."""
    words_a, words_b = set(words(a or "")), set(words(b or ""))
    if not words_a or not words_b or words_a & _UNNAMED or words_b & _UNNAMED:
        return False
    return bool(words_a & words_b)


def named_authors_differ(a: str | None, b: str | None) -> bool:
    """Both name a person and share no word ("Jo Bloggs" and "jo@example.org (Jo)" agree)."""
    words_a, words_b = set(words(a or "")), set(words(b or ""))
    if not words_a or not words_b or words_a & _UNNAMED or words_b & _UNNAMED:
        return False
    return not words_a & words_b


def credits(edge_words: frozenset[str], author: str | None) -> bool:
    """Do a post's opening or closing words name `author` in full ("a post by Jo Bloggs")?

    How a team blog that runs a member's post under its editor's byline says
    whose it is, often without "first published" or "guest post". The whole
    name, of at least two words or a handle of at least HANDLE letters
    ("harrietrowe"), so a first name in passing is not a credit.
    """
    names = set(words(author or ""))
    if not names or names & _UNNAMED:
        return False
    if len(names) == 1 and len(next(iter(names))) < HANDLE:
        return False
    return names <= edge_words


HANDLE = 8  # letters of a one-word author field that is a handle, not a first name
