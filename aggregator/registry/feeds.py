"""Load and validate feeds.yaml, the member registry.

Errors name the entry (index and url), the key, what is wrong and the line,
because the people fixing them are members editing a YAML file by hand. A
value of theirs is shown cut short (`show`), so each problem is one line.
"""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aggregator.errors import ConfigError
from aggregator.models import REGIONS, FeedSource, Registry, Settings
from aggregator.registry.regions import match_region
from aggregator.registry.yamlsafe import (
    MAX_BYTES,
    SHOWN,
    TOO_LARGE,
    YAMLProblem,
    cut,
    load_yaml,
    show,
)

FEED_KEYS = (
    "url",
    "title",
    "site_url",
    "author",
    "organisation",
    "region",
    "topics",
    "interval_minutes",
    "display",
    "research",
    "paused",
)
DISPLAYS = ("full", "excerpt")  # what readers see of a post: the member's choice
REQUIRED_KEYS = ("url", "region")
SETTING_KEYS = tuple(f.name for f in dataclasses.fields(Settings))
# The inclusive range of each number under `settings:`, as README's table gives
# it: wide enough for any real deployment, narrow enough that none of them can
# overflow a timer or take the machine (cycle_minutes 10**11 did, in voice run).
SETTING_RANGES: dict[str, tuple[int, int]] = {
    "interval_minutes": (1, 10_080),  # a week
    "min_interval_minutes": (1, 1_440),
    "max_interval_hours": (1, 720),  # 30 days
    "failing_after_days": (1, 365),
    "redirect_confirm_times": (1, 100),
    "redirect_confirm_days": (1, 365),
    "backfill_keep": (1, 1_000),
    "cycle_minutes": (1, 1_440),
    "connect_timeout": (1, 60),
    "read_timeout": (1, 300),
    "fetch_deadline": (1, 600),
    "max_redirects": (1, 20),
    "max_body_bytes": (10_000, 100_000_000),
    "max_entries": (1, 10_000),
    "max_entry_bytes": (1_000, 10_000_000),
    "concurrency": (1, 256),
    "per_host": (1, 16),
    "host_gap_seconds": (0, 60),  # 0 switches the gap off
    "parse_workers": (1, 16),
    "parse_memory_mb": (128, 16_384),
    "parse_cpu_seconds": (1, 600),
    "parse_wall_seconds": (1, 600),
    "release_every_days": (0, 366),  # 0 switches scheduled releases off
    "releases_kept": (1, 1_000),
}


class ConfigErrors(ConfigError):
    """Every problem found in one file, so a member can fix them all in one go."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{path}: {len(problems)} {noun}: {problems[0]}")
        self.problems = problems


def normalise_feed_url(url: str) -> str:
    """Key for spotting the same feed registered twice.

    Scheme and host case, default ports, http vs https and a trailing slash do
    not make a different feed.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # not a valid address: it can only be the same as itself
        return url.strip()
    host = (parts.hostname or "").lower()
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{netloc}{path}{query}"


def _line(node: Any, key: Any = None) -> int | None:
    """1-based line of a mapping (or of one of its keys), when ruamel knows it."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        return (lc.key(key)[0] if key is not None else lc.line) + 1
    except (KeyError, TypeError, AttributeError):
        return None


def _where(path: Path, line: int | None) -> str:
    """The file as the user named it, so `--config demo/feeds.yaml` problems say so."""
    return f"{path}:{line}" if line else str(path)


MAX_URL = 2000  # characters; what browsers and servers reliably accept
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")  # underscores: real blogs use them
PORT = "port must be a number from 1 to 65535"
_SPACE = re.compile(r"\s")  # str.isspace's characters, found in C rather than a loop


def _check_url(value: Any) -> str | None:
    """Why `value` is not a web address Voice can fetch, or None.

    The stdlib splits almost anything and raises on some of it (an unclosed
    `[`, port 99999) only when the pieces are read, so each piece is checked
    here to be what a fetch needs.
    """
    if not isinstance(value, str) or not value.strip():
        return "must be a web address such as https://example.org/feed/"
    url = value.strip()
    if len(url) > MAX_URL:
        return f"{show(url)} is longer than {MAX_URL:,} characters"
    if not url.isprintable() or _SPACE.search(url):
        return f"{show(url)} has a space or an invisible character in it (a space is %20)"
    try:
        parts = urlsplit(url)
    except ValueError:  # "[" or "]" that do not enclose the host
        return f"{show(url)} is not a valid web address"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{show(url)} must start with http:// or https://"
    host_port = parts.netloc.rpartition("@")[2]
    if host_port.startswith("["):
        host, _, after = host_port[1:].partition("]")
        if after and not after.startswith(":"):
            return f"{show(url)} is not a valid web address"
        port = after[1:]
        if not _is_ip(host, ipaddress.IPv6Address):
            return f"{show(host)} is not a valid IPv6 address"
    else:
        host, _, port = host_port.partition(":")
        if not host:
            return f"{show(url)} has no host name"
        if not _is_host_name(host.lower()):
            return f"{show(host)} is not a valid host name"
    if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        return f"{show(url)}: {PORT}"
    return None


def _is_ip(text: str, kind: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


def _is_host_name(host: str) -> bool:
    """A name DNS can hold, or a dotted IPv4 address; not 2130706433 or 0x7f.1."""
    name = host[:-1] if host.endswith(".") else host
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:  # an empty or over-long label
        return False
    labels = ascii_name.split(".")
    if labels[-1].isdigit():  # a numeric top-level domain does not exist
        return _is_ip(name, ipaddress.IPv4Address)
    return len(ascii_name) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def _check_feed(
    item: Any, known: Collection[str] | None = None
) -> tuple[dict[str, Any], list[tuple[str | None, str]]]:
    """Validate one entry; return cleaned values and (key, problem) pairs.

    `known`, when given, are the slugs of topics.yaml: a default topic not
    among them would be dropped silently by tagging, so it is a problem here.
    """
    problems: list[tuple[str | None, str]] = []
    if not isinstance(item, dict):
        return {}, [(None, "each feed must be a mapping with at least url and region")]
    values: dict[str, Any] = {}
    for key in item:
        if key not in FEED_KEYS:
            known_keys = ", ".join(FEED_KEYS)
            problems.append((key, f"unknown key {show(key)} (known keys: {known_keys})"))
    for key in REQUIRED_KEYS:
        if key not in item or item[key] in (None, ""):
            problems.append((None, f"{key} is required"))
    if "url" in item and item["url"] not in (None, ""):
        problem = _check_url(item["url"])
        if problem:
            problems.append(("url", problem))
        else:
            values["url"] = item["url"].strip()
    region = item.get("region")
    if region not in (None, ""):
        problem = _check_region(region, values)
        if problem:
            problems.append(("region", problem))
    for key in ("title", "author", "organisation"):
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            problems.append((key, "must be text"))
        elif value:
            values[key] = value.strip()
    site_url = item.get("site_url")
    if site_url is not None:
        problem = _check_url(site_url)
        if problem:
            problems.append(("site_url", problem))
        else:
            values["site_url"] = site_url.strip()
    interval = item.get("interval_minutes")
    if interval is not None:
        low, high = SETTING_RANGES["interval_minutes"]
        if (
            isinstance(interval, bool)
            or not isinstance(interval, int)
            or not low <= interval <= high
        ):
            minutes = f"must be a whole number of minutes from {low:,} to {high:,}"
            problems.append(("interval_minutes", minutes))
        else:
            values["interval_minutes"] = interval
    display = item.get("display")
    if display is not None:
        if isinstance(display, str) and display.strip().lower() in DISPLAYS:
            values["display"] = display.strip().lower()
        else:
            problems.append(("display", f"{show(display)} is not a choice; use full or excerpt"))
    for key in ("research", "paused"):
        if item.get(key) is not None:  # `paused:` left empty is the default
            if isinstance(item[key], bool):
                values[key] = item[key]
            else:
                problems.append((key, f"must be true or false, got {show(item[key])}"))
    topics = item.get("topics")
    if topics is not None:
        if not isinstance(topics, list) or not all(isinstance(t, str) and t for t in topics):
            problems.append(
                ("topics", "must be a list of topic slugs, e.g. [open-data, democracy]")
            )
        else:
            values["topics"] = tuple(t.strip() for t in topics)
            if known is not None:
                missing = [t for t in values["topics"] if t.lower() not in known]
                if missing:
                    named = cut(", ".join(show(t) for t in missing[:10]), 2 * SHOWN)
                    listed = cut(", ".join(sorted(known)), 8 * SHOWN)
                    problems.append(
                        ("topics", f"{named} not in topics.yaml (known topics: {listed})")
                    )
    return values, problems


def _check_region(region: Any, values: dict[str, Any]) -> str | None:
    """Store the canonical name of a region typed in any case; else say why not."""
    listed = ", ".join(REGIONS)
    if not isinstance(region, str):
        return f"must be the name of a region, one of: {listed}"
    canonical, suggestion = match_region(region)
    if canonical:
        values["region"] = canonical
        return None
    if suggestion:
        return f"{show(region)} is not a region: did you mean {suggestion}? (regions: {listed})"
    return f"{show(region)} is not a region; use one of: {listed}"


def _check_settings(raw: Any, path: Path, problems: list[str]) -> Settings:
    if raw is None:
        return Settings()
    if not isinstance(raw, dict):
        problems.append(f"{_where(path, _line(raw))}: settings must be a mapping")
        return Settings()
    defaults = Settings()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        where = _where(path, _line(raw, key))
        if key not in SETTING_KEYS:
            problems.append(f"{where}: settings: unknown key {show(key)}")
            continue
        expected = type(getattr(defaults, key))
        got = show(value)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            problems.append(f"{where}: settings: {key} must be {expected.__name__}, got {got}")
            continue
        low, high = SETTING_RANGES.get(key, (0, 0))  # booleans and text have none
        if key in SETTING_RANGES and not low <= value <= high:  # NaN is outside every range
            problems.append(f"{where}: settings: {key} must be from {low:,} to {high:,}, got {got}")
            continue
        values[key] = value
    return dataclasses.replace(defaults, **values)


def parse_registry(
    text: str, path: Path = Path("feeds.yaml"), topics: Collection[str] | None = None
) -> Registry:
    """Validate registry text; raise ConfigErrors listing every problem.

    The C safe loader reads a valid registry several times faster than the
    round-trip loader, which matters at every cycle of `voice run`; only when
    something is wrong is the file read again round-trip, for line numbers.
    """
    try:
        return _validate(_load(text, path, "safe"), path, topics)
    except ConfigErrors:
        pass
    return _validate(_load(text, path, "rt"), path, topics)


def _load(text: str, path: Path, typ: str) -> Any:
    try:
        return load_yaml(text, typ)
    except YAMLProblem as exc:
        raise ConfigErrors(path, [f"{_where(path, exc.line)}: {exc.reason}"]) from exc


def _validate(data: Any, path: Path, known: Collection[str] | None = None) -> Registry:
    if not isinstance(data, dict) or "feeds" not in data:
        raise ConfigErrors(path, [f"{path.name}: must be a mapping with a 'feeds:' list"])
    problems: list[str] = []
    for key in data:
        if key not in ("settings", "feeds"):
            problems.append(f"{_where(path, _line(data, key))}: unknown top-level key {show(key)}")
    settings = _check_settings(data.get("settings"), path, problems)
    raw_feeds = data.get("feeds") or []
    if not isinstance(raw_feeds, list):
        raise ConfigErrors(path, [f"{_where(path, _line(data, 'feeds'))}: feeds must be a list"])
    feeds: list[FeedSource] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw_feeds):
        line = _line(item)
        url = item.get("url") if isinstance(item, dict) else None
        label = f"feeds[{index}]" + (f" ({show(url, quotes=False)})" if url else "")
        values, item_problems = _check_feed(item, known)
        for key, problem in item_problems:
            key_line = _line(item, key) if key else line
            prefix = f"{_where(path, key_line or line)}: {label}"
            shown = f"{prefix}: {show(key, quotes=False)}" if key else prefix
            problems.append(f"{shown}: {problem}")
        if "url" in values:
            norm = normalise_feed_url(values["url"])
            if norm in seen:
                problems.append(
                    f"{_where(path, line)}: {label}: duplicate of feeds[{seen[norm]}]"
                    " (same feed URL); remove one of them"
                )
            else:
                seen[norm] = index
        if not item_problems:
            feeds.append(FeedSource(**values))
    if problems:
        raise ConfigErrors(path, problems)
    return Registry(settings=settings, feeds=tuple(feeds))


def read_config_text(path: Path, hint: str = "") -> str:
    """A configuration file's text, or a one-line ConfigError saying why not.

    No more than the size limit is read, so a huge file (or /dev/zero) costs
    nothing; newlines are read as `read_text` reads them.
    """
    try:
        with path.open("rb") as file:
            data = file.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ConfigError(f"{path}: {TOO_LARGE}")
        return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8").read()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found{hint}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc


def load_registry(path: Path, topics: Collection[str] | None = None) -> Registry:
    """Read and validate feeds.yaml; with `topics`, default topics must be among them."""
    return parse_registry(read_config_text(path, " (pass --config PATH)"), path, topics)


BASE_PLACEHOLDER = "{base}"  # in a demo registry: the demo feed server's address
DEMO_BASE = "http://127.0.0.1:8002"  # voice demo's default --feeds-port


def fill_base(text: str, base_url: str) -> str:
    """A demo registry's text with its `{base}` placeholders replaced by `base_url`."""
    return text.replace(BASE_PLACEHOLDER, base_url.rstrip("/"))
