"""Moderation: a submission is stored, listed, approved into feeds.yaml or rejected.

Every registry change goes through `registry.edit` (`add_feed`,
`update_feed`), which locks and writes feeds.yaml atomically, so two
moderators approving at once keep both edits and a killed approval leaves
the old or the new file. A decision is recorded (who, when, why) only after
feeds.yaml has it; approving again after a crash in between finds the blog
already registered at the same feed, makes its choices the request's, and
records the decision. The request is read again in the write that decides
it, so a member's edit made while the approval ran is in feeds.yaml too.
A change that lands in feeds.yaml is synced into the public database at
once: a switch to excerpts must not leave full text public until the next run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aggregator.analysis.vocabulary import Vocabulary
from aggregator.errors import ConfigError
from aggregator.joining import submissions as subs
from aggregator.joining.fields import FieldError, JoinForm, validate_join
from aggregator.joining.preview import preview_lines
from aggregator.joining.submissions import RequestState
from aggregator.models import FeedSource, Registry
from aggregator.registry.feeds import load_registry, normalise_feed_url
from aggregator.registry.sameblog import find_entry, find_registered
from aggregator.registry.topics import topics_for_registry

# What a member's choice means in feeds.yaml: the default is written as no key.
_DEFAULTS = {"display": "full", "research": True, "paused": False}


class AlreadyRegistered(FieldError):
    """The blog is in feeds.yaml already, under this or another address."""

    def __init__(self, feed: FeedSource) -> None:
        super().__init__("url", f"This blog is already in Voice, as {feed.title or feed.url}.")
        self.feed = feed


@dataclass(frozen=True)
class Instance:
    """Where one Voice lives: its registry, its database and its fetch policy."""

    config: Path
    db: Path
    allow_private_hosts: bool | None = None
    transport: Any = None  # an httpx transport, in tests

    def registry(self) -> Registry:
        return load_registry(self.config)

    def slugs(self) -> tuple[str, ...]:
        vocabulary = topics_for_registry(self.config)
        return vocabulary.slugs if vocabulary else ()

    def submissions(self) -> sqlite3.Connection:
        return subs.connect_submissions(self.db)


def registered_source(instance: Instance, member: RequestState) -> FeedSource | None:
    """The feeds.yaml entry of an approved member's feed, by the normalised-URL rule."""
    wanted = normalise_feed_url(member.feed_url or member.url)
    return next((f for f in instance.registry().feeds if normalise_feed_url(f.url) == wanted), None)


# --- new submissions ------------------------------------------------------------


def run_checked_trial(
    instance: Instance, url: str, registry: Registry, vocabulary: Vocabulary | None
) -> dict[str, Any]:
    """Trial one address; FieldError('url') when it has no usable feed or is registered."""
    from aggregator.joining.trial import run_trial

    known = find_registered(registry, url)
    if known is None:
        trial = run_trial(
            url,
            registry,
            vocabulary,
            allow_private_hosts=instance.allow_private_hosts,
            transport=instance.transport,
        )
        if not trial.ok:
            said = " ".join(p for p in (trial.problem, trial.advice) if p)
            raise FieldError("url", said or "No feed was found at this address.")
        found = trial.to_json()
        known = find_registered(registry, *(u for u in (trial.feed_url, trial.site_url) if u))
        if known is None:
            return found
    raise AlreadyRegistered(known)


def queued_as(conn: sqlite3.Connection, *urls: str | None) -> int | None:
    """The pending join request for the same blog as any of `urls`, if one waits."""
    joins = [r for r in subs.pending_requests(conn) if r.kind == "join"]
    index = find_entry([(r.url, r.feed_url, r.site_url) for r in joins], *(u for u in urls if u))
    return None if index is None else joins[index].id


def queue_join(
    conn: sqlite3.Connection,
    form: JoinForm,
    trial: Mapping[str, Any],
    *,
    now: str,
    with_token: bool = True,
) -> tuple[int, str | None]:
    """Store a tried join request unless the same blog already waits; (id, token)."""
    checks = {"feed_found": bool(trial.get("ok")), "region": form.region}
    with subs.write(conn):
        waiting = queued_as(conn, form.url, trial.get("feed_url"), trial.get("site_url"))
        if waiting is not None:
            raise FieldError("url", f"This blog is already waiting for a moderator (#{waiting}).")
        return subs.add_join(conn, form, trial=trial, checks=checks, now=now, with_token=with_token)


def new_submission(instance: Instance, data: Any, *, now: str) -> dict[str, Any]:
    """The web form's "send": validate, try the blog, store; the JSON answer."""
    vocabulary = topics_for_registry(instance.config)  # topics.yaml read once
    form = validate_join(data, vocabulary.slugs if vocabulary else ())
    trial = run_checked_trial(instance, form.url, instance.registry(), vocabulary)
    conn = instance.submissions()
    try:
        request_id, token = queue_join(conn, form, trial, now=now)
    finally:
        conn.close()
    return {"ok": True, "id": request_id, "token": token, "trial": trial}


# --- approving and rejecting -------------------------------------------------------


def registry_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """A member's choices as feeds.yaml keys: a default or an empty value removes the key."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "topics":
            out[key] = list(value) or None
        elif key in _DEFAULTS:
            out[key] = None if value == _DEFAULTS[key] else value
        else:
            out[key] = value or None
    return out


def apply_changes(
    instance: Instance, member: RequestState, changes: Mapping[str, Any], *, now: str
) -> None:
    """Write a member's changes to their feeds.yaml entry and the public database.

    ConfigError if the entry is gone.
    """
    from aggregator.registry.edit import update_feed

    if registered_source(instance, member) is None:
        raise ConfigError(f"#{member.id}: {member.feed_url} is no longer in {instance.config}")
    update_feed(instance.config, member.feed_url or member.url, registry_changes(changes))
    sync_public(instance, now)


def sync_public(instance: Instance, now: str) -> None:
    """Sync feeds.yaml into the public database (if there is one yet), as a run starts by.

    A blog switched to excerpts has its stored posts cut in the same
    transaction; paused, region, organisation and topics follow too.
    """
    if not instance.db.exists():
        return
    from aggregator import storage
    from aggregator.registry.atomic import locked
    from aggregator.storage.feeds import sync_feeds

    # Under the feeds.yaml lock: an edit made meanwhile by another approval is
    # in the registry read here, or is followed by its own sync.
    with locked(instance.config.resolve()):
        sources = instance.registry().feeds
        conn = storage.connect(instance.db)
        try:
            sync_feeds(conn, sources, now)
        finally:
            conn.close()


def feed_entry(request: RequestState) -> dict[str, Any]:
    """The feeds.yaml entry an approved join request becomes."""
    entry: dict[str, Any] = {"url": request.feed_url, "region": request.region}
    for key in ("title", "site_url", "organisation"):
        if getattr(request, key):
            entry[key] = getattr(request, key)
    if request.topics:
        entry["topics"] = list(request.topics)
    for key, value in registry_changes(
        {"display": request.display, "research": request.research}
    ).items():
        if value is not None:
            entry[key] = value
    return entry


def _add_to_registry(instance: Instance, request: RequestState) -> None:
    """Append the blog; if its feed is there already (approved before, killed before the
    decision was recorded), make that entry's choices the member's."""
    from aggregator.registry.edit import add_feed, update_feed

    feed_url = request.feed_url or ""
    try:
        add_feed(instance.config, feed_entry(request))
        return
    except ConfigError:
        known = find_registered(instance.registry(), feed_url, request.site_url or feed_url)
        if known is None:
            raise
    if normalise_feed_url(known.url) != normalise_feed_url(feed_url):
        raise ConfigError(
            f"#{request.id}: this blog is already in {instance.config} as {known.url};"
            " reject the request, or remove that entry and approve again"
        )
    choices = {"display": request.display, "research": request.research}
    update_feed(instance.config, known.url, registry_changes(choices))


def _catch_up(instance: Instance, used: RequestState, current: RequestState) -> None:
    """Put into feeds.yaml what the member changed while the approval ran."""
    from aggregator.registry.edit import update_feed

    before, after = feed_entry(used), feed_entry(current)
    keys = before.keys() | after.keys()
    changed = {k: after.get(k) for k in keys if before.get(k) != after.get(k)}
    if changed:
        update_feed(instance.config, current.feed_url or "", changed)


def _give_verification_token(instance: Instance, request: RequestState) -> None:
    from aggregator import storage

    conn = storage.connect(instance.db)
    try:
        storage.set_verification_token(conn, request.feed_url, request.verify_token)
    finally:
        conn.close()


def approve(instance: Instance, request_id: int, *, by: str, now: str) -> str:
    """Approve a join (into feeds.yaml) or a change (onto its entry); one line saying what."""
    conn = instance.submissions()
    try:
        request = _pending(conn, request_id)
        if request.kind == "join":
            if not request.feed_url:
                raise ConfigError(f"#{request_id}: no feed was found for {request.url}")
            _add_to_registry(instance, request)
            _give_verification_token(instance, request)
            said = (
                f"#{request_id}: {request.feed_url} added to {instance.config} ({request.region})"
            )
        else:
            member = subs.get_request(conn, request.member_id or 0)
            if member is None or member.status != "approved":
                raise ConfigError(f"#{request_id}: the blog it changes is not in Voice")
            apply_changes(instance, member, request.changes, now=now)
            said = f"#{request_id}: {member.feed_url} changed: {summarise(request.changes)}"
        with subs.write(conn):
            # A member edits a pending join request only inside such a write, after
            # checking it is still pending (members._change_pending): read again here,
            # every edit is either caught up now or refused as too late.
            current = subs.get_request(conn, request_id)
            if current is None or not subs.decide(conn, request_id, "approved", by=by, now=now):
                raise ConfigError(f"#{request_id}: decided by someone else meanwhile")
            if request.kind == "join":
                _catch_up(instance, request, current)
            if request.kind == "change":
                subs.update_member(conn, request.member_id or 0, request.changes)
    finally:
        conn.close()
    if request.kind == "join":
        sync_public(instance, now)  # an entry found there already may have changed display
    return f"{said}; approved by {by}"


def reject(instance: Instance, request_id: int, *, reason: str, by: str, now: str) -> str:
    conn = instance.submissions()
    try:
        request = _pending(conn, request_id)
        with subs.write(conn):
            if not subs.decide(conn, request_id, "rejected", by=by, now=now, reason=reason):
                raise ConfigError(f"#{request_id}: decided by someone else meanwhile")
    finally:
        conn.close()
    return f"#{request_id}: {request.url} rejected by {by}; the member sees the reason"


def _pending(conn: sqlite3.Connection, request_id: int) -> RequestState:
    request = subs.get_request(conn, request_id)
    if request is None:
        raise ConfigError(f"#{request_id}: no such submission (see `voice submissions`)")
    if request.status != "pending":
        by = f" by {request.decided_by}" if request.decided_by else ""
        raise ConfigError(f"#{request_id}: already {request.status}{by} on {request.decided_at}")
    return request


# --- listing -------------------------------------------------------------------------


def summarise(changes: Mapping[str, Any]) -> str:
    """A change request in a few words: 'organisation: X; topics: a, b'."""
    words = {"paused": {True: "pause", False: "resume"}}
    parts = []
    for key, value in changes.items():
        if key in words:
            parts.append(words[key][bool(value)])
        elif isinstance(value, list | tuple):
            parts.append(f"{key}: {', '.join(value) or '(none)'}")
        elif isinstance(value, bool):
            parts.append(f"{key}: {'yes' if value else 'no'}")
        else:
            parts.append(f"{key}: {value or '(none)'}")
    return "; ".join(parts)


def describe_pending(instance: Instance) -> list[list[str]]:
    """Each pending request as lines of text: heading, preview, checks."""
    registry = instance.registry()
    slugs = set(instance.slugs())
    conn = instance.submissions()
    try:
        pending = subs.pending_requests(conn)
        members = {r.id: subs.get_request(conn, r.member_id or 0) for r in pending}
    finally:
        conn.close()
    blocks = []
    for request in pending:
        if request.kind == "change":
            member = members[request.id]
            target = member.feed_url if member else "?"
            blocks.append(
                [
                    f"#{request.id} change to #{request.member_id} {target}"
                    f" (asked {request.created_at})",
                    f"  {summarise(request.changes)}",
                ]
            )
            continue
        who = ", ".join(x for x in (request.name, request.organisation, request.email) if x)
        known = find_registered(registry, *(u for u in (request.url, request.feed_url) if u))
        unknown = [t for t in request.topics if t not in slugs]
        checks = [
            f"feed found: {'yes' if request.checks.get('feed_found') else 'no'}",
            f"already registered: {'as ' + known.url if known else 'no'}",
            f"region: {request.region}",
            "topics: "
            + (", ".join(request.topics) or "none")
            + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
            f"display: {request.display}",
            f"research: {'yes' if request.research else 'no'}",
        ]
        by = f", by {who}" if who else ""
        blocks.append(
            [f"#{request.id} join {request.url} (asked {request.created_at}{by})"]
            + ["  " + line for line in preview_lines(request.trial)]
            + ["  checks: " + " | ".join(checks)]
        )
    return blocks
