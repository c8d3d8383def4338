"""Topic tagging: which topics of the vocabulary (topics.yaml) a post is about.

Pure: no I/O, no clock, no YAML. The vocabulary (topics, threshold, version,
and the trained model when there is one) comes from `vocabulary`; the parse
worker calls `tag_feed` and `voice retag` calls `topics_for`, per post.

Evidence. Title and text are tokenised once and each token stemmed; the
topic's words and phrases found in them score

    evidence(part) = sum over distinct terms t found in part of w(t) * (1 + ln count(t))
    w(t)           = 1 for a word, 3 for a phrase (a phrase's tokens are not
                     also counted as words)
    rule score     = 2 * evidence(title) + evidence(text) / max(1, sqrt(N / 250))

where N is the number of tokens in the text. A post's own categories name a
topic when they match its slug, label or categories (case, spaces and
punctuation ignored); the blog's default topics come from feeds.yaml.

Decision. With a trained model (`topic_model`, the usual case), the model
weighs that evidence, with how the topic ranks among the others and how much
of its description the post uses, into a probability, and gives the topics it
is confident of (at most three). Without one, a topic is given when its rule
score reaches the vocabulary's threshold or a category names it. Either way
the blog's default topics are always given.

Each assignment names its source by precedence ``category`` > ``feed`` >
``rules`` (the most explainable reason wins the name), a score (the model's
probability, or the rule score; 1.0 for a category or default alone) and its
evidence: the words and phrases that contributed most, as the post wrote them.
Assignments come back sorted by slug.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from itertools import compress, islice
from itertools import count as counting
from typing import Literal, NamedTuple

from aggregator.analysis.topic_model import (
    chosen,
    feature_rows,
    learned_sums,
    probability,
    topic_logits,
    word_sums,
)
from aggregator.analysis.vocabulary import (
    Vocabulary,
    category_key,
    rules_version,
    stem_of,
    tokenise,
)
from aggregator.models import FeedData

# Changing these or the scoring below: bump vocabulary.ALGORITHM, so the rules version changes.
WORD_WEIGHT = 1.0
PHRASE_WEIGHT = 3.0
TITLE_WEIGHT = 2.0
LENGTH_UNIT = 250  # tokens of text scored without a length discount

Source = Literal["category", "rules", "feed"]
SOURCES: tuple[Source, ...] = ("category", "feed", "rules")  # precedence, first wins


EVIDENCE_TERMS = 5  # words and phrases kept as a topic's evidence


class TopicAssignment(NamedTuple):
    """One topic given to one post, with the reason (source), its strength and evidence.

    Immutable like a frozen dataclass, and several times cheaper to build:
    every post gets one to three.
    """

    topic: str
    source: Source
    score: float
    evidence: tuple[str, ...] = ()  # the words and phrases that counted most, as written


# term (stems) -> [count, index of its first occurrence, owning topic indexes]
Terms = dict[tuple[str, ...], list]


def _terms(stems: list[str], vocabulary: Vocabulary) -> Terms:
    """The topic words and phrases in one run of stemmed tokens.

    Phrases are matched first (longest first) and their tokens are not counted
    again as words.
    """
    words = vocabulary._words
    phrases = vocabulary._phrases
    found: Terms = {}
    interesting = vocabulary._interesting
    n = len(stems)
    skip_to = 0
    # Most tokens signal nothing: find the few that might in one C-speed pass.
    for i in compress(counting(), map(interesting.__contains__, stems)):
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
            owners = words.get(token)
            if owners is None:
                continue
            term = (token,)
        seen = found.get(term)
        if seen is None:
            found[term] = [1, i, owners]
        else:
            seen[0] += 1
    return found


def _value(term: tuple[str, ...], count: int) -> float:
    return (WORD_WEIGHT if len(term) == 1 else PHRASE_WEIGHT) * (1.0 + math.log(count))


def _evidence(terms: Terms, size: int) -> list[float]:
    """Weighted term evidence per topic index."""
    evidence = [0.0] * size
    for term, (count, _, owners) in terms.items():
        value = _value(term, count)
        for owner in owners:
            evidence[owner] += value
    return evidence


class _Read(NamedTuple):
    """A post tokenised once: what every step below needs.

    A named tuple rather than a frozen dataclass: one is built per post, and
    a frozen dataclass's __init__ costs as much as some of the steps.
    """

    title_tokens: list[str]
    title_stems: list[str]
    text_tokens: list[str]
    text_stems: list[str]
    title_terms: Terms
    text_terms: Terms
    discount: float  # the text's length discount
    written: dict[str, str]  # every distinct stem of title and text -> its first token
    rows: list[int]  # the word_rows of those in the model's lexicon or a description


def _read(title: str, text: str, vocabulary: Vocabulary) -> _Read:
    heading, body = tokenise(title), tokenise(text)
    heading_stems, body_stems = list(map(stem_of, heading)), list(map(stem_of, body))
    # reversed, so each stem keeps its first token, the title's over the text's
    written = dict(zip(reversed(body_stems), reversed(body), strict=True))
    written.update(zip(reversed(heading_stems), reversed(heading), strict=True))
    rows = vocabulary._word_rows
    return _Read(
        heading,
        heading_stems,
        body,
        body_stems,
        _terms(heading_stems, vocabulary),
        _terms(body_stems, vocabulary),
        max(1.0, math.sqrt(len(body) / LENGTH_UNIT)),
        written,
        list(filter(None, map(rows.get, written))) if rows else [],  # a row is never 0
    )


def _rule_evidence(read: _Read, vocabulary: Vocabulary) -> tuple[list[float], list[float]]:
    """(title evidence, discounted text evidence) per topic index."""
    size = len(vocabulary.topics)
    title = _evidence(read.title_terms, size)
    text = [v / read.discount for v in _evidence(read.text_terms, size)]
    return title, text


def _evidence_words(read: _Read, index: int, vocabulary: Vocabulary) -> tuple[str, ...]:
    """The topic's terms that counted most in this post, as the post wrote them."""
    ranked: list[tuple[float, int, str]] = []
    log = math.log
    for terms, tokens, factor, place in (
        (read.title_terms, read.title_tokens, TITLE_WEIGHT, 0),
        (read.text_terms, read.text_tokens, 1.0 / read.discount, 1_000_000),
    ):
        for term, (count, first, owners) in terms.items():
            if index in owners:
                size = len(term)
                # _value, inline: this runs for every term of every topic given
                value = (WORD_WEIGHT if size == 1 else PHRASE_WEIGHT) * (1.0 + log(count))
                words = tokens[first] if size == 1 else " ".join(tokens[first : first + size])
                ranked.append((-factor * value, place + first, words))
    found = list(dict.fromkeys(words for _, _, words in sorted(ranked)))[:EVIDENCE_TERMS]
    if len(found) < EVIDENCE_TERMS:
        found.extend(_learned_words(read, index, vocabulary, found))
    if not found:  # given for its description's words alone
        wanted = vocabulary._descriptions[index]
        seen = dict.fromkeys(
            token for token, s in zip(read.text_tokens, read.text_stems, strict=True) if s in wanted
        )
        return tuple(list(seen)[:EVIDENCE_TERMS])
    return tuple(found[:EVIDENCE_TERMS])


def _learned_words(read: _Read, index: int, vocabulary: Vocabulary, shown: list[str]) -> list[str]:
    """The post's words the model learned say most for the topic, as written, best first."""
    if not vocabulary._learned:
        return []
    # The topic's words best first, kept when the post uses them: a lazy C-speed
    # scan that stops at the fifth (a post's usually come early in the order).
    order, written = vocabulary._learned_order[index], read.written
    best = islice(compress(order, map(written.__contains__, order)), EVIDENCE_TERMS)
    already = {w for words in shown for w in words.split()}
    wanted = EVIDENCE_TERMS - len(shown)
    out: list[str] = []
    for word in map(written.__getitem__, best):
        if word not in already:
            out.append(word)
            if len(out) >= wanted:
                break
    return out


def _categories(categories: Sequence[str], vocabulary: Vocabulary) -> set[int]:
    return {i for name in categories for i in vocabulary._categories.get(category_key(name), ())}


def _defaults(feed_topics: Sequence[str], vocabulary: Vocabulary) -> set[int]:
    slugs = vocabulary._slugs
    return {slugs[s] for s in (t.strip().lower() for t in feed_topics) if s in slugs}


def rule_scores(title: str, text: str, vocabulary: Vocabulary) -> dict[str, float]:
    """Rule score of every topic with any evidence (before any decision)."""
    title_evidence, text_evidence = _rule_evidence(_read(title, text, vocabulary), vocabulary)
    return {
        vocabulary.topics[i].slug: round(TITLE_WEIGHT * t + x, 4)
        for i, (t, x) in enumerate(zip(title_evidence, text_evidence, strict=True))
        if t or x
    }


def post_words(title: str, text: str) -> frozenset[str]:
    """The post's distinct stems, title and text: what the model's lexicon is counted over."""
    return frozenset(map(stem_of, tokenise(title) + tokenise(text)))


def model_features(
    title: str,
    text: str,
    categories: Sequence[str],
    feed_topics: Sequence[str],
    vocabulary: Vocabulary,
) -> list[tuple[float, ...]]:
    """topic_model.FEATURES of one post for every topic, in the vocabulary's order.

    What `voice train-topics` learns from; `topics_for` computes the same.
    """
    return _features(
        _read(title, text, vocabulary),
        _categories(categories, vocabulary),
        _defaults(feed_topics, vocabulary),
        vocabulary,
    )


def _features(
    read: _Read, categories: set[int], defaults: set[int], vocabulary: Vocabulary
) -> list[tuple[float, ...]]:
    title_evidence, text_evidence = _rule_evidence(read, vocabulary)
    words = read.written.keys()
    size = len(vocabulary.topics)
    return feature_rows(
        title_evidence,
        text_evidence,
        [i in categories for i in range(size)],
        [i in defaults for i in range(size)],
        [len(d & words) for d in vocabulary._descriptions],
        vocabulary.threshold,
        learned_sums(vocabulary._lexicon, words, size),
    )


def _logits(
    read: _Read, categories: set[int], defaults: set[int], vocabulary: Vocabulary
) -> list[float]:
    """The model's logit per topic index: `_features` weighed, without building every row."""
    assert vocabulary.model is not None
    title_evidence, text_evidence = _rule_evidence(read, vocabulary)
    learned, description_hits = word_sums(read.rows, len(vocabulary.topics))
    return topic_logits(
        vocabulary.model,
        vocabulary._biases,
        vocabulary._plain_logits,
        title_evidence,
        text_evidence,
        categories,
        defaults,
        description_hits,
        vocabulary.threshold,
        learned,
    )


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
    read = _read(title, text, vocabulary)
    named = _categories(categories, vocabulary)
    defaults = _defaults(feed_topics, vocabulary)
    model = vocabulary.model
    scores: dict[int, float] = {i: 1.0 for i in named | defaults}
    if model is None:
        title_evidence, text_evidence = _rule_evidence(read, vocabulary)
        for i, (t, x) in enumerate(zip(title_evidence, text_evidence, strict=True)):
            score = round(TITLE_WEIGHT * t + x, 4)
            if score >= vocabulary.threshold:
                scores[i] = max(scores.get(i, 0.0), score)
    else:
        logit = _logits(read, named, defaults, vocabulary)
        scores = {i: 1.0 for i in defaults}
        for i in chosen(logit, model.threshold, model.fallback, model.max_topics):
            scores[i] = max(scores.get(i, 0.0), round(probability(logit[i]), 4))
    return tuple(
        TopicAssignment(
            topic=vocabulary.topics[i].slug,
            source="category" if i in named else "feed" if i in defaults else "rules",
            score=score,
            evidence=_evidence_words(read, i, vocabulary),
        )
        for i, score in sorted(scores.items(), key=lambda item: vocabulary.topics[item[0]].slug)
    )


def tag_feed(data: FeedData, vocabulary: Vocabulary, feed_topics: Sequence[str]) -> FeedData:
    """The parsed entries with their topics: run in the parse worker, beside parsing."""
    entries = tuple(
        replace(
            entry,
            topics=tuple(
                (a.topic, a.source, a.score, a.evidence)
                for a in topics_for(
                    entry.title, entry.text, entry.categories, feed_topics, vocabulary
                )
            ),
        )
        for entry in data.entries
    )
    return replace(data, entries=entries, rules_version=rules_version(vocabulary))
