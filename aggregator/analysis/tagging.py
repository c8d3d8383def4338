"""Topic tagging: which topics of the vocabulary (topics.yaml) a post is about.

Pure: no I/O, no clock, no YAML. The vocabulary (topics, threshold, version)
comes from `vocabulary`; the parse worker calls `tag_feed` and `voice retag`
calls `topics_for`, per post.

A post gets a topic from three sources:

- ``category``: one of the post's own categories (tags) names the topic. Matching
  ignores case, spaces and punctuation ("Open Data" = "open-data" = "#opendata");
  a topic's slug and label count as categories of it. Score 1.0.
- ``feed``: the blog's default topics from feeds.yaml (slugs not in the vocabulary
  are ignored). Score 1.0.
- ``rules``: words and phrases of the topic in the title and text, scored below;
  the topic is assigned when the score reaches the vocabulary's threshold.

One assignment per topic: its score is the highest any source gave, and its source
is named by precedence ``category`` > ``feed`` > ``rules`` (the most explainable
reason wins the name; the score keeps how strongly the text is about it).
Assignments come back sorted by slug.

Rule score (title and text are tokenised once; each token is stemmed):

    evidence(part) = sum over distinct terms t found in part of w(t) * (1 + ln count(t))
    w(t)           = 1 for a word, 3 for a phrase (a phrase's tokens are not
                     also counted as words)
    score          = 2 * evidence(title) + evidence(text) / max(1, sqrt(N / 250))

where N is the number of tokens in the text. Repeating one term adds less than
using several; a post up to 250 words is not discounted, a 1,000-word post needs
twice the evidence and a 4,000-word post four times, so a passing mention in a
long post does not tag it but a long post about the topic still does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from aggregator.analysis.vocabulary import Vocabulary, category_key, rules_version, stem, tokenise
from aggregator.models import FeedData

# Changing these or the scoring below: bump vocabulary.ALGORITHM, so the rules version changes.
WORD_WEIGHT = 1.0
PHRASE_WEIGHT = 3.0
TITLE_WEIGHT = 2.0
LENGTH_UNIT = 250  # tokens of text scored without a length discount

Source = Literal["category", "rules", "feed"]
SOURCES: tuple[Source, ...] = ("category", "feed", "rules")  # precedence, first wins


@dataclass(frozen=True)
class TopicAssignment:
    """One topic given to one post, with the reason (source) and its strength."""

    topic: str
    source: Source
    score: float


def _evidence(stems: list[str], vocabulary: Vocabulary) -> dict[int, float]:
    """Weighted term evidence per topic index for one run of stemmed tokens.

    Phrases are matched first (longest first) and their tokens are not counted
    again as words.
    """
    words = vocabulary._words
    phrases = vocabulary._phrases
    counts: dict[tuple[str, ...], int] = {}
    owners_of: dict[tuple[str, ...], tuple[int, ...]] = {}
    interesting = vocabulary._interesting
    n = len(stems)
    skip_to = 0
    # Most tokens signal nothing: find the few that might in one C-speed pass.
    for i in [i for i, token in enumerate(stems) if token in interesting]:
        if i < skip_to:
            continue  # inside a phrase already counted
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
        weight = WORD_WEIGHT if len(term) == 1 else PHRASE_WEIGHT
        value = weight * (1.0 + math.log(count))
        for owner in owners_of[term]:
            evidence[owner] = evidence.get(owner, 0.0) + value
    return evidence


def rule_scores(title: str, text: str, vocabulary: Vocabulary) -> dict[str, float]:
    """Rule score of every topic with any evidence (before the threshold)."""
    body = list(map(stem, tokenise(text)))
    heading = list(map(stem, tokenise(title)))
    discount = max(1.0, math.sqrt(len(body) / LENGTH_UNIT))
    scores: dict[int, float] = {}
    for index, value in _evidence(heading, vocabulary).items():
        scores[index] = TITLE_WEIGHT * value
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
    """The topics of one post, one assignment per topic, sorted by slug.

    `text` is plain text (strip markup first); `categories` are the post's own
    tags; `feed_topics` are the blog's default slugs from feeds.yaml.
    """
    found: dict[str, dict[Source, float]] = {}
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
            source=next(s for s in SOURCES if s in by_source),
            score=max(by_source.values()),
        )
        for slug, by_source in sorted(found.items())
    )


def tag_feed(data: FeedData, vocabulary: Vocabulary, feed_topics: Sequence[str]) -> FeedData:
    """The parsed entries with their topics: run in the parse worker, beside parsing."""
    entries = tuple(
        replace(
            entry,
            topics=tuple(
                (a.topic, a.source, a.score)
                for a in topics_for(
                    entry.title, entry.text, entry.categories, feed_topics, vocabulary
                )
            ),
        )
        for entry in data.entries
    )
    return replace(data, entries=entries, rules_version=rules_version(vocabulary))
