"""The frozen values handed from stage to stage.

Names say where a value came from: `*Source` from feeds.yaml, `*Data` parsed
from the web, `*State` read from the database, `*Record` about to be written,
`*Result` returned to a caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

REGIONS = (
    "North East",
    "North West",
    "Yorkshire and the Humber",
    "East Midlands",
    "West Midlands",
    "East of England",
    "London",
    "South East",
    "South West",
    "Wales",
    "Scotland",
    "Northern Ireland",
    "National",
)


@dataclass(frozen=True)
class Settings:
    """Run-wide defaults; every field can be set under `settings:` in feeds.yaml."""

    interval_minutes: int = 60
    min_interval_minutes: int = 15
    max_interval_hours: int = 24
    failing_after_days: int = 7
    redirect_confirm_times: int = 3
    redirect_confirm_days: int = 2
    backfill_keep: int = 3
    cycle_minutes: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    fetch_deadline: float = 30.0
    max_redirects: int = 5
    max_body_bytes: int = 5_000_000
    max_entries: int = 500
    max_entry_bytes: int = 1_000_000
    concurrency: int = 16
    per_host: int = 2
    host_gap_seconds: float = 1.0
    allow_private_hosts: bool = False
    contact_url: str = "https://localgov.digital/voice"
    parse_workers: int = 2
    parse_memory_mb: int = 768
    parse_cpu_seconds: int = 20
    parse_wall_seconds: int = 30
    release_every_days: int = 30  # voice run makes a research release; 0: never
    releases_kept: int = 12


@dataclass(frozen=True)
class FeedSource:
    """One member blog as registered in feeds.yaml."""

    url: str
    region: str
    title: str | None = None
    site_url: str | None = None
    author: str | None = None
    organisation: str | None = None
    topics: tuple[str, ...] = ()
    interval_minutes: int | None = None  # this feed's own check interval
    display: str = "full"  # "excerpt": the member wants only excerpts shown
    research: bool = True  # False: left out of research data releases
    paused: bool = False  # True: paused by its member, not fetched


@dataclass(frozen=True)
class Registry:
    """feeds.yaml, validated."""

    settings: Settings
    feeds: tuple[FeedSource, ...]


_DEFAULTS = Settings()


@dataclass(frozen=True)
class FetchLimits:
    """What one fetch may cost; built from Settings, whose defaults it shares."""

    connect_timeout: float = _DEFAULTS.connect_timeout
    read_timeout: float = _DEFAULTS.read_timeout
    deadline: float = _DEFAULTS.fetch_deadline
    max_redirects: int = _DEFAULTS.max_redirects
    max_body_bytes: int = _DEFAULTS.max_body_bytes
    allow_private_hosts: bool = _DEFAULTS.allow_private_hosts
    user_agent: str = "Voice"


@dataclass(frozen=True)
class ResponseData:
    """What the fetch stage got from the web for one feed.

    `body` is None on 304 Not Modified. `body` is always decoded from any
    Content-Encoding and within `max_body_bytes`.
    """

    url: str  # final URL after redirects
    status: int
    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    bytes_received: int = 0  # on the wire, before decompression
    permanent_redirect: str | None = None  # end of an unbroken run of 301/308 hops from the start
    cache_control: str | None = None
    expires: str | None = None
    retry_after: str | None = None


@dataclass(frozen=True)
class ParseJob:
    """Everything a parse worker needs; picklable, no I/O handles."""

    body: bytes
    url: str  # final URL; the base for relative links
    content_type: str | None
    fetched_at: str  # UTC ISO 8601; first-seen time and the clamp for future dates
    known: Mapping[str, str] = field(default_factory=dict)  # entry_key -> raw_hash
    max_entries: int = _DEFAULTS.max_entries
    max_entry_bytes: int = _DEFAULTS.max_entry_bytes
    feed_topics: tuple[str, ...] = ()  # the blog's default topics from feeds.yaml
    # block hash -> (entry_key, raw_hash) as last stored (parsing/blocks.py)
    known_blocks: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class EntryData:
    """One feed entry, normalised and sanitised."""

    entry_key: str
    raw_hash: str  # hash of the raw entry, to skip unchanged entries cheaply
    guid: str | None
    url: str | None  # absolute http(s) or None
    title: str  # plain text
    author: str | None
    published: str | None  # UTC ISO 8601; None when the feed gives no date
    updated: str | None
    categories: tuple[str, ...]
    summary_html: str | None
    content_html: str | None
    text: str  # plain text of content (or summary) for search
    url_key: str | None = None  # dedupe.canonical_url(url), computed in the worker
    content_key: str | None = None  # dedupe.content_key(title, text), likewise
    topics: tuple[tuple[str, str, float], ...] = ()  # (topic, source, score) from tagging
    minhash: tuple[int, ...] = ()  # sketch.signature(text), for near-duplicates
    evidence_key: str | None = None  # canonical URL of the original this post says it copies
    lsh_keys: tuple[int, ...] | None = None  # sketch.lsh_keys(title, minhash); None: not sketched


@dataclass(frozen=True)
class FeedData:
    """A parsed feed: only new or changed entries are carried in full."""

    title: str | None
    site_url: str | None
    ttl_minutes: int | None
    entries: tuple[EntryData, ...]  # new or changed (raw_hash not in job.known)
    seen_keys: tuple[str, ...]  # every entry key in the document, kept ones included
    total_entries: int  # entries in the document before caps
    notes: tuple[str, ...] = ()  # caps applied, said to people in the fetch record
    rules_version: str | None = None  # the vocabulary that tagged the entries, if any
    # (block hash, entry_key, raw_hash) of every entry in document order;
    # None when the document was read whole (parsing/blocks.py)
    blocks: tuple[tuple[str, str, str], ...] | None = None


@dataclass(frozen=True)
class FeedState:
    """A feed as the database knows it, for deciding what to fetch and how."""

    id: int
    url: str
    title: str | None
    region: str | None
    organisation: str | None
    status: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    error_count: int
    next_check_at: str | None
    last_success_at: str | None = None
    failing_since: str | None = None
    interval_minutes: int | None = None
    pending_redirect: str | None = None
    topics: str = "[]"  # the blog's default topics (JSON), for tagging in the worker
    recent_published: tuple[datetime, ...] = ()  # newest posts' dates: the feed's rhythm


@dataclass(frozen=True)
class FeedUpdateRecord:
    """Everything one fetch of one feed changes, written in one transaction."""

    feed_id: int
    started_at: str
    duration_ms: int
    outcome: str  # ok, not_modified, unchanged, error, gone
    status: str
    next_check_at: str | None
    error_count: int
    http_status: int | None = None
    bytes: int = 0
    url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    feed_title: str | None = None
    site_url: str | None = None
    error_kind: str | None = None
    error: str | None = None  # public: a fixed sentence per kind (health.public_error)
    error_detail: str | None = None  # private: the technical message, for operators
    note: str | None = None
    entries: tuple[EntryData, ...] = ()
    known_keys: frozenset[str] = frozenset()  # entry keys stored before this fetch
    seen_keys: frozenset[str] = frozenset()  # every entry key in the fetched document
    redirect_pending: bool = False  # the feed had a redirect recorded before this fetch
    rules_version: str | None = None  # the vocabulary that tagged `entries`, if any
    blocks: tuple[tuple[str, str, str], ...] | None = None  # FeedData.blocks, kept privately
    explanation: str | None = None
    failing_since: str | None = None
    backfill_keep: int | None = None  # first fetch: all but the newest N are back catalogue
    permanent_redirect: str | None = None  # a 301/308 target seen on this (successful) fetch
    redirect_rule: tuple[int, int] = (3, 2)  # confirm after N sightings over at least D days


@dataclass(frozen=True)
class SaveResult:
    """What writing one fetch stored: posts new to the archive and posts edited in place."""

    new_posts: int
    updated_posts: int
