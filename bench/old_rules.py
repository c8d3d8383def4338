"""Issue 12's CPU budget: topics.yaml's rules as Voice tagged posts when the issue was filed.

A frozen copy of `tagging.topics_for`, its tokeniser and its stemmer at
commit 70c9029, the code the issue measured ("no more CPU per post than
today's rules (about 0.2 ms in the workers)"): a regular expression finds
the tokens, `functools.lru_cache` keeps the stems, and no evidence words are
kept. bench/tagging.py times it beside today's tagger, so the budget does not
move when shared code gets faster. tests/test_tagging_speed_equivalence.py
checks it still gives the rules' topics, sources and scores of the golden
file. Do not optimise it.

An earlier copy (commit f6c64d1, in git history) was frozen after the
tokeniser and stem cache had already been made faster during issue 12, so it
was a stricter budget than the issue set; bench/tagging.py still prints the
model's cost against today's rules alone beside this one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from aggregator.analysis import words
from aggregator.analysis.vocabulary import Vocabulary, category_key

_TOKEN_RE = re.compile(r"[^\W_]+")
_SOURCES = ("category", "feed", "rules")

# The stemmer then was today's `words.stem` (the same suffix rules, checked by
# the golden file through the rules' answers), behind an lru_cache.
stem = lru_cache(maxsize=1 << 16)(words.stem)


def tokenise(text: str) -> list[str]:
    return _TOKEN_RE.findall(text.lower())


@dataclass(frozen=True)
class TopicAssignment:
    topic: str
    source: str
    score: float


def _evidence(stems: list[str], vocabulary: Vocabulary) -> dict[int, float]:
    words = vocabulary._words
    phrases = vocabulary._phrases
    counts: dict[tuple[str, ...], int] = {}
    owners_of: dict[tuple[str, ...], tuple[int, ...]] = {}
    interesting = vocabulary._interesting
    n = len(stems)
    skip_to = 0
    for i in [i for i, token in enumerate(stems) if token in interesting]:
        if i < skip_to:
            continue
        token = stems[i]
        options = phrases.get((token, stems[i + 1])) if i + 1 < n else None
        for rest, phrase_owners in options or ():
            end = i + 2 + len(rest)
            if not rest or tuple(stems[i + 2 : end]) == rest:
                term, owners = (token, stems[i + 1], *rest), phrase_owners
                skip_to = end
                break
        else:
            found = words.get(token)
            if found is None:
                continue
            term, owners = (token,), found
        counts[term] = counts.get(term, 0) + 1
        owners_of[term] = owners
    evidence: dict[int, float] = {}
    for term, count in counts.items():
        weight = 1.0 if len(term) == 1 else 3.0
        value = weight * (1.0 + math.log(count))
        for owner in owners_of[term]:
            evidence[owner] = evidence.get(owner, 0.0) + value
    return evidence


def rule_scores(title: str, text: str, vocabulary: Vocabulary) -> dict[str, float]:
    body = list(map(stem, tokenise(text)))
    heading = list(map(stem, tokenise(title)))
    discount = max(1.0, math.sqrt(len(body) / 250))
    scores: dict[int, float] = {}
    for index, value in _evidence(heading, vocabulary).items():
        scores[index] = 2.0 * value
    for index, value in _evidence(body, vocabulary).items():
        scores[index] = scores.get(index, 0.0) + value / discount
    return {vocabulary.topics[i].slug: round(s, 4) for i, s in scores.items()}


def topics_for(
    title: str,
    text: str,
    categories: Sequence[str],
    feed_topics: Sequence[str],
    vocabulary: Vocabulary,
) -> tuple[TopicAssignment, ...]:
    """The rules' topics of one post (the vocabulary must have no model)."""
    assert vocabulary.model is None
    found: dict[str, dict[str, float]] = {}
    for name in categories:
        for index in vocabulary._categories.get(category_key(name), ()):
            found.setdefault(vocabulary.topics[index].slug, {})["category"] = 1.0
    for slug in feed_topics:
        slug = slug.strip().lower()
        if slug in vocabulary._slugs:
            found.setdefault(slug, {})["feed"] = 1.0
    for slug, score in rule_scores(title, text, vocabulary).items():
        if score >= vocabulary.threshold:
            found.setdefault(slug, {})["rules"] = score
    return tuple(
        TopicAssignment(
            topic=slug,
            source=next(s for s in _SOURCES if s in by_source),
            score=max(by_source.values()),
        )
        for slug, by_source in sorted(found.items())
    )
