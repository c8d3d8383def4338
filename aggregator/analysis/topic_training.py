"""Training the topic model (`voice train-topics`): pure, deterministic, no NumPy.

Each labelled post gives one example per topic: the FEATURES of
`topic_model` and whether the post's gold labels include the topic. One
logistic regression with weights shared by all topics and a bias per topic is
fitted by stochastic gradient descent in a fixed order (the labelled set's
order), with L2 and positive examples weighted up (a topic is on few posts).
No randomness, so two runs write the same file.

The lexicon (learned words) is counted from the posts: for each stemmed word
used by at least LEXICON_MIN_POSTS posts on LEXICON_MIN_BLOGS blogs, a
Bernoulli naive-Bayes log ratio per topic, smoothed by LEXICON_ALPHA. The
regression must not learn from lexicon sums of posts the lexicon was counted
on (it would trust them far too much), so the `learned_words` feature it is
fitted on is out of fold: each post's sum comes from a lexicon counted
without its blog.

The decision thresholds are chosen by cross-validation inside the data it is
given (the development part): folds group posts by blog, and every copy of a
post goes with its blog's own post, so a fold's figures are for blogs the
model has not seen. The lexicon is recounted inside each fold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from aggregator.analysis.topic_model import (
    FEATURES,
    FORMAT,
    LEXICON_SCALE,
    chosen,
    learned_sums,
    packed,
)

# Chosen by 5-fold cross-validation grouped by blog on the development part
# (docs/design.md, "Topics"): more epochs, other rates or L2 moved macro-F1
# by less than 0.01 (217 posts); the lexicon's settings moved it by less than
# 0.01 between 3 and 5 posts, alpha 0.5 and 1 (457 posts).
EPOCHS = 15
LEARNING_RATE = 0.05
DECAY = 0.1  # the rate at epoch e is LEARNING_RATE / (1 + DECAY * e)
L2 = 1e-4
L2_BIAS = 1e-3
POSITIVE_WEIGHT = 3.0
MAX_TOPICS = (2, 3)  # tried; the labelling rules give a post 1 to 3 topics
FOLDS = 5
THRESHOLDS = tuple(x / 4 for x in range(-12, 9))  # logits tried for `threshold`
FALLBACKS = tuple(x / 2 for x in range(-10, 1))  # and for `fallback`
LEXICON_MIN_POSTS = 5
LEXICON_MIN_BLOGS = 2
LEXICON_ALPHA = 0.5
# Words left out of the lexicon: they say nothing about a topic.
LEXICON_STOPWORDS = frozenset(
    """a an and are as at be by can for from how in into is it its of on or so the their them
    they this that to was we were with i our you your he she his her has have had not but if
    will would there been which what who when all more also about than then these those one
    two new up out do did just get got""".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Example:
    """One labelled post: features per topic (vocabulary order), gold topic indexes, blog."""

    rows: tuple[tuple[float, ...], ...]
    labels: frozenset[int]
    group: str  # the blog (feed file) whose fold it goes in
    defaults: frozenset[int] = frozenset()  # the blog's default topics, always given
    words: frozenset[str] = frozenset()  # the post's distinct stems, title and text


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


Lexicon = dict[str, tuple[int, ...]]


def _lexicon_word(word: str) -> bool:
    return len(word) > 2 and not word.isdigit() and word not in LEXICON_STOPWORDS


def count_lexicon(examples: Sequence[Example], topics: int) -> Lexicon:
    """Each common word's naive-Bayes log ratio per topic, in thousandths."""
    posts: dict[str, int] = {}
    blogs: dict[str, set[str]] = {}
    for e in examples:
        for word in e.words:
            if _lexicon_word(word):
                posts[word] = posts.get(word, 0) + 1
                blogs.setdefault(word, set()).add(e.group)
    kept = sorted(
        w for w, n in posts.items() if n >= LEXICON_MIN_POSTS and len(blogs[w]) >= LEXICON_MIN_BLOGS
    )
    on = [0] * topics  # posts with the topic
    with_word = {w: [0] * topics for w in kept}
    for e in examples:
        for k in e.labels:
            on[k] += 1
        for word in e.words:
            counts = with_word.get(word)
            if counts is not None:
                for k in e.labels:
                    counts[k] += 1
    total, a = len(examples), LEXICON_ALPHA
    lexicon: Lexicon = {}
    for word in kept:
        counts, everywhere = with_word[word], posts[word]
        lexicon[word] = tuple(
            round(
                LEXICON_SCALE
                * (
                    math.log((counts[k] + a) / (on[k] + 2 * a))
                    - math.log((everywhere - counts[k] + a) / (total - on[k] + 2 * a))
                )
            )
            for k in range(topics)
        )
    return lexicon


def with_learned(examples: Sequence[Example], learned: Sequence[Sequence[float]]) -> list[Example]:
    """The examples with their `learned_words` feature (the last) set."""
    return [
        replace(e, rows=tuple((*row[:-1], x) for row, x in zip(e.rows, sums, strict=True)))
        for e, sums in zip(examples, learned, strict=True)
    ]


def _packed(lexicon: Lexicon) -> dict[str, int]:
    return {w: packed(v) for w, v in lexicon.items()}


def _sums(lexicon: dict[str, int], example: Example, topics: int) -> list[float]:
    return learned_sums(lexicon, set(example.words), topics)


def out_of_fold_learned(examples: Sequence[Example], topics: int) -> list[Example]:
    """The examples with `learned_words` from a lexicon counted without their fold."""
    fold_of = folds(examples)
    learned: list[list[float]] = [[] for _ in examples]
    for fold in range(FOLDS):
        rest = [e for e, f in zip(examples, fold_of, strict=True) if f != fold]
        lexicon = _packed(count_lexicon(rest, topics))
        for i, (e, f) in enumerate(zip(examples, fold_of, strict=True)):
            if f == fold:
                learned[i] = _sums(lexicon, e, topics)
    return with_learned(examples, learned)


def cross_validated_logits(examples: Sequence[Example], topics: int) -> list[list[float]]:
    """Each example's logits from a model (lexicon included) built without its fold."""
    fold_of = folds(examples)
    out: list[list[float]] = [[] for _ in examples]
    for fold in range(FOLDS):
        training = [e for e, f in zip(examples, fold_of, strict=True) if f != fold]
        fitted = fit(out_of_fold_learned(training, topics), topics)
        lexicon = _packed(count_lexicon(training, topics))
        for i, (e, f) in enumerate(zip(examples, fold_of, strict=True)):
            if f == fold:
                out[i] = predict(fitted, with_learned([e], [_sums(lexicon, e, topics)])[0])
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
) -> tuple[float, float, int, Figures]:
    """The (threshold, fallback, max_topics) with the best cross-validated macro-F1;
    ties: the first."""
    best: tuple[float, float, int, Figures] | None = None
    for threshold in THRESHOLDS:
        for fallback in FALLBACKS:
            for most in MAX_TOPICS:
                got = [
                    [*chosen(x, threshold, fallback, most), *e.defaults]
                    for x, e in zip(logits, examples, strict=True)
                ]
                result = figures(got, examples, topics)
                if best is None or result.macro_f1 > best[3].macro_f1:
                    best = (threshold, fallback, most, result)
    assert best is not None
    return best


def train(examples: Sequence[Example], slugs: Sequence[str]) -> tuple[dict[str, object], Figures]:
    """The model's data (topic_model.json) and its cross-validated figures."""
    topics = len(slugs)
    threshold, fallback, most, cv = choose_thresholds(
        cross_validated_logits(examples, topics), examples, topics
    )
    fitted = fit(out_of_fold_learned(examples, topics), topics)
    lexicon = count_lexicon(examples, topics)
    data: dict[str, object] = {
        "format": FORMAT,
        "features": list(FEATURES),
        "weights": {name: round(w, 6) for name, w in zip(FEATURES, fitted.weights, strict=True)},
        "biases": {s: round(b, 6) for s, b in zip(slugs, fitted.biases, strict=True)},
        "threshold": threshold,
        "fallback": fallback,
        "max_topics": most,
        "lexicon_topics": list(slugs),
        "lexicon": {word: " ".join(map(str, values)) for word, values in lexicon.items()},
        "training": {
            "posts": len(examples),
            "blogs": len({e.group for e in examples}),
            "epochs": EPOCHS,
            "learning_rate": LEARNING_RATE,
            "l2": L2,
            "positive_weight": POSITIVE_WEIGHT,
            "lexicon": {
                "words": len(lexicon),
                "min_posts": LEXICON_MIN_POSTS,
                "min_blogs": LEXICON_MIN_BLOGS,
                "alpha": LEXICON_ALPHA,
            },
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
