"""Hostile registries: whatever the YAML holds, one line per problem, never a traceback.

Each case is a shape a hand-written feeds.yaml or topics.yaml never needs
(aliases, deep nesting, megabytes) or a value that once gave a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.cli import cli
from aggregator.errors import ConfigError
from aggregator.models import Settings
from aggregator.registry.feeds import (
    SETTING_RANGES,
    ConfigErrors,
    load_registry,
    normalise_feed_url,
    parse_registry,
)
from aggregator.registry.topics import load_topics, parse_topics
from aggregator.registry.yamlsafe import check_shape

ROOT = Path(__file__).resolve().parents[1]
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


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[[lol]]: 1\n" + FEED, 1),
        ("{a: [b]}: 1\n" + FEED, 1),
        (FEED + "    ? [title]\n    : x\n", 4),
        ("settings:\n  {cycle_minutes: 5}: 1\n" + FEED, 2),
    ],
    ids=["list-of-lists", "mapping", "explicit-list", "in-settings"],
)
def test_a_list_or_mapping_as_a_key_is_refused_with_its_line(text: str, line: int) -> None:
    """ruamel turned some into tuples and raised TypeError on others."""
    assert problems(text) == [
        f"feeds.yaml:{line}: a key must be text or a number, not a list or mapping"
    ]


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


# --- values shown in messages -------------------------------------------------------

LONG = "x" * 100_000
KEY = "k" * 1000  # YAML allows keys of up to 1,024 characters
LONG_TEXT = {
    "url-scheme": f"  - url: ftp://{LONG}\n    region: London\n",
    "url-host": f"  - url: https://{LONG}/\n    region: London\n",
    "url-no-host": f"  - url: https:///{LONG}\n    region: London\n",
    "region": f"  - url: https://a.example/\n    region: {LONG}\n",
    "unknown-key": f"  - url: https://a.example/\n    region: London\n    {KEY}: 1\n",
    "label-of-a-list-url": f"  - url: [{', '.join(['1'] * 20_000)}]\n    region: London\n",
    "duplicate-key": f"  - url: https://a.example/\n    url: {LONG}\n    region: London\n",
}
SETTINGS_TEXT = {
    "setting-unknown-key": f"settings:\n  {KEY}: 1\n",
    "setting-value": f"settings:\n  cycle_minutes: {LONG}\n",
    "setting-list-value": f"settings:\n  cycle_minutes: [{', '.join(['1'] * 20_000)}]\n",
    "top-level-key": f"{KEY}: 1\n",
}


def assert_short(found: list[str], *kept: str) -> None:
    assert found, "no problem found"
    for problem in found:
        assert len(problem) < 1000 and "…" in problem, problem[:1000]
    for text in kept:
        assert any(text in p for p in found), (text, found)


@pytest.mark.parametrize("entry", LONG_TEXT.values(), ids=LONG_TEXT.keys())
def test_a_long_value_in_a_feed_is_cut_short_in_its_message(entry: str) -> None:
    assert_short(problems("feeds:\n" + entry))


def test_a_url_with_a_newline_keeps_its_problem_on_one_line() -> None:
    found = problems('feeds:\n  - url: "https://a.example/\\nfeed"\n    region: Mars\n')
    assert any(p.startswith("feeds.yaml:3: feeds[0] (https://a.example/\\nfeed):") for p in found)


@pytest.mark.parametrize("text", SETTINGS_TEXT.values(), ids=SETTINGS_TEXT.keys())
def test_a_long_value_elsewhere_in_feeds_yaml_is_cut_short(text: str) -> None:
    assert_short(problems(text + FEED))


def test_long_default_topics_and_a_long_vocabulary_are_cut_short() -> None:
    topics = ", ".join(f"{LONG[:1000]}-{i}" for i in range(200))
    known = [f"{LONG[:1000]}-known-{i}" for i in range(200)]
    found = problems(
        FEED + f"    topics: [{topics}]\n", lambda text: parse_registry(text, topics=known)
    )
    assert_short(found, "not in topics.yaml (known topics: ")


VOCABULARY = {
    "slug": (TOPIC.replace("open-data", "Open " + LONG), "must be lower-case"),
    "unknown-key": (TOPIC + f"    {KEY}: 1\n", "unknown key"),
    "word": (TOPIC.replace("[dataset]", f"['{LONG} {LONG}']"), "is more than one word"),
    "phrase": (TOPIC + f"    phrases: [{LONG}]\n", "is a single word"),
    "top-level-key": (f"{KEY}: 1\n" + TOPIC, "unknown top-level key"),
}


@pytest.mark.parametrize(("text", "kept"), VOCABULARY.values(), ids=VOCABULARY.keys())
def test_a_long_value_in_topics_yaml_is_cut_short_in_its_message(text: str, kept: str) -> None:
    assert_short(problems(text, parse_topics), kept)


# --- web addresses ------------------------------------------------------------------

BAD_URLS = {
    "ipv6-unclosed": ("http://[::1/feed", "is not a valid web address"),
    "ipv6-not-an-address": ("http://[not-an-ip]/feed", "is not a valid"),  # urlsplit's, or ours
    "ipv6-future": ("http://[v1.x]/feed", "is not a valid IPv6 address"),
    "ipv6-junk-after": ("http://[::1]x/feed", "is not a valid web address"),
    "ipv6-port-too-big": ("http://[::1]:99999/feed", "port must be a number from 1 to 65535"),
    "bracket-in-host": ("http://a]b.example/feed", "is not a valid web address"),
    "port-too-big": ("http://example.org:99999/feed", "port must be a number from 1 to 65535"),
    "port-65536": ("http://example.org:65536/feed", "port must be a number from 1 to 65535"),
    "port-negative": ("http://example.org:-1/feed", "port must be a number from 1 to 65535"),
    "port-zero": ("http://example.org:0/feed", "port must be a number from 1 to 65535"),
    "port-word": ("http://example.org:http/feed", "port must be a number from 1 to 65535"),
    "port-plus": ("http://example.org:+80/feed", "port must be a number from 1 to 65535"),
    "port-twice": ("http://example.org:80:80/feed", "port must be a number from 1 to 65535"),
    "port-wide-digits": ("http://example.org:\uff18\uff10/feed", "port must be a number"),
    "space-in-host": ("http://exa mple.org/feed", "has a space or an invisible character"),
    "space-in-path": ("http://example.org/my feed", "has a space or an invisible character"),
    "newline": ("http://example.org/\nfeed", "has a space or an invisible character"),
    "nul": ("http://exa\u0000mple.org/feed", "has a space or an invisible character"),
    "zero-width-space": ("http://example.org/feed\u200b", "has a space or an invisible character"),
    "empty-label": ("http://example..org/feed", "'example..org' is not a valid host name"),
    "hyphen-first": ("http://-example.org/feed", "is not a valid host name"),
    "percent-in-host": ("http://exam%70le.org/feed", "is not a valid host name"),
    "label-too-long": ("http://" + "a" * 64 + ".org/feed", "is not a valid host name"),
    "name-too-long": ("http://" + "a." * 130 + "org/feed", "is not a valid host name"),
    "number-not-an-ip": ("http://256.1.1.1/feed", "is not a valid host name"),
    "decimal-ip": ("http://2130706433/feed", "is not a valid host name"),
    "hex-ip": ("http://0x7f.0.0.1/feed", "is not a valid host name"),
    "no-host": ("http:///feed", "has no host name"),
    "only-scheme": ("http://", "has no host name"),
    "user-no-host": ("http://user@/feed", "has no host name"),
    "no-slashes": ("https:example.org/feed", "has no host name"),
    "backslashes": ("http:\\\\example.org\\feed", "has no host name"),
    "no-scheme": ("//example.org/feed", "must start with http:// or https://"),
    "javascript": ("javascript:alert(1)", "must start with http:// or https://"),
    "too-long": ("https://example.org/" + "a" * 2000, "is longer than 2,000 characters"),
}
GOOD_URLS = [
    "HTTPS://EXAMPLE.ORG/FEED",
    "https://example.org:8443/feed?format=rss#top",
    "https://example.org./feed",
    "http://[::1]:8080/feed",
    "http://[fe80::1%25eth0]/feed",
    "http://192.168.1.10/feed",
    "https://xn--bcher-kva.example/feed",
    "https://bücher.example/feed",
    "https://my_blog.example.org/feed",
    "https://example.org:/feed",
]


def feed_entry(url: str) -> str:
    return f"  - url: {json.dumps(url)}\n    region: London\n"


@pytest.mark.parametrize(("url", "expected"), BAD_URLS.values(), ids=BAD_URLS.keys())
def test_a_malformed_web_address_is_one_line_naming_the_feed(url: str, expected: str) -> None:
    found = problems(f"feeds:\n{feed_entry(url)}    site_url: {json.dumps(url)}\n")
    assert len(found) == 2, found
    assert found[0].startswith("feeds.yaml:2: feeds[0] (") and ": url: " in found[0], found
    assert found[1].startswith("feeds.yaml:4: feeds[0] (") and ": site_url: " in found[1], found
    assert expected in found[0] and expected in found[1], found


@pytest.mark.parametrize("url", GOOD_URLS)
def test_unusual_but_valid_web_addresses_are_accepted(url: str) -> None:
    assert problems("feeds:\n" + feed_entry(url)) == []


def test_voice_check_lists_every_malformed_address_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("feeds:\n" + "".join(feed_entry(u) for u, _ in BAD_URLS.values()))
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == len(BAD_URLS) + 1 and "Traceback" not in result.stderr
    for index, (_, expected) in enumerate(BAD_URLS.values()):
        assert f"feeds[{index}] (" in lines[index] and expected in lines[index], lines[index]


@pytest.mark.parametrize("url", [u for u, _ in BAD_URLS.values()], ids=BAD_URLS.keys())
def test_any_address_has_a_key_for_spotting_duplicates(url: str) -> None:
    """`voice remove` and redirects compare every entry's address, valid or not."""
    assert isinstance(normalise_feed_url(url), str)


# --- settings ranges ----------------------------------------------------------------

NUMERIC = [f.name for f in dataclasses.fields(Settings) if type(f.default) in (int, float)]


def setting(key: str, value: object) -> list[str]:
    return problems(f"settings:\n  {key}: {value}\n" + FEED)


@pytest.mark.parametrize("key", NUMERIC)
def test_each_number_setting_is_refused_outside_its_range(key: str) -> None:
    low, high = SETTING_RANGES[key]
    assert setting(key, low) == [] and setting(key, high) == []
    for value in (low - 1, high + 1):
        assert setting(key, value) == [
            f"feeds.yaml:2: settings: {key} must be from {low:,} to {high:,}, got {value}"
        ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("cycle_minutes", 100_000_000_000),  # passed voice check, then OverflowError in voice run
        ("parse_workers", 1000),
        ("concurrency", 100_000_000),
        ("connect_timeout", ".nan"),
        ("read_timeout", ".inf"),
        ("host_gap_seconds", -0.5),
    ],
)
def test_settings_from_the_review_are_refused(key: str, value: object) -> None:
    found = setting(key, value)
    assert len(found) == 1 and f"settings: {key} must be from " in found[0], found


def test_zero_is_still_allowed_only_where_it_switches_something_off() -> None:
    assert setting("host_gap_seconds", 0) == []
    assert "must be from 1" in setting("per_host", 0)[0]


def test_a_feeds_own_interval_has_the_settings_range() -> None:
    low, high = SETTING_RANGES["interval_minutes"]
    assert problems(FEED + f"    interval_minutes: {high}\n") == []
    found = problems(FEED + "    interval_minutes: 100000000000\n")
    assert found == [
        "feeds.yaml:4: feeds[0] (https://a.example/feed/): interval_minutes:"
        f" must be a whole number of minutes from {low:,} to {high:,}"
    ]


def test_every_setting_has_a_range_and_the_readme_gives_it() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    readme = readme.split("### Settings keys", 1)[1].split("\n#", 1)[0]
    defaults = Settings()
    for field in dataclasses.fields(Settings):
        row = re.search(rf"^\| `{field.name}` \| ([^|]*) \| ([^|]*) \|", readme, re.MULTILINE)
        assert row, f"{field.name}: no row in README's Settings keys"
        if field.name not in NUMERIC:  # booleans and text: their kind is their range
            assert field.name not in SETTING_RANGES and row[2].strip(), field.name
            continue
        low, high = SETTING_RANGES[field.name]
        assert low <= getattr(defaults, field.name) <= high, field.name
        assert row[2] == f"{low:,}–{high:,}", (field.name, row[2])


# --- property: whatever the YAML, a result or a ConfigError, soon -------------------

HANG_SECONDS = 10.0  # only a hang reaches it: each example takes milliseconds
NAMES = st.sampled_from(["a", "b", "c"])
SCALARS = st.sampled_from(
    ["lol", "1", "-1", "0", "1e999", ".nan", "2020-13-45", "'q'", '"x"', "~", "true", "[]", "{}"]
    + ["99999999999999999999", "https://a.example/", "London", "http://[::1/", "!!str s"]
)
KEYS = st.sampled_from(["url", "region", "title", "topics", "slug", "words", "k", "1", "*a"])


def nest(args: tuple[int, bool, str]) -> str:
    depth, lists, inner = args
    return ("[" * depth + inner + "]" * depth) if lists else ("{a: " * depth + inner + "}" * depth)


def nodes() -> st.SearchStrategy[str]:
    """Flow YAML: lists, mappings, anchors, aliases, and lists or mappings thousands deep."""
    return st.recursive(
        SCALARS | NAMES.map(lambda name: f"*{name}"),
        lambda inner: st.one_of(
            st.lists(inner, max_size=9).map(lambda items: "[" + ", ".join(items) + "]"),
            st.lists(st.tuples(KEYS, inner), max_size=4).map(
                lambda pairs: "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
            ),
            st.tuples(NAMES, inner).map(lambda pair: f"&{pair[0]} {pair[1]}"),
            st.tuples(st.integers(1, 3000), st.booleans(), inner).map(nest),
        ),
        max_leaves=40,
    )


FEEDS_TEMPLATES = [
    "feeds:\n  - url: https://a.example/feed/\n    region: London\n    title: {0}\n    {1}: 1\n",
    "settings:\n  cycle_minutes: {0}\n  concurrency: {1}\nfeeds:\n  - url: {1}\n    region: {0}\n",
    "{0}: {1}\nfeeds: {1}\n",
    "feeds: [{0}, {1}]\n",
]
TOPICS_TEMPLATES = [
    "topics:\n  - slug: {0}\n    label: L\n    description: D.\n    words: {1}\n",
    "threshold: {0}\ntopics: [{1}]\n",
    "{0}: {1}\n",
]


def outcome(parse: Callable[[str], object], text: str) -> list[str]:
    """The problems `parse` finds in `text` ([] if valid); any other exception is raised."""
    ended: list[list[str] | BaseException] = []

    def run() -> None:
        try:
            parse(text)
            ended.append([])
        except ConfigError as exc:
            ended.append(getattr(exc, "problems", [str(exc)]))
        except BaseException as exc:  # raised again by the test, below
            ended.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_SECONDS)
    assert ended, f"still running after {HANG_SECONDS} s: {text[:300]!r}"
    if isinstance(ended[0], BaseException):
        raise ended[0]
    assert all("\n" not in p and len(p) < 1000 for p in ended[0]), ended[0]
    return ended[0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FEEDS_TEMPLATES), nodes(), nodes())
def test_any_feeds_yaml_gives_a_registry_or_config_errors(
    template: str, first: str, second: str
) -> None:
    outcome(parse_registry, template.format(first, second))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TOPICS_TEMPLATES), nodes(), nodes())
def test_any_topics_yaml_gives_a_vocabulary_or_config_errors(
    template: str, first: str, second: str
) -> None:
    outcome(parse_topics, template.format(first, second))
