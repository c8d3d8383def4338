"""When to check a feed next: pure functions over times, no clock of their own.

The schedule lives in the database (`feeds.next_check_at`), so a restarted
fetcher neither stampedes every feed at once nor forgets a back-off.

`next_check(inputs)` is the one decision. Its policy, rule by rule, in order:

1. Gone: a feed that answered 410 is never checked again (`None`).
2. Normal interval: the per-feed override from feeds.yaml if set, else the feed's
   posting rhythm divided by CHECKS_PER_POST_GAP, else `default_minutes`; bounded to [min, max].
3. Rhythm: the median gap between recent posts, or the silence since the newest post
   if that is longer, so a dormant blog drifts towards `max_minutes`.
4. Failure (`outcome == "error"` or `error_count > 0`): normal interval x 2^(error_count-1);
   a Retry-After on 429/503 (or with no status given) is a lower bound.
5. Success ("ok", "not_modified", "unchanged"): the normal interval, with the server's
   hints as lower bounds: max(interval, max-age or s-maxage or Expires - now, RSS <ttl>).
   An override beats the rhythm but never the server: we do not poll before it says stale.
6. Jitter: x (1 +/- jitter), from sha256(feed_id, now), so tests are exact and restarts
   spread out; when a server lower bound decides the delay, jitter only lengthens it.
7. Server lower bounds are re-applied after jitter, then the result is clamped to
   [min_minutes, max_minutes] - settings always win, even over a server hint.

Malformed headers, ttl or override values are ignored, never raised. All times are aware UTC.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

ISO = "%Y-%m-%dT%H:%M:%SZ"
# What to_iso writes, digit for digit: read by fromisoformat, not strptime.
_WRITTEN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", re.ASCII)

OUTCOMES = frozenset({"ok", "not_modified", "unchanged", "error", "gone"})
# About this many checks per typical gap between posts: a daily poster is checked
# every half hour, a weekly one every 3.5 hours, a monthly one every 15 hours.
CHECKS_PER_POST_GAP = 48
RETRY_AFTER_STATUSES = frozenset({429, 503})
# RFC 9111 section 1.2.2: delta-seconds beyond 2^31 are treated as 2^31.
MAX_DELTA_SECONDS = 2**31
# Back-off stops doubling here; the max clamp has long since won anyway.
MAX_BACKOFF_EXPONENT = 32


def to_iso(moment: datetime) -> str:
    """UTC ISO 8601 with a Z: sorts as text, which the SQL queries rely on."""
    return moment.astimezone(UTC).strftime(ISO)


def from_iso(text: str) -> datetime:
    """to_iso's text back as an aware UTC time; anything else as strptime reads ISO.

    The cycle reads every new post's date once to schedule its feed, and
    strptime costs ten times what fromisoformat does on the text to_iso
    writes; other text keeps strptime's leniency and its errors.
    """
    if _WRITTEN.fullmatch(text):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass  # 2026-02-30, 24:00:00: strptime says why
    return datetime.strptime(text, ISO).replace(tzinfo=UTC)


@dataclass(frozen=True)
class ScheduleInputs:
    """Everything `next_check` looks at, gathered by the caller after one check."""

    now: datetime  # aware UTC
    feed_id: int  # seeds the deterministic jitter
    outcome: str  # one of OUTCOMES
    error_count: int  # consecutive failures, including this check if it failed
    recent_posts: tuple[datetime, ...] = ()  # publication times of the newest posts, any order
    cache_control: str | None = None  # response Cache-Control header
    expires: str | None = None  # response Expires header (HTTP-date)
    retry_after: str | None = None  # Retry-After on 429/503: seconds or HTTP-date
    http_status: int | None = None
    ttl_minutes: int | None = None  # RSS <ttl>
    override_minutes: int | None = None  # per-feed interval from feeds.yaml
    default_minutes: int = 60
    min_minutes: int = 15
    max_minutes: int = 24 * 60
    jitter: float = 0.1  # +/- fraction

    def __post_init__(self) -> None:
        # Programming errors, not web data: these do raise.
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")
        if not 0 < self.min_minutes <= self.max_minutes:
            raise ValueError("need 0 < min_minutes <= max_minutes")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")


def next_check(inputs: ScheduleInputs) -> datetime | None:
    """When to check this feed next (aware UTC); None only for a gone feed. See module doc."""
    if inputs.outcome == "gone":
        return None
    now = inputs.now.astimezone(UTC)
    lo, hi = inputs.min_minutes * 60.0, inputs.max_minutes * 60.0
    base = _clamp(_normal_seconds(inputs), lo, hi)

    floors: list[float] = []
    if inputs.outcome == "error" or inputs.error_count > 0:
        exponent = min(max(inputs.error_count, 1) - 1, MAX_BACKOFF_EXPONENT)
        delay = base * 2.0**exponent
        if inputs.http_status is None or inputs.http_status in RETRY_AFTER_STATUSES:
            wait = parse_retry_after(inputs.retry_after, now)
            if wait is not None:
                floors.append(wait.total_seconds())
    else:
        delay = base
        fresh = freshness_hint(inputs.cache_control, inputs.expires, now)
        if fresh is not None:
            floors.append(fresh.total_seconds())
        if inputs.ttl_minutes is not None and inputs.ttl_minutes > 0:
            floors.append(inputs.ttl_minutes * 60.0)

    floor = max(floors, default=0.0)
    server_decides = floor >= delay
    delay = max(delay, floor)
    unit = _jitter_unit(inputs.feed_id, now)
    factor = 1.0 + (abs(unit) if server_decides else unit) * inputs.jitter
    seconds = _clamp(max(delay * factor, floor), lo, hi)
    return now + timedelta(seconds=seconds)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After as a wait from `now`: delay-seconds or an HTTP-date; None if unusable.

    A date in the past means "no wait" (zero). Garbage, negative or fractional numbers: None.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return timedelta(seconds=min(int(text), MAX_DELTA_SECONDS))
    when = _parse_http_date(text)
    if when is None:
        return None
    return max(when - now, timedelta(0))


def freshness_hint(
    cache_control: str | None, expires: str | None, now: datetime
) -> timedelta | None:
    """How long the server says the response stays fresh; None if it says nothing usable.

    `no-store` or `no-cache` mean "ask me every time": no hint, and Expires is ignored too.
    `max-age` wins over `s-maxage` (we are a private client, RFC 9111 5.2.2.10); either wins
    over Expires. Expires in the past gives zero; a malformed Expires is ignored.
    """
    directives = _parse_cache_control(cache_control or "")
    if "no-store" in directives or "no-cache" in directives:
        return None
    for name in ("max-age", "s-maxage"):
        seconds = _delta_seconds(directives.get(name))
        if seconds is not None:
            return timedelta(seconds=seconds)
    if expires is None:
        return None
    when = _parse_http_date(expires)
    if when is None:
        return None
    return max(when - now, timedelta(0))


def posting_interval(recent_posts: tuple[datetime, ...], now: datetime) -> timedelta | None:
    """The feed's own rhythm: the median gap between posts, or the silence since the newest
    post if longer. Posts dated after `now` are ignored; naive times are taken as UTC.
    None when no post is known."""
    now = now.astimezone(UTC)
    times = sorted({_as_utc(t) for t in recent_posts if _as_utc(t) <= now})
    if not times:
        return None
    silence = (now - times[-1]).total_seconds()
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    typical = _median(gaps) if gaps else 0.0
    return timedelta(seconds=max(typical, silence))


def _median(values: list[float]) -> float:
    """statistics.median, without importing statistics (3 ms of every start)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _normal_seconds(inputs: ScheduleInputs) -> float:
    """The interval before back-off and server hints: override, else rhythm, else default."""
    if inputs.override_minutes is not None and inputs.override_minutes > 0:
        return inputs.override_minutes * 60.0
    rhythm = posting_interval(inputs.recent_posts, inputs.now)
    if rhythm is None:
        return inputs.default_minutes * 60.0
    return rhythm.total_seconds() / CHECKS_PER_POST_GAP


def _jitter_unit(feed_id: int, now: datetime) -> float:
    """A value in [-1, 1) fixed by (feed_id, now): no global random state."""
    seed = f"{feed_id}|{now.astimezone(UTC).isoformat()}".encode()
    draw = int.from_bytes(hashlib.sha256(seed).digest()[:8], "big")
    return draw / 2**63 - 1.0


def _clamp(value: float, lo: float, hi: float) -> float:
    return min(max(value, lo), hi)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_http_date(text: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # older Pythons returned None for some garbage
        return None
    return _as_utc(when)


def _parse_cache_control(header: str) -> dict[str, str | None]:
    """Directive names lower-cased; values unquoted; later duplicates do not override."""
    directives: dict[str, str | None] = {}
    for part in header.split(","):
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if name and name not in directives:
            directives[name] = value.strip().strip('"') if sep else None
    return directives


def _delta_seconds(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit():
        return None
    return min(int(value), MAX_DELTA_SECONDS)
