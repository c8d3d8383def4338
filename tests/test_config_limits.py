"""Hostile registries: whatever the YAML holds, one line per problem, never a traceback.

Each case is a shape a hand-written feeds.yaml or topics.yaml never needs
(aliases, deep nesting, megabytes) or a value that once gave a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.errors import ConfigError
from aggregator.registry.feeds import ConfigErrors, load_registry, parse_registry
from aggregator.registry.topics import load_topics, parse_topics
from aggregator.registry.yamlsafe import check_shape

FEED = "feeds:\n  - url: https://a.example/feed/\n    region: London\n"
TOPIC = (
    "topics:\n  - slug: open-data\n    label: Open data\n"
    "    description: Data for anyone.\n    words: [dataset]\n"
)


def problems(text: str, parse=parse_registry) -> list[str]:
    """The problems a registry (or, with parse_topics, a vocabulary) gives; [] if valid."""
    try:
        parse(text)
    except ConfigErrors as exc:
        assert all("\n" not in p for p in exc.problems), exc.problems
        return exc.problems
    return []


# --- size -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("valid", "parse"), [(FEED, parse_registry), (TOPIC, parse_topics)], ids=["feeds", "topics"]
)
def test_text_over_two_megabytes_is_refused_before_parsing(valid: str, parse) -> None:
    padding = "# padding\n" * 210_000  # a valid file, just too big
    assert problems(valid + padding[:1_500_000], parse) == []
    found = problems(valid + padding, parse)
    assert len(found) == 1 and "too large" in found[0] and "2 MB" in found[0], found


@pytest.mark.parametrize(
    ("name", "load"), [("feeds.yaml", load_registry), ("topics.yaml", load_topics)]
)
def test_a_file_over_two_megabytes_is_not_even_read(tmp_path: Path, name: str, load) -> None:
    path = tmp_path / name
    with path.open("w") as file:
        file.write("#" * 100 + "\n")
        file.seek(2_000_000)
        file.write("\n")  # sparse: the size is there, the bytes need not be read
    with pytest.raises(ConfigError, match=r"too large.*2 MB"):
        load(path)


# --- anchors and aliases --------------------------------------------------------


def laughs(levels: int = 9) -> str:
    """The "billion laughs": each level a list of nine aliases of the one before."""
    nine = ", ".join(["lol"] * 9)
    parts = [f"&a0 [{nine}]"]
    for i in range(1, levels + 1):
        parts.append(f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "[" + ", ".join(parts) + "]"


ALIASES = {
    "alias-of-text": (
        "feeds:\n  - url: https://a.example/feed/\n    region: &r London\n"
        "  - url: https://b.example/feed/\n    region: *r\n",
        3,
    ),
    "anchor-alone": (FEED + "    title: &t Phil\n", 4),
    "merge-key": (
        "settings: &s\n  cycle_minutes: 5\nfeeds:\n  - url: https://a.example/feed/\n"
        "    region: London\n    <<: *s\n",
        1,
    ),
    "billion-laughs-in-a-title": (FEED + "    title: " + laughs() + "\n", 4),
    "billion-laughs-in-a-setting": ("settings:\n  cycle_minutes: " + laughs() + "\n" + FEED, 2),
    "billion-laughs-as-a-key": (FEED + "    colour: " + laughs() + "\n    *a9 : x\n", 4),
    "billion-laughs-at-the-top": ("lol: " + laughs() + "\n" + FEED, 1),
}


@pytest.mark.parametrize(("text", "line"), ALIASES.values(), ids=ALIASES.keys())
def test_anchors_and_aliases_are_refused_with_their_line(text: str, line: int) -> None:
    found = problems(text)
    assert found == [
        f"feeds.yaml:{line}: anchors and aliases (&name, *name) are not allowed;"
        " write each value out in full"
    ]


@pytest.mark.parametrize(
    "text",
    [
        TOPIC.replace("[dataset]", "&w [dataset]") + "    phrases: *w\n",
        TOPIC + "    categories: " + laughs() + "\n",
        "threshold: " + laughs() + "\n" + TOPIC,
    ],
    ids=["alias", "billion-laughs-in-a-topic", "billion-laughs-at-the-top"],
)
def test_anchors_and_aliases_are_refused_in_topics_yaml(text: str) -> None:
    found = problems(text, parse_topics)
    assert len(found) == 1 and found[0].startswith("topics.yaml:"), found
    assert "anchors and aliases (&name, *name) are not allowed" in found[0]


# --- nesting and size in values ---------------------------------------------------

NESTED = {
    "lists-in-a-title": (FEED + "    title: " + "[" * 20_000 + "]" * 20_000 + "\n", 4),
    "lists-in-an-unknown-key": (FEED + "    colour: " + "[" * 20_000 + "]" * 20_000 + "\n", 4),
    "mappings-in-a-setting": (
        "settings:\n  cycle_minutes: " + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n" + FEED,
        2,
    ),
    "block-lists": ("lol:\n" + "- " * 25 + "x\n" + FEED, 2),
    "one-too-many": ("lol: " + "[" * 20 + "]" * 20 + "\n" + FEED, 1),
}


@pytest.mark.parametrize(("text", "line"), NESTED.values(), ids=NESTED.keys())
def test_nesting_deeper_than_twenty_is_refused_with_its_line(text: str, line: int) -> None:
    assert problems(text) == [
        f"feeds.yaml:{line}: lists and mappings nested more than 20 deep;"
        " a registry needs no more than 4"
    ]


def test_twenty_levels_are_still_read() -> None:
    found = problems("lol: " + "[" * 19 + "]" * 19 + "\n" + FEED)  # with the top mapping, 20
    assert found == ["feeds.yaml:1: unknown top-level key 'lol'"]


@pytest.mark.parametrize(
    "text",
    [
        TOPIC + "    categories: " + "[" * 20_000 + "]" * 20_000 + "\n",
        "threshold: " + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n" + TOPIC,
    ],
    ids=["in-a-topic", "at-the-top"],
)
def test_nesting_deeper_than_twenty_is_refused_in_topics_yaml(text: str) -> None:
    found = problems(text, parse_topics)
    assert len(found) == 1 and found[0].startswith("topics.yaml:"), found
    assert "nested more than 20 deep" in found[0]


@pytest.mark.parametrize(
    ("valid", "parse"), [(FEED, parse_registry), (TOPIC, parse_topics)], ids=["feeds", "topics"]
)
def test_more_than_fifty_thousand_values_are_refused(valid: str, parse) -> None:
    """Values, not bytes, are what ruamel is slow on: 100,000 took 8 s to read."""

    def many(count: int) -> str:
        return "lol: [" + ", ".join(["1"] * count) + "]\n" + valid

    check_shape(many(49_000), "rt")  # no YAMLProblem
    found = problems(many(50_000), parse)
    assert len(found) == 1 and "more than 50,000 values" in found[0], found


# --- values ruamel cannot build ---------------------------------------------------

UNREADABLE = {
    "impossible-date": (
        "    title: 2020-13-45\n",
        "cannot read this value: month must be in 1..12",
    ),
    "impossible-time": ("    title: 2020-01-01 25:00:00\n", "cannot read this value: hour must"),
    "number-of-5000-digits": (
        "    interval_minutes: " + "9" * 5000 + "\n",
        "cannot read this value: Exceeds the limit (4300 digits)",
    ),
    "bool-tag": ("    title: !!bool maybe\n", "tags (!name) are not allowed"),
    "int-tag": ("    interval_minutes: !!int sixty\n", "tags (!name) are not allowed"),
    "omap-tag": ("    title: !!omap [{a: 1}, {a: 2}]\n", "tags (!name) are not allowed"),
    "python-tag": ("    title: !!python/name:os.system\n", "tags (!name) are not allowed"),
    "local-tag": ("    title: !text Phil\n", "tags (!name) are not allowed"),
}


@pytest.mark.parametrize(("lines", "expected"), UNREADABLE.values(), ids=UNREADABLE.keys())
def test_a_value_ruamel_cannot_build_is_one_line_with_its_line(lines: str, expected: str) -> None:
    found = problems(FEED + lines)
    assert len(found) == 1 and found[0].startswith("feeds.yaml:4: "), found
    assert expected in found[0]


def test_a_vocabulary_value_ruamel_cannot_build_is_one_line() -> None:
    found = problems("threshold: 2020-13-45\n" + TOPIC, parse_topics)
    assert found == [
        "topics.yaml:1: not valid YAML: cannot read this value: month must be in 1..12"
    ]
