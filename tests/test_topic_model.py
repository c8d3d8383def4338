"""The trained topic model: what it gives, the evidence it keeps, and `voice train-topics`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from aggregator.analysis.tagging import topics_for
from aggregator.analysis.vocabulary import rules_version
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
    assert [(a.topic, a.source, a.score) for a in found] == [("events", "feed", 1.0)]


def test_the_model_is_part_of_the_rules_version() -> None:
    with_model = load_topics(ROOT / "topics.yaml")
    rules_alone = load_topics(ROOT / "topics.yaml", with_model=False)
    assert rules_version(with_model) != rules_version(rules_alone)


def test_train_topics_rebuilds_the_committed_model_byte_for_byte(tmp_path: Path) -> None:
    runner = CliRunner()
    outputs = []
    for name in ("one.json", "two.json"):
        out = tmp_path / name
        result = runner.invoke(
            cli,
            [
                "train-topics",
                "--data",
                str(ROOT / "tests" / "data" / "eval"),
                "--topics",
                str(ROOT / "topics.yaml"),
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "217 development posts" in result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0] == MODEL_PATH.read_bytes()
