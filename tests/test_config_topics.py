from pathlib import Path

import pytest

from aggregator.errors import ConfigError
from aggregator.registry.feeds import ConfigErrors
from aggregator.registry.site import Site
from aggregator.registry.topics import load_topics, parse_topics, topics_for_registry

DATA = Path(__file__).parent / "data" / "topics"
ROOT = Path(__file__).resolve().parents[1]

ISSUE_SLUGS = {
    "service-standard",
    "service-design",
    "user-research",
    "open-standards",
    "open-data",
    "procurement",
    "democracy",
    "skills-and-capability",
    "collaboration",
    "events",
    "web-and-content",
    "accessibility",
    "social-media",
    "agile-and-delivery",
    "leadership-and-culture",
    "digital-inclusion",
    "technology",
}


def test_committed_topics_yaml_has_the_seventeen_topics_described() -> None:
    vocabulary = load_topics(ROOT / "topics.yaml")
    assert set(vocabulary.slugs) == ISSUE_SLUGS
    for topic in vocabulary.topics:
        assert topic.label and topic.description.endswith("."), topic.slug
        assert topic.words and topic.phrases and topic.categories, topic.slug
    assert vocabulary.threshold > 0
    assert len(vocabulary.version) == 12


def test_a_registry_without_its_own_topics_uses_the_sites(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    vocabulary = topics_for_registry(config, Site(ROOT))
    assert vocabulary is not None
    assert vocabulary.version == load_topics(ROOT / "topics.yaml").version
    (tmp_path / "topics.yaml").write_text((DATA / "valid.yaml").read_text())
    assert topics_for_registry(config, Site(ROOT)).slugs == load_topics(DATA / "valid.yaml").slugs


def test_valid_fixture_loads() -> None:
    vocabulary = load_topics(DATA / "valid.yaml")
    assert vocabulary.slugs == ("open-data", "procurement", "events", "agile-and-delivery")
    assert vocabulary.topic("procurement").phrases == ("G-Cloud", "vendor lock-in")
    assert vocabulary.threshold == 4.0


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "unknown-key.yaml",
            "unknown-key.yaml:6: topic 'open-data': colour: unknown key 'colour'",
            id="unknown-key",
        ),
        pytest.param(
            "unknown-top-key.yaml",
            "unknown-top-key.yaml:2: version: unknown top-level key 'version'",
            id="unknown-top-level-key",
        ),
        pytest.param(
            "duplicate-slug.yaml",
            "duplicate-slug.yaml:6: topic 'open-data': slug: duplicate slug, also topics[0]",
            id="duplicate-slug",
        ),
        pytest.param(
            "bad-slug.yaml",
            "bad-slug.yaml:2: topic 'Open Data': slug: 'Open Data' must be lower-case",
            id="bad-slug",
        ),
        pytest.param(
            "empty-topic.yaml",
            "empty-topic.yaml:2: topic 'open-data': needs at least one of words, phrases",
            id="no-words-phrases-or-categories",
        ),
        pytest.param(
            "phrases-not-list.yaml",
            "phrases-not-list.yaml:6: topic 'open-data': phrases: must be a list of text",
            id="phrases-not-a-list",
        ),
        pytest.param(
            "phrase-in-words.yaml",
            "phrase-in-words.yaml:7: topic 'open-data': words: 'open data' is more than one word",
            id="phrase-under-words",
        ),
        pytest.param(
            "word-in-phrases.yaml",
            "word-in-phrases.yaml:7: topic 'open-data': phrases: 'transparency' is a single word",
            id="word-under-phrases",
        ),
        pytest.param(
            "not-text.yaml",
            "not-text.yaml:7: topic 'open-data': words: item 2 must be text",
            id="number-in-words",
        ),
        pytest.param(
            "missing-description.yaml",
            "missing-description.yaml:2: topic 'open-data': description: is required",
            id="missing-description",
        ),
        pytest.param(
            "bad-threshold.yaml",
            "bad-threshold.yaml:1: threshold: must be a number above 0",
            id="bad-threshold",
        ),
        pytest.param(
            "no-topics.yaml",
            "no-topics.yaml: topics: must be a non-empty list of topics",
            id="no-topics",
        ),
        pytest.param("not-yaml.yaml", "not-yaml.yaml:4: not valid YAML", id="not-yaml"),
    ],
)
def test_invalid_vocabulary_names_line_topic_and_key(name: str, expected: str) -> None:
    with pytest.raises(ConfigErrors) as info:
        load_topics(DATA / name)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(expected)


def test_every_problem_is_listed_one_line_each() -> None:
    with pytest.raises(ConfigErrors) as info:
        load_topics(DATA / "several.yaml")
    assert info.value.problems == [
        "several.yaml:5: topic 'open-data': phrases: must be a list of text",
        "several.yaml:6: topic 'Procurement': slug: 'Procurement' must be lower-case letters"
        " and digits joined by '-'",
    ]
    assert isinstance(info.value, ConfigError)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_topics(tmp_path / "topics.yaml")


def test_parse_topics_names_the_given_path() -> None:
    with pytest.raises(ConfigErrors) as info:
        parse_topics("topics: []\n", Path("/etc/voice/my-topics.yaml"))
    assert info.value.problems[0].startswith("my-topics.yaml:1: topics: must be a non-empty")
