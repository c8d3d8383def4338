"""The topic model: topics.yaml's rules as evidence, weighed by a small trained model.

Pure: no I/O. `registry.topics` reads the committed model
(aggregator/analysis/topic_model.json, built by `voice train-topics` from the
development part of tests/data/eval) and hands its data to `model_from_data`.

For every post and topic the rules give evidence (see `tagging`): the words
and phrases found in the title and in the text, the post's own categories,
the blog's defaults, how the topic ranks against the others, and how many
words of the topic's description the post uses. The model is one logistic
regression whose weights are shared by every topic, plus a bias per topic:

    logit(topic) = bias[topic] + sum over i of weight[i] * feature[i](post, topic)

Shared weights are few (FEATURES), so 217 labelled posts are enough to set
them, and they apply to a topic the model never saw (it gets the mean bias).
A post gets the topics whose logit reaches `threshold`, best first, at most
`max_topics`; when none does, the best one if it reaches `fallback`. Words
learned from the labelled posts themselves were tried and did not help on
blogs the model had not seen (docs/design.md), so the evidence a reader sees
is always the topic's own words and phrases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FORMAT = 1  # of topic_model.json; bump when FEATURES or their meaning change
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
)

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
        return TopicModel(
            version=version,
            weights=weights,
            biases=biases,
            default_bias=sum(biases.values()) / len(biases) if biases else 0.0,
            threshold=float(data["threshold"]),
            fallback=float(data["fallback"]),
            max_topics=int(data["max_topics"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"topic model: {exc!r}") from exc


_NOTHING = (0.0,) * len(FEATURES)


def feature_rows(
    title_evidence: Sequence[float],
    text_evidence: Sequence[float],
    categories: Sequence[bool],
    defaults: Sequence[bool],
    description_hits: Sequence[int],
    threshold: float,
) -> list[tuple[float, ...]]:
    """FEATURES for every topic of the vocabulary, in its order (training and tagging)."""
    scores = [2.0 * t + x for t, x in zip(title_evidence, text_evidence, strict=True)]
    top = max(scores) if scores else 0.0
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    first = order[0] if order and scores[order[0]] > 0 else -1
    second = order[1] if len(order) > 1 and scores[order[1]] > 0 else -1
    rows = []
    for i, score in enumerate(scores):
        if not (score or categories[i] or defaults[i]):  # most topics: no evidence at all
            hits = description_hits[i]
            rows.append((*_NOTHING[:8], math.log1p(hits), 0.0) if hits else _NOTHING)
            continue
        rows.append(
            (
                math.log1p(title_evidence[i]),
                math.log1p(text_evidence[i]),
                math.log1p(score),
                float(categories[i]),
                float(defaults[i]),
                float(i == first),
                float(i == second),
                score / top if top > 0 else 0.0,
                math.log1p(description_hits[i]),
                float(score >= threshold),
            )
        )
    return rows


def logits(
    model: TopicModel, slugs: Sequence[str], rows: Sequence[tuple[float, ...]]
) -> list[float]:
    """The model's logit per topic."""
    w0, w1, w2, w3, w4, w5, w6, w7, w8, w9 = model.weights
    out = []
    for slug, (x0, x1, x2, x3, x4, x5, x6, x7, x8, x9) in zip(slugs, rows, strict=True):
        out.append(
            model.bias(slug)
            + w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3 + w4 * x4
            + w5 * x5 + w6 * x6 + w7 * x7 + w8 * x8 + w9 * x9
        )  # fmt: skip
    return out


def chosen(logit: Sequence[float], threshold: float, fallback: float, max_topics: int) -> list[int]:
    """Indexes of the topics given: logit >= threshold, best first, at most max_topics;
    else the best one if it reaches `fallback`."""
    order = sorted(range(len(logit)), key=lambda i: (-logit[i], i))
    picked = [i for i in order[:max_topics] if logit[i] >= threshold]
    if not picked and order and logit[order[0]] >= fallback:
        picked = [order[0]]
    return picked


def probability(logit: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))
