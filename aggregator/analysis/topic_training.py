"""Training the topic model (`voice train-topics`): pure, deterministic, no NumPy.

Each labelled post gives one example per topic: the FEATURES of
`topic_model` and whether the post's gold labels include the topic. One
logistic regression with weights shared by all topics and a bias per topic is
fitted by stochastic gradient descent in a fixed order (the labelled set's
order), with L2 and positive examples weighted up (a topic is on few posts).
No randomness, so two runs write the same file.

The decision thresholds are chosen by cross-validation inside the data it is
given (the development part): folds group posts by blog, and every copy of a
post goes with its blog's own post, so a fold's figures are for blogs the
model has not seen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from aggregator.analysis.topic_model import FEATURES, FORMAT, chosen

# Chosen by 5-fold cross-validation grouped by blog on the development part
# (docs/design.md, "Tagging"): more epochs, other rates or L2 moved macro-F1
# by less than 0.01.
EPOCHS = 15
LEARNING_RATE = 0.05
DECAY = 0.1  # the rate at epoch e is LEARNING_RATE / (1 + DECAY * e)
L2 = 1e-4
L2_BIAS = 1e-3
POSITIVE_WEIGHT = 3.0
MAX_TOPICS = 3  # the labelling rules give a post 1 to 3 topics
FOLDS = 5
THRESHOLDS = tuple(x / 4 for x in range(-12, 5))  # logits tried for `threshold`
FALLBACKS = tuple(x / 2 for x in range(-10, 1))  # and for `fallback`


@dataclass(frozen=True)
class Example:
    """One labelled post: features per topic (vocabulary order), gold topic indexes, blog."""

    rows: tuple[tuple[float, ...], ...]
    labels: frozenset[int]
    group: str  # the blog (feed file) whose fold it goes in
    defaults: frozenset[int] = frozenset()  # the blog's default topics, always given


@dataclass(frozen=True)
class Fitted:
    weights: tuple[float, ...]
    biases: tuple[float, ...]


@dataclass(frozen=True)
class Figures:
    macro_f1: float
    precision: float
    recall: float
    per_topic: tuple[float, ...]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, x))))


def fit(examples: Sequence[Example], topics: int) -> Fitted:
    """Logistic regression by SGD, in the examples' order: deterministic."""
    n = len(FEATURES)
    w = [0.0] * n
    b = [0.0] * topics
    for epoch in range(EPOCHS):
        rate = LEARNING_RATE / (1 + DECAY * epoch)
        for example in examples:
            for k, row in enumerate(example.rows):
                y = 1.0 if k in example.labels else 0.0
                p = _sigmoid(b[k] + sum(a * x for a, x in zip(w, row, strict=True)))
                g = (p - y) * (POSITIVE_WEIGHT if y else 1.0)
                for j in range(n):
                    w[j] -= rate * (g * row[j] + L2 * w[j])
                b[k] -= rate * (g + L2_BIAS * b[k])
    return Fitted(tuple(w), tuple(b))


def predict(fitted: Fitted, example: Example) -> list[float]:
    return [
        bias + sum(a * x for a, x in zip(fitted.weights, row, strict=True))
        for bias, row in zip(fitted.biases, example.rows, strict=True)
    ]


def folds(examples: Sequence[Example], count: int = FOLDS) -> list[int]:
    """Fold of each example: whole blogs, largest first, into the emptiest fold."""
    sizes: dict[str, int] = {}
    for e in examples:
        sizes[e.group] = sizes.get(e.group, 0) + 1
    load = [0] * count
    fold_of: dict[str, int] = {}
    for group in sorted(sizes, key=lambda g: (-sizes[g], g)):
        fold = min(range(count), key=lambda i: (load[i], i))
        fold_of[group] = fold
        load[fold] += sizes[group]
    return [fold_of[e.group] for e in examples]


def cross_validated_logits(examples: Sequence[Example], topics: int) -> list[list[float]]:
    """Each example's logits from a model fitted without its fold."""
    fold_of = folds(examples)
    out: list[list[float]] = [[] for _ in examples]
    for fold in range(FOLDS):
        fitted = fit([e for e, f in zip(examples, fold_of, strict=True) if f != fold], topics)
        for i, (e, f) in enumerate(zip(examples, fold_of, strict=True)):
            if f == fold:
                out[i] = predict(fitted, e)
    return out


def figures(
    predicted: Sequence[Sequence[int]], examples: Sequence[Example], topics: int
) -> Figures:
    """Precision, recall and macro-F1 over topics, as bench/eval.py counts them."""
    tp, fp, fn = [0] * topics, [0] * topics, [0] * topics
    for got, e in zip(predicted, examples, strict=True):
        for k in set(got) | e.labels:
            if k in got and k in e.labels:
                tp[k] += 1
            elif k in got:
                fp[k] += 1
            else:
                fn[k] += 1
    f1 = tuple(2 * tp[k] / (2 * tp[k] + fp[k] + fn[k]) if tp[k] else 0.0 for k in range(topics))
    found, wanted = sum(tp) + sum(fp), sum(tp) + sum(fn)
    return Figures(sum(f1) / topics, sum(tp) / found if found else 0.0, sum(tp) / wanted, f1)


def choose_thresholds(
    logits: Sequence[Sequence[float]], examples: Sequence[Example], topics: int
) -> tuple[float, float, Figures]:
    """The (threshold, fallback) with the best cross-validated macro-F1; ties: the first."""
    best: tuple[float, float, Figures] | None = None
    for threshold in THRESHOLDS:
        for fallback in FALLBACKS:
            got = [
                [*chosen(x, threshold, fallback, MAX_TOPICS), *e.defaults]
                for x, e in zip(logits, examples, strict=True)
            ]
            result = figures(got, examples, topics)
            if best is None or result.macro_f1 > best[2].macro_f1:
                best = (threshold, fallback, result)
    assert best is not None
    return best


def train(examples: Sequence[Example], slugs: Sequence[str]) -> tuple[dict[str, object], Figures]:
    """The model's data (topic_model.json) and its cross-validated figures."""
    topics = len(slugs)
    threshold, fallback, cv = choose_thresholds(
        cross_validated_logits(examples, topics), examples, topics
    )
    fitted = fit(examples, topics)
    data: dict[str, object] = {
        "format": FORMAT,
        "features": list(FEATURES),
        "weights": {name: round(w, 6) for name, w in zip(FEATURES, fitted.weights, strict=True)},
        "biases": {s: round(b, 6) for s, b in zip(slugs, fitted.biases, strict=True)},
        "threshold": threshold,
        "fallback": fallback,
        "max_topics": MAX_TOPICS,
        "training": {
            "posts": len(examples),
            "blogs": len({e.group for e in examples}),
            "epochs": EPOCHS,
            "learning_rate": LEARNING_RATE,
            "l2": L2,
            "positive_weight": POSITIVE_WEIGHT,
            "cross_validation": {
                "folds": FOLDS,
                "macro_f1": round(cv.macro_f1, 4),
                "precision": round(cv.precision, 4),
                "recall": round(cv.recall, 4),
                "per_topic": {s: round(f, 4) for s, f in zip(slugs, cv.per_topic, strict=True)},
            },
        },
    }
    return data, cv
