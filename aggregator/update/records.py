"""What one check of one feed writes, decided by pure functions of frozen values.

The cycle gathers the facts (the feed as stored, when the check started,
what the server said, what the parser found); these functions turn them into
the `FeedUpdateRecord` that storage writes, including when to check next.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from aggregator.errors import FetchError, ParseError
from aggregator.health import explain, public_error
from aggregator.models import FeedData, FeedState, FeedUpdateRecord, ResponseData, Settings
from aggregator.schedule import ScheduleInputs, from_iso, next_check, to_iso


@dataclass(frozen=True)
class Attempt:
    """One check of one feed: which feed, when it started, how long it took."""

    feed: FeedState
    started: datetime
    duration_ms: int


@dataclass(frozen=True)
class Failure:
    """Why a check failed, as a value: the kind shown to people and the server's hints."""

    kind: str
    message: str
    http_status: int | None = None
    retry_after: str | None = None

    @classmethod
    def of_fetch(cls, error: FetchError) -> Failure:
        return cls(error.kind, error.message, error.http_status, error.retry_after)

    @classmethod
    def of_parse(cls, error: ParseError, http_status: int) -> Failure:
        return cls(error.kind, error.message, http_status)


@dataclass(frozen=True)
class Parsed:
    """A changed document after the parse workers: what is new, and what was known."""

    data: FeedData
    body_hash: str
    known_keys: frozenset[str]


def failure_record(attempt: Attempt, failure: Failure, settings: Settings) -> FeedUpdateRecord:
    feed, started = attempt.feed, attempt.started
    errors = feed.error_count + 1
    gone = failure.kind == "gone"
    failing_since = feed.failing_since or to_iso(started)
    days_failing = (started - from_iso(failing_since)).total_seconds() / 86400
    if gone:
        status = "gone"
    elif days_failing >= settings.failing_after_days:
        status = "failing"
    else:
        status = "error"
    outcome = "gone" if gone else "error"
    schedule = _schedule(
        attempt,
        settings,
        outcome,
        errors,
        recent_posts=feed.recent_published,
        http_status=failure.http_status,
        retry_after=failure.retry_after,
    )
    return FeedUpdateRecord(
        feed_id=feed.id,
        started_at=to_iso(started),
        duration_ms=attempt.duration_ms,
        outcome=outcome,
        status=status,
        failing_since=failing_since,
        explanation=explain(status, failure.kind, failure.http_status).explanation,
        next_check_at=_iso_or_none(next_check(schedule)),
        error_count=errors,
        http_status=failure.http_status,
        error_kind=failure.kind,
        error=public_error(failure.kind, failure.http_status),
        error_detail=failure.message,
    )


def success_record(
    attempt: Attempt,
    response: ResponseData,
    outcome: str,
    settings: Settings,
    parsed: Parsed | None = None,
) -> FeedUpdateRecord:
    """`outcome` is ok (with `parsed`), not_modified or unchanged."""
    feed = attempt.feed
    recent = feed.recent_published
    data = parsed.data if parsed is not None else None
    if data is not None:
        recent += tuple(from_iso(e.published) for e in data.entries if e.published)
    schedule = _schedule(
        attempt,
        settings,
        outcome,
        0,
        recent_posts=recent,
        http_status=response.status,
        cache_control=response.cache_control,
        expires=response.expires,
        ttl_minutes=data.ttl_minutes if data is not None else None,
    )
    record = FeedUpdateRecord(
        feed_id=feed.id,
        started_at=to_iso(attempt.started),
        duration_ms=attempt.duration_ms,
        outcome=outcome,
        status="ok",
        explanation=explain("ok", None).explanation,
        next_check_at=_iso_or_none(next_check(schedule)),
        error_count=0,
        http_status=response.status,
        bytes=response.bytes_received,
        etag=response.etag,
        last_modified=response.last_modified,
        permanent_redirect=response.permanent_redirect,
        redirect_pending=feed.pending_redirect is not None,
        redirect_rule=(settings.redirect_confirm_times, settings.redirect_confirm_days),
    )
    if parsed is None or data is None:
        return record
    return replace(
        record,
        body_hash=parsed.body_hash,
        feed_title=data.title,
        site_url=data.site_url,
        entries=data.entries,
        known_keys=parsed.known_keys,
        seen_keys=frozenset(data.seen_keys),
        backfill_keep=settings.backfill_keep if feed.last_success_at is None else None,
        rules_version=data.rules_version,
        blocks=data.blocks,
        note="; ".join(data.notes) or None,
    )


def internal_record(feed: FeedState, started: datetime, settings: Settings) -> FeedUpdateRecord:
    """The record for a bug in Voice: plain values only, so it cannot fail in turn.

    The member is told it is Voice's problem, never their feed's; the
    traceback is in the log.
    """
    retry = started + timedelta(minutes=settings.interval_minutes)
    return FeedUpdateRecord(
        feed_id=feed.id,
        started_at=to_iso(started),
        duration_ms=0,
        outcome="error",
        status="error",
        next_check_at=to_iso(retry),
        error_count=feed.error_count + 1,
        failing_since=feed.failing_since or to_iso(started),
        error_kind="internal",
        error=public_error("internal"),
        error_detail="Voice hit an internal error checking this feed; the log has the details",
        explanation=explain("error", "internal").explanation,
    )


def _schedule(
    attempt: Attempt,
    settings: Settings,
    outcome: str,
    error_count: int,
    *,
    recent_posts: tuple[datetime, ...],
    http_status: int | None,
    cache_control: str | None = None,
    expires: str | None = None,
    retry_after: str | None = None,
    ttl_minutes: int | None = None,
) -> ScheduleInputs:
    """The schedule's inputs: this feed's settings and the server's hints."""
    return ScheduleInputs(
        now=attempt.started,
        feed_id=attempt.feed.id,
        outcome=outcome,
        error_count=error_count,
        recent_posts=recent_posts,
        cache_control=cache_control,
        expires=expires,
        retry_after=retry_after,
        http_status=http_status,
        ttl_minutes=ttl_minutes,
        override_minutes=attempt.feed.interval_minutes,
        default_minutes=settings.interval_minutes,
        min_minutes=settings.min_interval_minutes,
        max_minutes=settings.max_interval_hours * 60,
    )


def _iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else to_iso(moment)


@dataclass(frozen=True)
class FeedResult:
    """What happened to one feed in one cycle."""

    url: str
    outcome: str  # ok, not_modified, unchanged, error, gone, skipped
    new_posts: int = 0
    updated_posts: int = 0
    error_kind: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class UpdateResult:
    """A cycle's summary, for the CLI line and for tests."""

    feeds: tuple[FeedResult, ...]

    def count(self, *outcomes: str) -> int:
        return sum(1 for f in self.feeds if f.outcome in outcomes)

    @property
    def new_posts(self) -> int:
        return sum(f.new_posts for f in self.feeds)

    @property
    def updated_posts(self) -> int:
        return sum(f.updated_posts for f in self.feeds)

    def summary(self) -> str:
        checked = len(self.feeds) - self.count("skipped")
        return (
            f"{checked} feeds checked, {self.count('not_modified', 'unchanged')} not modified, "
            f"{self.new_posts} new posts, {self.updated_posts} updated, "
            f"{self.count('error', 'gone')} failed"
        )
