import dataclasses
from pathlib import Path

import pytest

from aggregator.errors import ConfigError
from aggregator.registry.feeds import (
    ConfigErrors,
    load_registry,
    normalise_feed_url,
    parse_registry,
)

DATA = Path(__file__).parent / "data" / "config"


def test_valid_registry_loads_settings_and_feeds() -> None:
    registry = load_registry(DATA / "valid.yaml")
    assert registry.settings.interval_minutes == 30
    assert registry.settings.contact_url == "https://example.org/voice"
    assert registry.settings.read_timeout == 10.0  # untouched default
    assert [f.region for f in registry.feeds] == ["South East", "National"]
    assert registry.feeds[0].topics == ("service-standard",)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "bad-region.yaml",
            "bad-region.yaml:5: feeds[1] (https://b.example/feed/): "
            "region: 'Devon' is not a region",
            id="region",
        ),
        pytest.param(
            "missing-url.yaml", "missing-url.yaml:2: feeds[0]: url is required", id="missing-url"
        ),
        pytest.param(
            "duplicate.yaml",
            "duplicate.yaml:4: feeds[1] (http://example.org/feed): duplicate of feeds[0]",
            id="duplicate",
        ),
        pytest.param(
            "unknown-key.yaml",
            "unknown-key.yaml:4: feeds[0] (https://a.example/feed/): colour: unknown key 'colour'",
            id="unknown-key",
        ),
        pytest.param("bad-scheme.yaml", "must start with http:// or https://", id="scheme"),
        pytest.param("bad-host.yaml", "'a..b' is not a valid host name", id="host"),
        pytest.param(
            "bad-setting.yaml",
            "bad-setting.yaml:2: settings: interval_minutes must be int",
            id="setting-type",
        ),
        pytest.param("not-yaml.yaml", "not-yaml.yaml:", id="not-yaml"),
        pytest.param("no-feeds.yaml", "must be a mapping with a 'feeds:' list", id="no-feeds"),
    ],
)
def test_invalid_registry_says_where_and_what(name: str, expected: str) -> None:
    with pytest.raises(ConfigErrors) as info:
        load_registry(DATA / name)
    assert any(p.startswith(expected) or expected in p for p in info.value.problems), (
        info.value.problems
    )


def test_missing_file_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_registry(DATA / "nope.yaml")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("https://Example.ORG/feed/", "https://example.org/feed", id="host-case-slash"),
        pytest.param("HTTP://example.org/feed", "https://example.org/feed", id="scheme"),
        pytest.param("https://example.org:443/feed", "https://example.org/feed", id="port"),
    ],
)
def test_same_feed_normalises_alike(a: str, b: str) -> None:
    assert normalise_feed_url(a) == normalise_feed_url(b)


def test_different_paths_stay_different() -> None:
    assert normalise_feed_url("https://a.org/feed") != normalise_feed_url("https://a.org/Feed")


def test_committed_registries_are_valid() -> None:
    root = Path(__file__).resolve().parents[1]
    assert len(load_registry(root / "feeds.yaml").feeds) >= 10
    demo = (root / "demo" / "feeds.yaml").read_text().replace("{base}", "http://127.0.0.1:1")
    assert len(parse_registry(demo, Path("demo/feeds.yaml")).feeds) >= 3


def test_fetch_limits_take_their_defaults_from_settings() -> None:
    """One source of truth: a limit's default is the setting's default."""
    from aggregator.fetching import limits_from_settings
    from aggregator.models import FetchLimits, Settings

    built = limits_from_settings(Settings(), "0")
    assert dataclasses.replace(built, user_agent="Voice") == FetchLimits()


def _one_feed(extra: str, region: str = "London") -> str:
    return f"feeds:\n  - url: https://a.example/feed/\n    region: {region}\n{extra}"


@pytest.mark.parametrize(
    ("region", "canonical"),
    [
        pytest.param("south east", "South East", id="lower-case"),
        pytest.param("'  SOUTH   East '", "South East", id="spaces-and-case"),
        pytest.param("Yorkshire & the Humber", "Yorkshire and the Humber", id="ampersand"),
        pytest.param("National", "National", id="canonical"),
    ],
)
def test_region_in_any_case_is_stored_under_its_canonical_name(region: str, canonical: str) -> None:
    assert parse_registry(_one_feed("", region)).feeds[0].region == canonical


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        pytest.param(
            "Sout East", "'Sout East' is not a region: did you mean South East?", id="near"
        ),
        pytest.param("Londn", "'Londn' is not a region: did you mean London?", id="near-short"),
        pytest.param("Devon", "'Devon' is not a region; use one of: North East,", id="far"),
        pytest.param("3", "region: must be the name of a region, one of:", id="number"),
    ],
)
def test_unknown_region_gets_a_suggestion_when_one_is_close(region: str, expected: str) -> None:
    with pytest.raises(ConfigErrors) as info:
        parse_registry(_one_feed("", region))
    assert len(info.value.problems) == 1 and expected in info.value.problems[0]


def test_voice_check_accepts_a_lower_case_region_and_suggests_for_a_near_miss(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from aggregator.cli import cli

    config = tmp_path / "feeds.yaml"
    config.write_text(_one_feed("", "south east"))
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert result.exit_code == 0 and "1 feeds, all valid" in result.stdout
    config.write_text(_one_feed("", "Sout East"))
    result = CliRunner().invoke(cli, ["check", "--config", str(config)])
    assert result.exit_code == 1
    assert "feeds[0] (https://a.example/feed/): region: 'Sout East' is not a region: " in (
        result.stderr
    )
    assert "did you mean South East? (regions: North East," in result.stderr


def test_members_choices_default_to_full_text_in_research_and_not_paused() -> None:
    feed = parse_registry(_one_feed("")).feeds[0]
    assert (feed.display, feed.research, feed.paused) == ("full", True, False)
    chosen = "    display: Excerpt\n    research: false\n    paused: true\n"
    feed = parse_registry(_one_feed(chosen)).feeds[0]
    assert (feed.display, feed.research, feed.paused) == ("excerpt", False, True)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(
            "    display: summary\n",
            "feeds.yaml:4: feeds[0] (https://a.example/feed/): display: "
            "'summary' is not a choice; use full or excerpt",
            id="display",
        ),
        pytest.param(
            "    research: no thanks\n",
            "feeds.yaml:4: feeds[0] (https://a.example/feed/): research: "
            "must be true or false, got 'no thanks'",
            id="research",
        ),
        pytest.param(
            "    paused: 1\n",
            "feeds.yaml:4: feeds[0] (https://a.example/feed/): paused: "
            "must be true or false, got 1",
            id="paused",
        ),
    ],
)
def test_members_choices_are_checked_with_one_line_each(extra: str, expected: str) -> None:
    with pytest.raises(ConfigErrors) as info:
        parse_registry(_one_feed(extra))
    assert info.value.problems == [expected]
