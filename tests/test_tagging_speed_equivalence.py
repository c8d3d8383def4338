"""Tagging made faster gives the same answers: every labelled post, byte for byte.

The golden file holds what `topics_for` gave every post of tests/data/eval
(all 997, every part: here they are only inputs) before the tagger was
optimised: topics, sources, scores and evidence, with the committed model and
with the rules alone, each post once as published (its categories and the
blog's defaults) and once bare (neither). It also holds a digest of the
training features (`model_features`), so `voice train-topics` sees the same
rows. When the rules or the model change on purpose, the rules versions below
change too; rebuild the file then and review its diff:

    .venv/bin/python -m tests.test_tagging_speed_equivalence --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from aggregator.analysis.tagging import model_features, topics_for
from aggregator.analysis.vocabulary import Vocabulary, rules_version
from aggregator.cli import train_topics
from aggregator.registry.topics import load_topics
from bench import old_rules

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "tests" / "data" / "eval"
GOLDEN = ROOT / "tests" / "data" / "tagging" / "golden.json"

Post = tuple[str, str, str, tuple[str, ...], tuple[str, ...]]  # key, title, text, cats, defaults


def labelled_posts() -> list[Post]:
    """Every post of the labelled set as Voice's parser reads it, in gold.json's order."""
    return [
        (f"{p['feed']} {p['guid']}", entry.title, entry.text, entry.categories, defaults)
        for entry, defaults, p in train_topics.labelled_posts(EVAL, None)
    ]


VARIANTS = ("model", "model bare", "rules", "rules bare")  # the golden file's columns


def vocabularies() -> dict[str, Vocabulary]:
    return {
        "model": load_topics(ROOT / "topics.yaml"),
        "rules": load_topics(ROOT / "topics.yaml", with_model=False),
    }


def tagged(posts: list[Post]) -> dict[str, list[list[list[Any]]]]:
    """key -> per VARIANTS, [[topic, source, score, [evidence...]], ...] (as JSON reads it).

    "bare" is the post without its categories and its blog's defaults.
    """
    found = vocabularies()
    out = {}
    for key, title, text, categories, defaults in posts:
        columns = []
        for variant in VARIANTS:
            cats, feed = ((), ()) if variant.endswith("bare") else (categories, defaults)
            given = topics_for(title, text, cats, feed, found[variant.split()[0]])
            columns.append([[a.topic, a.source, a.score, list(a.evidence)] for a in given])
        out[key] = columns
    return json.loads(json.dumps(out))


def features_digest(posts: list[Post], vocabulary: Vocabulary) -> str:
    digest = hashlib.sha256()
    for _, title, text, categories, defaults in posts:
        rows = model_features(title, text, categories, defaults, vocabulary)
        digest.update(repr(rows).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text("utf-8"))


@pytest.fixture(scope="module")
def posts() -> list[Post]:
    return labelled_posts()


def test_the_golden_file_is_for_todays_rules_and_model(golden: dict[str, Any]) -> None:
    versions = {name: rules_version(v) for name, v in vocabularies().items()}
    assert golden["rules_versions"] == versions, "rules or model changed: rebuild (see docstring)"
    assert golden["variants"] == list(VARIANTS)


def test_every_labelled_post_gets_the_same_topics_scores_and_evidence(
    golden: dict[str, Any], posts: list[Post]
) -> None:
    assert len(posts) == 997
    expected = golden["posts"]
    found = tagged(posts)
    assert found.keys() == expected.keys()
    differ = [
        (key, variant, found[key][n], expected[key][n])
        for key in expected
        for n, variant in enumerate(VARIANTS)
        if found[key][n] != expected[key][n]
    ]
    assert not differ, (len(differ), differ[:3])


def test_the_benchs_old_rules_are_the_rules_of_the_golden_file(
    golden: dict[str, Any], posts: list[Post]
) -> None:
    """bench/old_rules.py, issue 12's CPU budget, still tags as the rules did.

    It kept no evidence words (today's rules keep them), so only topics,
    sources and scores are compared.
    """
    rules = vocabularies()["rules"]
    column = VARIANTS.index("rules")
    for key, title, text, categories, defaults in posts:
        given = old_rules.topics_for(title, text, categories, defaults, rules)
        found = [[a.topic, a.source, a.score] for a in given]
        expected = [row[:3] for row in golden["posts"][key][column]]
        assert json.loads(json.dumps(found)) == expected, key


def test_training_sees_the_same_feature_rows(golden: dict[str, Any], posts: list[Post]) -> None:
    assert features_digest(posts, vocabularies()["model"]) == golden["features"]


def golden_text(posts: list[Post]) -> str:
    """Today's answers as JSON, one post a line, so a change reads as a short diff."""
    versions = {name: rules_version(v) for name, v in vocabularies().items()}
    head = {
        "features": features_digest(posts, vocabularies()["model"]),
        "rules_versions": versions,
        "variants": list(VARIANTS),
    }
    lines = [json.dumps(head, sort_keys=True)[:-1] + ', "posts": {']
    items = [
        f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in tagged(posts).items()
    ]
    return "\n".join([*lines, ",\n".join(items), "}}"]) + "\n"


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    GOLDEN.write_text(golden_text(labelled_posts()), "utf-8")
    print(f"wrote {GOLDEN.relative_to(ROOT)}")
