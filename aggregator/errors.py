"""One exception tree for Voice, so callers can catch what they can act on.

    AggregatorError            root; carries the feed URL when there is one
    ├── ConfigError            feeds.yaml is missing, unreadable or invalid
    ├── StoreError             the database cannot be opened or migrated
    ├── FetchError(kind)       one feed could not be fetched
    ├── ParseError(kind)       one feed's document is not a usable feed
    ├── ReleaseError           a research release cannot be read or written
    └── InternalError          a bug in Voice met while handling one feed

FetchError and ParseError are per-feed values: the update stage records them
on the feed row and carries on. InternalError is recorded as kind `internal`,
never as a fault of the member's feed, with its traceback in the log only.
ConfigError, StoreError and ReleaseError stop a command and become a one-line message with
a non-zero exit code.
"""

from __future__ import annotations

# Stable kinds shown to people on the feed-health view; never rename one.
FETCH_KINDS = frozenset(
    {
        "timeout",
        "network",
        "dns",
        "tls",
        "http_status",
        "too_large",
        "blocked_address",
        "bad_scheme",
        "too_many_redirects",
        "bad_encoding",
        "gone",
    }
)
PARSE_KINDS = frozenset(
    {"not_a_feed", "entities", "worker_limit", "worker_timeout", "worker_crash", "malformed"}
)


class AggregatorError(Exception):
    """Root of every error Voice raises on purpose."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url

    def __str__(self) -> str:
        return self.message


class ConfigError(AggregatorError):
    """The registry or settings are wrong; the message says where and how."""


class StoreError(AggregatorError):
    """The database cannot be used (missing directory, corrupt file, locked too long)."""


class ReleaseError(AggregatorError):
    """A research release could not be made: the database unreadable, the folder unwritable."""


class FetchError(AggregatorError):
    """A feed could not be fetched; `kind` is one of FETCH_KINDS.

    `retry_after` is the raw Retry-After header of an error answer (seconds or
    an HTTP-date), kept unparsed so the scheduler decides what it means.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        url: str | None = None,
        http_status: int | None = None,
        retry_after: str | None = None,
    ) -> None:
        if kind not in FETCH_KINDS:
            raise ValueError(f"unknown fetch error kind {kind!r}")
        super().__init__(message, url=url)
        self.kind = kind
        self.http_status = http_status
        self.retry_after = retry_after


class ParseError(AggregatorError):
    """A fetched document is not a usable feed; `kind` is one of PARSE_KINDS."""

    def __init__(self, kind: str, message: str, *, url: str | None = None) -> None:
        if kind not in PARSE_KINDS:
            raise ValueError(f"unknown parse error kind {kind!r}")
        super().__init__(message, url=url)
        self.kind = kind


class InternalError(AggregatorError):
    """A bug in Voice, met where no traceback can travel (a parse worker).

    `detail` is the traceback text, for the operator's log; people are told
    only that Voice had a problem of its own.
    """

    def __init__(self, message: str, *, url: str | None = None, detail: str = "") -> None:
        super().__init__(message, url=url)
        self.detail = detail
