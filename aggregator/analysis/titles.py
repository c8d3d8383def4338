"""What a title says about a post: series numbers, a round-up's blog-name suffix, a label.

Pure helpers of the duplicate rules (`similarity`): two posts whose titles
carry different series numbers are different posts; a round-up's copy is
titled "Title – Blog name"; a newsletter runs "Issue 4: Title", a team blog
"Guest post: Title".
"""

from __future__ import annotations

import re

from aggregator.analysis.identity import words

_CARDINALS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
_NUMBER_WORDS = {word: str(i) for i, word in enumerate(_CARDINALS.split())}
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7",
          "viii": "8", "ix": "9", "x": "10"}  # fmt: skip
_SERIES_WORDS = frozenset({"part", "pt", "chapter", "episode", "ep", "vol", "volume", "week",
                           "day", "issue", "round", "series", "season"})  # fmt: skip
_DIGITS = re.compile(r"\d+")


def title_numbers(title: str) -> tuple[str, ...]:
    """The numbers in a title, in order: what tells a series' posts apart.

    Digits anywhere ("Weeknotes 12", "LocalGovCamp 2016", "S01E02"), number
    words ("part two", "day two") and Roman numerals ("Part II") after a
    series word, all as plain decimal so "Part 2", "part two" and "Part II"
    agree. Elsewhere a number word is a word of the title: "Guest post: one
    schema for every chargepoint" is not part 1 of anything.
    """
    numbers: list[str] = []
    previous = ""
    for word in words(title):
        if _DIGITS.search(word):
            numbers.extend(str(int(run)) for run in _DIGITS.findall(word))
        elif word in _NUMBER_WORDS and previous in _SERIES_WORDS:
            numbers.append(_NUMBER_WORDS[word])
        elif word in _ROMAN and previous in _SERIES_WORDS:
            numbers.append(_ROMAN[word])
        previous = word
    return tuple(numbers)


# " – Blog name", " | Blog name", " - Blog name" (and em dash, middle dot,
# guillemet) after a title: how aggregator sites label a copy. The last
# separator counts, so "Agile - what next? | Jo's blog" keeps its own hyphen;
# the suffix is a name, not a sentence, so at most eight words.
_TITLE_SUFFIX = re.compile(
    r"(?P<stem>.*\w.*?)\s+[-\u2013\u2014|\u00b7\u00bb]\s+(?P<suffix>[^-\u2013\u2014|\u00b7\u00bb]+)",
    re.DOTALL,
)


def title_stem(title: str) -> str | None:
    """The title less a " – Blog name" suffix; None when it has none."""
    match = _TITLE_SUFFIX.fullmatch(title.strip())
    if match is None or len(words(match["suffix"])) > 8 or not words(match["suffix"]):
        return None
    return match["stem"].strip()


# "Issue 4: ", "The Call-In, issue 4: ", "No. 12 | ", "#4 – " before a title:
# how a newsletter or digest labels the post it runs. The number is the
# periodical's, not the post's, unlike a series' "Part 2:" or "Weeknotes 12:".
_ISSUE_LABEL = re.compile(
    r"(?:[^:|\u2013\u2014]{0,60}?[\s,]+)?(?:issue|edition|no\.?|number|#)\s*\d+"
    r"\s*[:|\u2013\u2014-]\s+(?P<rest>.*\w.*)",
    re.IGNORECASE | re.DOTALL,
)
# "Guest post: ", "Guest blog by Jo Bloggs – ", "Cross-post | " before a title:
# how a team blog labels a post it republishes (`evidence.says_it_is_a_copy`).
_GUEST_LABEL = re.compile(
    r"\s*(?:guest\s+(?:post|blog)|cross-?post(?:ed)?|re-?post(?:ed)?)\b[^:|\u2013\u2014]{0,60}?"
    r"\s*[:|\u2013\u2014]\s+(?P<rest>.*\w.*)",
    re.IGNORECASE | re.DOTALL,
)


def title_unlabelled(title: str) -> str | None:
    """The title less a label that is not the post's: a periodical's issue ("Issue 4: Title")
    or a republication's ("Guest post: Title"); None without one."""
    match = _ISSUE_LABEL.fullmatch(title.strip()) or _GUEST_LABEL.fullmatch(title.strip())
    return match["rest"].strip() if match else None
