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
