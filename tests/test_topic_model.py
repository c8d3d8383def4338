"""The trained topic model: what it gives, the evidence it keeps, and `voice train-topics`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from aggregator.analysis.tagging import (
    _learned_words,
    _read,
    model_features,
    post_words,
    topics_for,
)
from aggregator.analysis.topic_model import FEATURES, LEARNED_UNIT, learned_sums, packed
from aggregator.analysis.topic_training import Example, count_lexicon
from aggregator.analysis.vocabulary import rules_version, tokenise
from aggregator.cli import cli
from aggregator.registry.topics import MODEL_PATH, load_topics

ROOT = Path(__file__).resolve().parents[1]


def test_a_post_gets_its_topics_with_the_words_that_counted() -> None:
    vocabulary = load_topics(ROOT / "topics.yaml")
    assert vocabulary.model is not None
    found = topics_for(
        "Our first service assessment",
        "We met the Local Government Digital Service Standard at our alpha assessment. "
        "The assessors asked about user research and the peer review panel was kind.",
        [],
        [],
        vocabulary,
    )
    by_topic = {a.topic: a for a in found}
    assert "service-standard" in by_topic
    standard = by_topic["service-standard"]
    assert standard.source == "rules"
    assert 0.5 <= standard.score <= 1.0  # the model's probability
    assert standard.evidence[0] == "service assessment"  # the title's phrase counts most
    assert "peer review" in standard.evidence
    assert len(found) <= 3


def test_the_blogs_defaults_are_always_given() -> None:
    vocabulary = load_topics(ROOT / "topics.yaml")
    found = topics_for("Hello", "A short note.", [], ["events"], vocabulary)
    assert ("events", "feed", 1.0) in [(a.topic, a.source, a.score) for a in found]


def test_the_model_is_part_of_the_rules_version() -> None:
    with_model = load_topics(ROOT / "topics.yaml")
    rules_alone = load_topics(ROOT / "topics.yaml", with_model=False)
    assert rules_version(with_model) != rules_version(rules_alone)


def test_train_topics_rebuilds_the_committed_model_byte_for_byte(tmp_path: Path) -> None:
    """Twice, byte for byte: once on the labelled set, once on a copy whose held-out
    labels are all wrong and whose held-out feeds are gone. The same file both times
    shows the model is deterministic and never learns from the held-out part."""
    scrambled = tmp_path / "eval"
    shutil.copytree(ROOT / "tests" / "data" / "eval", scrambled)
    gold = json.loads((scrambled / "gold.json").read_text(encoding="utf-8"))
    for post in gold["posts"]:
        if post["split"] != "dev":  # both held-out parts
            post["topics"] = ["events"]
            (scrambled / "feeds" / post["feed"]).unlink(missing_ok=True)
    (scrambled / "gold.json").write_text(json.dumps(gold), encoding="utf-8")
    runner = CliRunner()
    outputs = []
    for data in (ROOT / "tests" / "data" / "eval", scrambled):
        out = tmp_path / f"{len(outputs)}.json"
        result = runner.invoke(
            cli,
            ["train-topics", "--data", str(data), "--topics", str(ROOT / "topics.yaml"),
             "--out", str(out)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "577 development posts" in result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0] == MODEL_PATH.read_bytes()


def test_learned_words_count_for_a_topic_and_are_shown_as_the_post_wrote_them() -> None:
    """A post with none of the topic's listed words is tagged by the words the model learned."""
    vocabulary = load_topics(ROOT / "topics.yaml")
    assert vocabulary.model is not None and vocabulary.model.lexicon
    title, text = "Sharing what we built", "We pooled budgets with two neighbours last year."
    rows = model_features(title, text, [], [], vocabulary)
    learned = [row[FEATURES.index("learned_words")] for row in rows]
    words = post_words(title, text)
    assert learned == learned_sums(vocabulary._lexicon, set(words), len(rows))
    best = max(range(len(rows)), key=lambda i: learned[i])
    shown = _learned_words(_read(title, text, vocabulary), best, vocabulary, [])
    written = set(tokenise(title + " " + text))
    assert shown and all(w in written for w in shown)


def test_learned_sums_are_exact_whatever_the_order_of_the_words() -> None:
    rows = {"alpha": (1200, -300, 0), "beta": (-50, 4000, -7), "gamma": (3, 3, 3)}
    lexicon = {w: packed(v) for w, v in rows.items()}
    sums = learned_sums(lexicon, {"alpha", "beta", "gamma", "unknown"}, 3)
    assert sums == [x / LEARNED_UNIT for x in (1153, 3703, -4)]
    assert learned_sums(lexicon, {"unknown"}, 3) == [0.0, 0.0, 0.0]


def test_the_lexicon_is_counted_from_common_words_only() -> None:
    def post(words: str, labels: set[int], blog: str) -> Example:
        stems = frozenset(words.split())
        return Example(rows=(), labels=frozenset(labels), group=blog, words=stems)

    examples = [post("budget pool the", {0}, f"blog{i}") for i in range(5)]
    examples += [post("budget newsletter", {1}, f"other{i}") for i in range(5)]
    examples += [post("rare", {0}, "blog0")]
    lexicon = count_lexicon(examples, 2)
    assert set(lexicon) == {"budget", "pool", "newsletter"}  # "the": stopword; "rare": too few
    assert lexicon["pool"][0] > 0 > lexicon["pool"][1]
    assert lexicon["newsletter"][1] > 0 > lexicon["newsletter"][0]
