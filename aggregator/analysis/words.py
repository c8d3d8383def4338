"""Words as topic tagging sees them: tokens, stems and category keys.

Pure: no I/O. The vocabulary's indexes and version are built with these and
`tagging` runs posts through the same functions, so both sides agree; tests
check the tokens equal ``_TOKEN_RE.findall(text.lower())``.
"""

from __future__ import annotations

import re
import sys

_TOKEN_RE = re.compile(r"[^\W_]+")
_KEY_RE = re.compile(r"[\W_]+")

# Suffix rules, tried in order; the first whose remaining stem is long enough wins.
# "ly" is left out on purpose: it would split "assembly" from "assemblies" and
# "supply" from "suppliers", and few signal words are adverbs.
_SUFFIXES: tuple[tuple[str, str, int], ...] = (
    # (suffix, replacement, shortest stem allowed)
    ("ments", "", 4),
    ("ment", "", 4),
    ("ings", "", 3),
    ("ing", "", 3),
    ("iers", "y", 2),
    ("ier", "y", 2),
    ("ies", "y", 2),
    ("ied", "y", 2),
    ("sses", "ss", 2),
    ("ches", "ch", 2),
    ("shes", "sh", 2),
    ("xes", "x", 2),
    ("ers", "", 3),
    ("er", "", 3),
    ("ed", "", 3),
    ("s", "", 3),
)
_NO_PLURAL = ("ss", "us", "is")  # access, status, analysis keep their final s
_KEEP_DOUBLE = frozenset("lsfz")  # "call", "access", "staff" keep the double letter


def stem(token: str) -> str:
    """Crude, consistent English stemming: both the vocabulary and posts go through it.

    >>> [stem(w) for w in ("procurement", "procuring", "procured", "procure")]
    ['procur', 'procur', 'procur', 'procur']
    >>> [stem(w) for w in ("services", "planning", "technologies", "users")]
    ['servic', 'plan', 'technology', 'user']
    """
    word = token.lower()
    for suffix, replacement, shortest in _SUFFIXES:
        if not word.endswith(suffix):
            continue
        base = word[: len(word) - len(suffix)]
        if len(base) < shortest or (suffix == "s" and word.endswith(_NO_PLURAL)):
            continue
        word = base + replacement
        if (
            not replacement
            and len(word) > 3
            and word[-1] == word[-2]
            and word[-1] not in _KEEP_DOUBLE
            and word[-1] not in "aeiou"
        ):
            word = word[:-1]  # planned -> plann -> plan
        break
    if len(word) > 3 and word.endswith("e") and word[-2] != "e":
        word = word[:-1]  # share/sharing, procure/procuring; "committee" kept
    return word


class _StemCache(dict[str, str]):
    """token -> stem, filled on first sight: a dict lookup is most of a post's stemming."""

    def __missing__(self, token: str) -> str:
        if len(self) >= _STEM_CACHE_SIZE:
            self.clear()
        value = self[token] = sys.intern(stem(token))
        return value


_STEM_CACHE_SIZE = 1 << 16
stem_of = _StemCache().__getitem__  # stem(token), cached: what tagging calls per token

# Bytes of ASCII that is not a letter or digit become a space; the bytes of
# other characters (UTF-8, 128 and up) are kept, so tokens are exactly those
# of _TOKEN_RE once the rest of Unicode's gaps are spaces too (_OTHER_GAPS).
_BYTE_GAPS = bytes(c if c >= 128 or chr(c).isalnum() else 32 for c in range(256))
_OTHER_GAPS = re.compile(r"[^\w\x00-\x7f]+")  # not ASCII, not a letter or digit


def tokenise(text: str) -> list[str]:
    """Lower-case runs of letters and digits: "GOV.UK" -> ["gov", "uk"].

    The same tokens as ``_TOKEN_RE.findall(text.lower())``, at about a
    quarter of the cost: bytes.translate and str.split do the work in C, and
    only text with characters beyond ASCII (curly quotes, dashes) goes
    through a regular expression, which turns its gaps into spaces.
    """
    low = text.lower()
    if not low.isascii():
        low = _OTHER_GAPS.sub(" ", low)
    return low.encode().translate(_BYTE_GAPS).decode().split()


def category_key(name: str) -> str:
    """Key for matching categories: "Open Data", "open-data" and "#OpenData" agree."""
    return _KEY_RE.sub("", name.casefold())
