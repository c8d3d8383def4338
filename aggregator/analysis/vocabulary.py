"""The controlled vocabulary of topics (topics.yaml): its checks, lookup indexes and version.

Pure: no I/O, no YAML. `registry.topics` reads topics.yaml and hands the plain
data to `vocabulary_from_data`, which reports every problem at once
(`VocabularyError`) or builds a `Vocabulary`. Its indexes and version are
built with `words` (tokens and stems), which `tagging` runs posts through
too, so both sides agree. With a model it also lays the model out in its
topic order, so tagging a post only looks words up and adds.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aggregator.analysis.topic_model import (
    DESCRIPTION_STOPWORDS,
    PlainLogits,
    TopicModel,
    packed,
    plain_logits,
    word_row,
)

# Tokens and stems live in `words`; imported from here too (tests, tagging).
from aggregator.analysis.words import _TOKEN_RE, category_key, stem, stem_of, tokenise  # noqa: F401

# Bump when tokenising, stemming or scoring changes, so the rules version changes.
# 2: the trained topic model decides (issue 12); evidence kept per topic.
# 3: words learned from the labelled posts are evidence too (issue 12).
ALGORITHM = 3
DEFAULT_THRESHOLD = 4.0

TOP_KEYS = ("threshold", "topics")
TOPIC_KEYS = ("slug", "label", "description", "words", "phrases", "categories")
LIST_KEYS = ("words", "phrases", "categories")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Topic:
    """One entry of the controlled vocabulary."""

    slug: str
    label: str
    description: str
    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vocabulary:
    """The topics, the rule threshold, the trained model (if any) and a version naming them all.

    The lookup indexes are built once here, so tagging a post is one pass over
    its tokens.
    """

    topics: tuple[Topic, ...]
    threshold: float = DEFAULT_THRESHOLD
    version: str = ""
    model: TopicModel | None = None
    _words: dict[str, tuple[int, ...]] = field(init=False, repr=False, compare=False)
    _phrases: dict[tuple[str, str], tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]] = field(
        init=False, repr=False, compare=False
    )
    _categories: dict[str, tuple[int, ...]] = field(init=False, repr=False, compare=False)
    _slugs: dict[str, int] = field(init=False, repr=False, compare=False)
    _interesting: frozenset[str] = field(init=False, repr=False, compare=False)
    _descriptions: tuple[frozenset[str], ...] = field(init=False, repr=False, compare=False)
    # the model's learned words: a packed row of log ratios in this vocabulary's
    # topic order (topic_model.packed), and per topic the words that speak for it,
    # each with its rank (0 speaks most)
    _lexicon: dict[str, int] = field(init=False, repr=False, compare=False)
    _learned: tuple[dict[str, int], ...] = field(init=False, repr=False, compare=False)
    # per topic, the words that speak for it in rank order (_learned inverted)
    _learned_order: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)
    # with a model: every word of the lexicon or a description -> its
    # topic_model.word_row; the model's bias per topic, in this vocabulary's
    # order, and topic_model.plain_logits
    _word_rows: dict[str, int] = field(init=False, repr=False, compare=False)
    _biases: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _plain_logits: PlainLogits = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words: dict[str, set[int]] = {}
        phrases: dict[tuple[str, ...], set[int]] = {}
        categories: dict[str, set[int]] = {}
        for i, topic in enumerate(self.topics):
            for word in topic.words:
                for token in tokenise(word):
                    words.setdefault(stem(token), set()).add(i)
            for phrase in topic.phrases:
                stems = tuple(stem(t) for t in tokenise(phrase))
                if len(stems) == 1:
                    words.setdefault(stems[0], set()).add(i)
                elif stems:
                    phrases.setdefault(stems, set()).add(i)
            for name in (topic.slug, topic.label, *topic.categories):
                key = category_key(name)
                if key:
                    categories.setdefault(key, set()).add(i)
        # Phrases by their first two stems, longest first; the rest is compared.
        by_start: dict[tuple[str, str], list[tuple[tuple[str, ...], tuple[int, ...]]]] = {}
        for stems, owners in phrases.items():
            start = (stems[0], stems[1])
            by_start.setdefault(start, []).append((stems[2:], tuple(sorted(owners))))
        for options in by_start.values():
            options.sort(key=lambda option: (-len(option[0]), option[0]))  # longest first
        object.__setattr__(self, "_words", {k: tuple(sorted(v)) for k, v in words.items()})
        object.__setattr__(self, "_phrases", {k: tuple(v) for k, v in by_start.items()})
        object.__setattr__(
            self, "_categories", {k: tuple(sorted(v)) for k, v in categories.items()}
        )
        object.__setattr__(self, "_slugs", {t.slug: i for i, t in enumerate(self.topics)})
        object.__setattr__(self, "_interesting", frozenset(words) | {k[0] for k in by_start})
        object.__setattr__(
            self,
            "_descriptions",
            tuple(
                frozenset(
                    stem(w) for w in tokenise(t.description) if w not in DESCRIPTION_STOPWORDS
                )
                for t in self.topics
            ),
        )
        model = self.model
        biases = tuple(model.bias(t.slug) for t in self.topics) if model else ()
        object.__setattr__(self, "_biases", biases)
        sizes = [len(d) for d in self._descriptions]
        object.__setattr__(
            self, "_plain_logits", plain_logits(model, biases, sizes) if model else ()
        )
        lexicon = _reordered(self.model, self.topics)
        object.__setattr__(self, "_lexicon", {w: packed(v) for w, v in lexicon.items()})
        object.__setattr__(
            self,
            "_learned",
            tuple(_ranks(lexicon, i) for i in range(len(self.topics))),
        )
        object.__setattr__(self, "_learned_order", tuple(tuple(r) for r in self._learned))
        object.__setattr__(
            self, "_word_rows", _word_rows(lexicon, self._descriptions) if model else {}
        )

    @property
    def slugs(self) -> tuple[str, ...]:
        return tuple(t.slug for t in self.topics)

    def topic(self, slug: str) -> Topic:
        return self.topics[self._slugs[slug]]


def _reordered(model: TopicModel | None, topics: Sequence[Topic]) -> dict[str, tuple[int, ...]]:
    """The model's lexicon with a column per topic of the vocabulary (0 where it has none)."""
    if model is None or not model.lexicon:
        return {}
    column = {slug: i for i, slug in enumerate(model.topics)}
    wanted = [column.get(t.slug) for t in topics]
    return {
        sys.intern(word): tuple(0 if j is None else values[j] for j in wanted)
        for word, values in model.lexicon.items()
    }


def _word_rows(
    lexicon: dict[str, tuple[int, ...]], descriptions: Sequence[frozenset[str]]
) -> dict[str, int]:
    """topic_model.word_row of every word of the lexicon or of a description."""
    zeros = (0,) * len(descriptions)
    words = dict.fromkeys(lexicon)
    for description in descriptions:
        words.update(dict.fromkeys(sorted(description)))
    return {
        sys.intern(w): word_row(
            lexicon.get(w, zeros), [i for i, d in enumerate(descriptions) if w in d]
        )
        for w in words
    }


def _ranks(lexicon: dict[str, tuple[int, ...]], index: int) -> dict[str, int]:
    """The words whose log ratio for a topic is above 0, ranked: largest first, then A-Z."""
    ranked = sorted((-v[index], w) for w, v in lexicon.items() if v[index] > 0)
    return {w: rank for rank, (_, w) in enumerate(ranked)}


@dataclass(frozen=True)
class VocabularyProblem:
    """One thing wrong with vocabulary data, located for a helpful message.

    `topic` is the index in the topics list (None for top-level problems), `key`
    the key concerned and `item` the index within that key's list.
    """

    message: str
    topic: int | None = None
    key: str | None = None
    item: int | None = None
    slug: str | None = None

    def __str__(self) -> str:
        where = []
        if self.topic is not None:
            where.append(f"topic {self.slug!r}" if self.slug else f"topics[{self.topic}]")
        if self.key is not None:
            where.append(self.key)
        return ": ".join([*where, self.message])


class VocabularyError(ValueError):
    """Vocabulary data is invalid; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[VocabularyProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_topic(i: int, raw: Any, seen: dict[str, int]) -> list[VocabularyProblem]:
    if not isinstance(raw, Mapping):
        return [VocabularyProblem("must be a mapping with slug, label, description", i)]
    slug = raw.get("slug")
    name = slug if isinstance(slug, str) and slug else None
    problems: list[VocabularyProblem] = []

    def problem(message: str, key: str | None = None, item: int | None = None) -> None:
        problems.append(VocabularyProblem(message, i, key, item, name))

    for key in raw:
        if key not in TOPIC_KEYS:
            problem(f"unknown key {key!r} (known keys: {', '.join(TOPIC_KEYS)})", str(key))
    if not _text(slug):
        problem("is required", "slug")
    elif not SLUG_RE.match(slug):
        problem(f"{slug!r} must be lower-case letters and digits joined by '-'", "slug")
    elif slug in seen:
        problem(f"duplicate slug, also topics[{seen[slug]}]", "slug")
    else:
        seen[slug] = i
    for key in ("label", "description"):
        if not _text(raw.get(key)):
            problem("is required and must be text", key)
    entries = 0
    for key in LIST_KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, Sequence) or isinstance(value, str):
            problem("must be a list of text", key)
            continue
        for j, entry in enumerate(value):
            if not _text(entry):
                problem(f"item {j + 1} must be text", key, j)
                continue
            entries += 1
            count = len(tokenise(entry))
            if count == 0:
                problem(f"{entry!r} has no letters or digits", key, j)
            elif key == "words" and count > 1:
                problem(f"{entry!r} is more than one word; list it under phrases", key, j)
            elif key == "phrases" and count < 2:
                problem(f"{entry!r} is a single word; list it under words", key, j)
    if entries == 0 and not any(p.key in LIST_KEYS for p in problems):
        problem("needs at least one of words, phrases or categories")
    return problems


def _entries(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(str(v).strip() for v in raw.get(key) or ())


def vocabulary_problems(data: Any) -> list[VocabularyProblem]:
    """Every problem with vocabulary data (empty when it is valid)."""
    if not isinstance(data, Mapping):
        return [VocabularyProblem("must be a mapping with a 'topics:' list")]
    problems = [
        VocabularyProblem(f"unknown top-level key {key!r}", key=str(key))
        for key in data
        if key not in TOP_KEYS
    ]
    threshold = data.get("threshold", DEFAULT_THRESHOLD)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not threshold > 0
        or math.isinf(threshold)
    ):
        problems.append(VocabularyProblem("must be a number above 0", key="threshold"))
    topics = data.get("topics")
    if not isinstance(topics, Sequence) or isinstance(topics, str) or not topics:
        problems.append(VocabularyProblem("must be a non-empty list of topics", key="topics"))
        return problems
    seen: dict[str, int] = {}
    for i, raw in enumerate(topics):
        problems.extend(_check_topic(i, raw, seen))
    return problems


def _version(topics: Sequence[Topic], threshold: float, model: TopicModel | None = None) -> str:
    """Short sha256 over what tagging depends on: the model and, with one, the descriptions."""
    canonical = {
        "algorithm": ALGORITHM,
        "threshold": threshold,
        "model": model.version if model else None,
        "topics": [
            {
                "slug": t.slug,
                "label": category_key(t.label),
                "words": sorted({stem(x) for w in t.words for x in tokenise(w)}),
                "phrases": sorted({" ".join(stem(x) for x in tokenise(p)) for p in t.phrases}),
                "categories": sorted({category_key(c) for c in t.categories}),
                **({"description": t.description} if model else {}),
            }
            for t in sorted(topics, key=lambda t: t.slug)
        ],
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def vocabulary_from_data(data: Mapping[str, Any], model: TopicModel | None = None) -> Vocabulary:
    """Build a Vocabulary from plain data (topics.yaml loaded); VocabularyError if bad.

    With a `model` (topic_model.json), the model decides which topics a post gets.
    """
    problems = vocabulary_problems(data)
    if problems:
        raise VocabularyError(problems)
    topics = tuple(
        Topic(
            slug=raw["slug"].strip(),
            label=raw["label"].strip(),
            description=raw["description"].strip(),
            words=_entries(raw, "words"),
            phrases=_entries(raw, "phrases"),
            categories=_entries(raw, "categories"),
        )
        for raw in data["topics"]
    )
    threshold = float(data.get("threshold", DEFAULT_THRESHOLD))
    return Vocabulary(
        topics=topics,
        threshold=threshold,
        version=_version(topics, threshold, model),
        model=model,
    )


def rules_version(vocabulary: Vocabulary) -> str:
    """What post_topics.rules_version records: changes with the vocabulary or algorithm."""
    return vocabulary.version or _version(vocabulary.topics, vocabulary.threshold, vocabulary.model)
