"""The topic model: topics.yaml's rules as evidence, weighed by a small trained model.

Pure: no I/O. `registry.topics` reads the committed model
(aggregator/analysis/topic_model.json, built by `voice train-topics` from the
development part of tests/data/eval) and hands its data to `model_from_data`.

For every post and topic the rules give evidence (see `tagging`): the words
and phrases found in the title and in the text, the post's own categories,
the blog's defaults, how the topic ranks against the others, and how many
words of the topic's description the post uses; and the words it learned from
the labelled posts (`lexicon`, below). The model is one logistic regression
whose weights are shared by every topic, plus a bias per topic:

    logit(topic) = bias[topic] + sum over i of weight[i] * feature[i](post, topic)

Shared weights are few (FEATURES), so a few hundred labelled posts are enough
to set them, and they apply to a topic the model never saw (it gets the mean
bias and no learned words). A post gets the topics whose logit reaches
`threshold`, best first, at most `max_topics`; when none does, the best one
if it reaches `fallback`.

Learned words. The lexicon holds, for each stemmed word used by at least a
few development posts on more than one blog, its naive-Bayes log ratio per
topic: how much likelier a post about the topic is to use it than a post
that is not (in thousandths, integers, so a sum does not depend on order).
A post's `learned_words` feature for a topic is the sum over the distinct
words it uses, divided by LEARNED_UNIT. The words with the largest ratios for
a topic that a post uses are part of the evidence a reader sees.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

FORMAT = 2  # of topic_model.json; bump when FEATURES or their meaning change
FEATURES = (
    "title_evidence",  # ln(1 + rule evidence in the title)
    "text_evidence",  # ln(1 + rule evidence in the text, length-discounted)
    "rule_score",  # ln(1 + the rule score: 2 x title + text)
    "category",  # 1 when one of the post's categories names the topic
    "feed_default",  # 1 when the blog's default topics include it
    "top_rule",  # 1 when it has the highest rule score of all topics (above 0)
    "second_rule",  # 1 when it has the second highest
    "share_of_top",  # its rule score / the highest rule score
    "description",  # ln(1 + distinct words of the topic's description in the post)
    "over_threshold",  # 1 when the rule score reaches topics.yaml's threshold
    "learned_words",  # the lexicon's log ratios of the post's words, summed, / LEARNED_UNIT
)
LEXICON_SCALE = 1000  # lexicon entries are log ratios in thousandths
LEARNED_UNIT = 10.0 * LEXICON_SCALE

# Words too common to say anything when they appear in a description.
_STOPWORDS = """a an and are as at be by can council councils digital each for from how in
into is it its not of on or other people service services so such the their them they to use
used using what who with without work working anyone"""
DESCRIPTION_STOPWORDS = frozenset(_STOPWORDS.split())


@dataclass(frozen=True)
class TopicModel:
    """Trained weights and decision thresholds (see the module docstring)."""

    version: str  # short hash of the model file's content, part of the rules version
    weights: tuple[float, ...]  # one per FEATURES
    biases: Mapping[str, float]  # per topic slug
    default_bias: float  # for a topic the model was not trained on
    threshold: float
    fallback: float
    max_topics: int
    topics: tuple[str, ...] = ()  # the lexicon's columns
    lexicon: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # stem -> per topic

    def bias(self, slug: str) -> float:
        return self.biases.get(slug, self.default_bias)


class ModelError(ValueError):
    """topic_model.json is not a model this code can use."""


def model_from_data(data: Mapping[str, Any], version: str) -> TopicModel:
    """Build a TopicModel from topic_model.json's data; ModelError if it does not fit."""
    try:
        if data["format"] != FORMAT or tuple(data["features"]) != FEATURES:
            raise ModelError(f"topic model format {data.get('format')!r}, expected {FORMAT}")
        weights = tuple(float(data["weights"][name]) for name in FEATURES)
        biases = {str(k): float(v) for k, v in data["biases"].items()}
        topics = tuple(str(t) for t in data["lexicon_topics"])
        lexicon = {str(k): tuple(map(int, v.split())) for k, v in data["lexicon"].items()}
        if any(len(v) != len(topics) for v in lexicon.values()):
            raise ModelError("topic model: a lexicon row does not have one value per topic")
        return TopicModel(
            version=version,
            weights=weights,
            biases=biases,
            default_bias=sum(biases.values()) / len(biases) if biases else 0.0,
            threshold=float(data["threshold"]),
            fallback=float(data["fallback"]),
            max_topics=int(data["max_topics"]),
            topics=topics,
            lexicon=lexicon,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"topic model: {exc!r}") from exc


# A word's column of log ratios packed into one integer, FIELD_BITS per topic,
# each value shifted up by FIELD_OFFSET so no field is negative: the sum of a
# post's words is then one C-speed `sum` of integers, exact in any order, and
# each topic's total is read back from its field (64 bits: one array item).
FIELD_BITS = 64
FIELD_OFFSET = 1 << 24


def packed(values: Sequence[int]) -> int:
    """One lexicon row as a single integer (see FIELD_BITS)."""
    total = 0
    for k, value in enumerate(values):
        if not -FIELD_OFFSET < value < FIELD_OFFSET:
            raise ModelError(f"topic model: lexicon value {value} out of range")
        total |= (value + FIELD_OFFSET) << (FIELD_BITS * k)
    return total


def learned_sums(lexicon: Mapping[str, int], stems: Iterable[str], size: int) -> list[float]:
    """The learned_words feature per topic: the post's distinct stems' log ratios summed.

    `lexicon` maps a stem to its `packed` row, one field per topic.
    """
    return summed([lexicon[s] for s in stems if s in lexicon], size)


def summed(rows: Sequence[int], size: int) -> list[float]:
    """The learned_words feature per topic from the `packed` rows of a post's distinct words."""
    if not rows:
        return [0.0] * size
    fields = array("Q", sum(rows).to_bytes(8 * size, sys.byteorder))
    offset = len(rows) * FIELD_OFFSET
    return [(field - offset) / LEARNED_UNIT for field in fields]


def word_row(values: Sequence[int], described: Iterable[int]) -> int:
    """A word's `packed` lexicon row (0s when it has none) followed by one field per
    topic that is 1 when the topic's description uses the word: what tagging sums."""
    row = packed(values)
    for i in described:
        row += 1 << (FIELD_BITS * (len(values) + i))
    return row


def word_sums(rows: Sequence[int], size: int) -> tuple[list[float], list[int]]:
    """From the `word_row`s of a post's distinct words, per topic: the learned_words
    feature and how many words of its description the post uses."""
    if not rows:
        return [0.0] * size, [0] * size
    fields = array("Q", sum(rows).to_bytes(16 * size, sys.byteorder))
    offset = len(rows) * FIELD_OFFSET
    return [(field - offset) / LEARNED_UNIT for field in fields[:size]], fields[size:].tolist()


@dataclass(frozen=True)
class Ranking:
    """How the topics' rule scores (2 x title + text evidence) rank: the rank features' input."""

    top: float  # the highest score (0 when no topic has any evidence)
    first: int  # index of the highest score above 0, else -1
    second: int  # the second highest above 0, else -1


def ranking(scores: Sequence[float]) -> Ranking:
    """Ties go to the lower index (a stable sort keeps them in order); only scores above 0 rank."""
    order = sorted(
        (i for i, score in enumerate(scores) if score > 0), key=scores.__getitem__, reverse=True
    )
    return Ranking(
        top=max(scores, default=0.0),
        first=order[0] if order else -1,
        second=order[1] if len(order) > 1 else -1,
    )


def evidence_row(
    i: int,
    title_evidence: float,
    text_evidence: float,
    category: bool,
    default: bool,
    ranked: Ranking,
    description_hits: int,
    threshold: float,
    learned: float,
) -> tuple[float, ...]:
    """FEATURES of one topic that has rule evidence, a category or a default."""
    score = 2.0 * title_evidence + text_evidence
    return (
        math.log1p(title_evidence),
        math.log1p(text_evidence),
        math.log1p(score),
        float(category),
        float(default),
        float(i == ranked.first),
        float(i == ranked.second),
        score / ranked.top if ranked.top > 0 else 0.0,
        math.log1p(description_hits),
        float(score >= threshold),
        learned,
    )


def _plain(description_hits: int) -> float:
    """The description feature of a topic with no other evidence (most topics)."""
    return math.log1p(description_hits) if description_hits else 0.0


def feature_rows(
    title_evidence: Sequence[float],
    text_evidence: Sequence[float],
    categories: Sequence[bool],
    defaults: Sequence[bool],
    description_hits: Sequence[int],
    threshold: float,
    learned: Sequence[float],
) -> list[tuple[float, ...]]:
    """FEATURES for every topic of the vocabulary, in its order (training)."""
    scores = [2.0 * t + x for t, x in zip(title_evidence, text_evidence, strict=True)]
    ranked = ranking(scores)
    rows = []
    for i, score in enumerate(scores):
        if not (score or categories[i] or defaults[i]):  # most topics: no evidence at all
            rows.append((0.0,) * 8 + (_plain(description_hits[i]), 0.0, learned[i]))
            continue
        rows.append(
            evidence_row(
                i,
                title_evidence[i],
                text_evidence[i],
                categories[i],
                defaults[i],
                ranked,
                description_hits[i],
                threshold,
                learned[i],
            )
        )
    return rows


def plain_logits(model: TopicModel, biases: Sequence[float], sizes: Sequence[int]) -> PlainLogits:
    """Per topic, its logit before learned words when it has no evidence but its
    description, by how many of the description's words the post uses (0 to `sizes`)."""
    w8 = model.weights[FEATURES.index("description")]
    return tuple(
        tuple(bias + w8 * _plain(hits) for hits in range(size + 1))
        for bias, size in zip(biases, sizes, strict=True)
    )


PlainLogits = tuple[tuple[float, ...], ...]


def topic_logits(
    model: TopicModel,
    biases: Sequence[float],
    plain: PlainLogits,
    title_evidence: Sequence[float],
    text_evidence: Sequence[float],
    categories: Set[int],
    defaults: Set[int],
    description_hits: Sequence[int],
    threshold: float,
    learned: Sequence[float],
) -> list[float]:
    """The model's logit per topic (tagging): the same numbers as weighing `feature_rows`.

    `biases` are the model's in the vocabulary's order, `plain` from
    `plain_logits`. A topic with no rule evidence, category or default has
    only its description and learned words (every other feature is 0, and
    adding 0 changes no sum), so its row is not built.
    """
    w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10 = model.weights
    out = [
        base[hits] + w10 * words
        for base, hits, words in zip(plain, description_hits, learned, strict=True)
    ]
    scores = [2.0 * t + x for t, x in zip(title_evidence, text_evidence, strict=True)]
    if not (any(scores) or categories or defaults):
        return out
    ranked = ranking(scores)
    top, first, second = ranked.top, ranked.first, ranked.second
    log1p = math.log1p
    # evidence_row's features weighed in place, term by term in FEATURES order,
    # so the sums are the same floats without building a row per topic.
    for i in {i for i, score in enumerate(scores) if score} | categories | defaults:
        t, x, score = title_evidence[i], text_evidence[i], scores[i]
        out[i] = (
            biases[i]
            + w0 * log1p(t) + w1 * log1p(x) + w2 * log1p(score)
            + w3 * float(i in categories) + w4 * float(i in defaults)
            + w5 * float(i == first) + w6 * float(i == second)
            + w7 * (score / top if top > 0 else 0.0)
            + w8 * log1p(description_hits[i]) + w9 * float(score >= threshold)
            + w10 * learned[i]
        )  # fmt: skip
    return out


def chosen(logit: Sequence[float], threshold: float, fallback: float, max_topics: int) -> list[int]:
    """Indexes of the topics given: logit >= threshold, best first, at most max_topics;
    else the best one if it reaches `fallback`."""
    # best first, ties to the lower index (a stable sort keeps them in order)
    order = sorted(range(len(logit)), key=logit.__getitem__, reverse=True)
    picked = [i for i in order[:max_topics] if logit[i] >= threshold]
    if not picked and order and logit[order[0]] >= fallback:
        picked = [order[0]]
    return picked


def probability(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))
