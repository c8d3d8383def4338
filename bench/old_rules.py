"""Issue 12's CPU budget: topics.yaml's rules alone, as Voice tagged posts before the model.

A frozen copy of `tagging.topics_for` without a model (and of the tokeniser
it used) at commit f6c64d1, the code the issue's "no more CPU per post than
today's rules" was measured on. bench/tagging.py times it beside the tagger
of today, so the budget does not move when shared code (the tokeniser) gets
faster. tests/test_tagging_speed_equivalence.py checks it still gives the
rules' answers of the golden file. Do not optimise it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from itertools import count as counting

from aggregator.analysis.tagging import EVIDENCE_TERMS, TopicAssignment
from aggregator.analysis.vocabulary import Vocabulary, category_key, stem_of

_TOKEN_RE = re.compile(r"[^\W_]+")
_ASCII_GAPS = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})
Terms = dict[tuple[str, ...], list]


def tokenise(text: str) -> list[str]:
    tokens = text.lower().translate(_ASCII_GAPS).split()
    if "".join(tokens).isalnum() or not tokens:
        return tokens
    out: list[str] = []
    for token in tokens:
        if token.isalnum():
            out.append(token)
        else:
            out.extend(_TOKEN_RE.findall(token))
    return out


def _terms(stems: list[str], vocabulary: Vocabulary) -> Terms:
    words = vocabulary._words
    phrases = vocabulary._phrases
    found: Terms = {}
    interesting = vocabulary._interesting
    n = len(stems)
    skip_to = 0
    for i in compress(counting(), map(interesting.__contains__, stems)):
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
    return (1.0 if len(term) == 1 else 3.0) * (1.0 + math.log(count))


def _evidence(terms: Terms, size: int) -> list[float]:
    evidence = [0.0] * size
    for term, (count, _, owners) in terms.items():
        value = _value(term, count)
        for owner in owners:
            evidence[owner] += value
    return evidence


@dataclass(frozen=True)
class _Read:
    title_tokens: list[str]
    title_stems: list[str]
    text_tokens: list[str]
    text_stems: list[str]
    title_terms: Terms
    text_terms: Terms
    discount: float
    stems: set[str]


def _read(title: str, text: str, vocabulary: Vocabulary) -> _Read:
    heading, body = tokenise(title), tokenise(text)
    heading_stems, body_stems = list(map(stem_of, heading)), list(map(stem_of, body))
    stems = set(body_stems)
    stems.update(heading_stems)
    return _Read(
        heading,
        heading_stems,
        body,
        body_stems,
        _terms(heading_stems, vocabulary),
        _terms(body_stems, vocabulary),
        max(1.0, math.sqrt(len(body) / 250)),
        stems,
    )


def _learned_words(read: _Read, index: int, vocabulary: Vocabulary, shown: list[str]) -> list[str]:
    rank = vocabulary._learned[index] if vocabulary._learned else {}
    wanted = EVIDENCE_TERMS - len(shown)
    found = sorted(filter(rank.__contains__, read.stems), key=rank.__getitem__)
    ranked = found[: wanted + len(shown)]
    already = {w for words in shown for w in words.split()}
    out: list[str] = []
    for s in ranked:
        if s in read.title_stems:
            word = read.title_tokens[read.title_stems.index(s)]
        else:
            word = read.text_tokens[read.text_stems.index(s)]
        if word not in already:
            out.append(word)
            if len(out) >= wanted:
                break
    return out


def _evidence_words(read: _Read, index: int, vocabulary: Vocabulary) -> tuple[str, ...]:
    ranked: list[tuple[float, int, str]] = []
    for terms, tokens, factor, place in (
        (read.title_terms, read.title_tokens, 2.0, 0),
        (read.text_terms, read.text_tokens, 1.0 / read.discount, 1),
    ):
        for term, (count, first, owners) in terms.items():
            if index in owners:
                words = " ".join(tokens[first : first + len(term)])
                ranked.append((-factor * _value(term, count), place * 1_000_000 + first, words))
    found = list(dict.fromkeys(words for _, _, words in sorted(ranked)))[:EVIDENCE_TERMS]
    if len(found) < EVIDENCE_TERMS:
        found.extend(_learned_words(read, index, vocabulary, found))
    if not found:
        wanted = vocabulary._descriptions[index]
        seen = dict.fromkeys(
            token for token, s in zip(read.text_tokens, read.text_stems, strict=True) if s in wanted
        )
        return tuple(list(seen)[:EVIDENCE_TERMS])
    return tuple(found[:EVIDENCE_TERMS])


def topics_for(
    title: str,
    text: str,
    categories: Sequence[str],
    feed_topics: Sequence[str],
    vocabulary: Vocabulary,
) -> tuple[TopicAssignment, ...]:
    """The rules' topics of one post (the vocabulary must have no model)."""
    assert vocabulary.model is None
    read = _read(title, text, vocabulary)
    named = {i for name in categories for i in vocabulary._categories.get(category_key(name), ())}
    slugs = vocabulary._slugs
    defaults = {slugs[s] for s in (t.strip().lower() for t in feed_topics) if s in slugs}
    scores: dict[int, float] = {i: 1.0 for i in named | defaults}
    size = len(vocabulary.topics)
    title_evidence = _evidence(read.title_terms, size)
    text_evidence = [v / read.discount for v in _evidence(read.text_terms, size)]
    for i, (t, x) in enumerate(zip(title_evidence, text_evidence, strict=True)):
        score = round(2.0 * t + x, 4)
        if score >= vocabulary.threshold:
            scores[i] = max(scores.get(i, 0.0), score)
    return tuple(
        TopicAssignment(
            topic=vocabulary.topics[i].slug,
            source="category" if i in named else "feed" if i in defaults else "rules",
            score=score,
            evidence=_evidence_words(read, i, vocabulary),
        )
        for i, score in sorted(scores.items(), key=lambda item: vocabulary.topics[item[0]].slug)
    )
