"""A member's status link: see their blog, change it, take it down, prove it is theirs.

The member holds the token of their join request; anything else (no token,
a wrong one, a malformed one) gets the same answer, which says nothing
about what exists. A verified blog's changes apply at once; an unverified
blog's wait for `voice submissions approve` as change requests. Taking a
blog down never waits: it does what `voice remove` does, with
"member (status link)" as the operator in the private audit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from typing import Any

from aggregator import __version__
from aggregator.errors import FetchError
from aggregator.joining import submissions as subs
from aggregator.joining.fields import FieldError, validate_changes
from aggregator.joining.moderation import (
    Instance,
    apply_changes,
    registered_source,
    summarise,
)
from aggregator.joining.submissions import RequestState

NOT_FOUND = "This status link is not valid. Check you copied all of it."
MEMBER = "member (status link)"
ACTIONS = ("update", "pause", "resume", "remove", "verify")
GONE = {
    "rejected": "This blog was not accepted, so there is nothing to change.",
    "withdrawn": "You withdrew this blog, so there is nothing to change.",
    "removed": "You took this blog down, so there is nothing to change.",
}


def _member(instance: Instance, token: Any) -> tuple[sqlite3.Connection, RequestState | None]:
    conn = instance.submissions()
    return conn, subs.find_member(conn, token)


def show(instance: Instance, token: Any) -> dict[str, Any]:
    """The status page's data: the submission, the blog's health, changes asked for."""
    conn, member = _member(instance, token)
    try:
        if member is None:
            return {"ok": False, "message": NOT_FOUND}
        changes = subs.changes_of(conn, member.id)
    finally:
        conn.close()
    feed = feed_health(instance, member) if member.status == "approved" else None
    return {
        "ok": True,
        "submission": {
            "id": member.id,
            "status": member.status,
            "reason": member.reason,
            "url": member.url,
            "feed_url": member.feed_url,
            "site_url": member.site_url,
            "title": member.title,
            "region": member.region,
            "organisation": member.organisation,
            "name": member.name,
            "email": member.email,
            "topics": list(member.topics),
            "display": member.display,
            "research": member.research,
            "created_at": member.created_at,
            "decided_at": member.decided_at,
        },
        "feed": feed,
        "verify_token": member.verify_token,
        "verified": bool(feed and feed.get("verified_at")),
        "changes": [
            {
                "id": c.id,
                "status": c.status,
                "summary": summarise(c.changes),
                "created_at": c.created_at,
                "decided_at": c.decided_at,
                "reason": c.reason,
            }
            for c in changes
        ],
    }


def feed_health(instance: Instance, member: RequestState) -> dict[str, Any] | None:
    """The blog as Voice holds it now: feeds.yaml choices and the database's health."""
    source = registered_source(instance, member)
    if source is None:
        return None
    health: dict[str, Any] = {
        "url": source.url,
        "title": source.title,
        "region": source.region,
        "organisation": source.organisation,
        "topics": list(source.topics),
        "display": source.display,
        "research": source.research,
        "paused": source.paused,
        "status": "new",
        "explanation": "Voice has not fetched this blog yet.",
        "last_success_at": None,
        "posts": 0,
        "slug": None,
        "verified_at": None,
    }
    if not instance.db.exists():
        return health
    from aggregator import storage
    from aggregator.storage.targets import find_feed

    conn = storage.connect(instance.db)
    try:
        feed_id = find_feed(conn, member.feed_url or member.url)
        if feed_id is not None:
            found = dict(conn.execute("SELECT * FROM feeds WHERE id = ?", [feed_id]).fetchone())
            posts = conn.execute(
                "SELECT count(*) FROM posts WHERE feed_id = ? AND removed_at IS NULL", [feed_id]
            ).fetchone()[0]
            health.update(
                {k: found.get(k) for k in ("status", "explanation", "last_success_at", "slug")},
                last_checked_at=found.get("last_checked_at"),
                posts=posts,
            )
        verified = conn.execute(
            "SELECT verified_at FROM private.verifications WHERE feed_url = ?", [source.url]
        ).fetchone()
        health["verified_at"] = verified[0] if verified else None
    finally:
        conn.close()
    return health


def change(instance: Instance, data: Any, *, now: str) -> dict[str, Any]:
    """One action from the status page; the JSON answer."""
    token = data.get("token") if isinstance(data, dict) else None
    action = data.get("action") if isinstance(data, dict) else None
    conn, member = _member(instance, token)
    try:
        if member is None:
            return {"ok": False, "field": None, "message": NOT_FOUND}
        if action not in ACTIONS:
            raise FieldError("action", "Choose what to do.")
        if member.status in GONE:
            return {"ok": False, "field": None, "message": GONE[member.status]}
        if action == "remove":
            return _remove(instance, conn, member, now)
        if action == "update":
            changes = validate_changes(data.get("changes"), instance.slugs())
        else:
            changes = {"paused": action == "pause"}
        if member.status == "pending":
            return _change_pending(conn, member, action, changes)
        if action == "verify":
            return _verify(instance, member, now)
        if not _verified(instance, member):
            with subs.write(conn):
                request_id = subs.add_change(conn, member, changes, now=now)
            return {
                "ok": True,
                "applied": False,
                "id": request_id,
                "message": "Sent to a moderator; it applies once they approve it."
                " Verify your blog to make changes apply at once.",
            }
        apply_changes(instance, member, changes, now=now)
        with subs.write(conn):
            subs.add_change(conn, member, changes, now=now, decided_by="member (verified)")
            subs.update_member(conn, member.id, changes)
        return {"ok": True, "applied": True, "message": f"Done: {summarise(changes)}."}
    finally:
        conn.close()


def _change_pending(
    conn: sqlite3.Connection, member: RequestState, action: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Before approval the request itself is edited; there is no blog to pause yet.

    Still pending is checked again inside the write: an approval decides in
    such a write too and reads the request there, so an edit is either in
    what it approves or refused here, never lost.
    """
    if action != "update":
        return {
            "ok": False,
            "field": None,
            "message": "Your blog is not in Voice yet; a moderator will look at it soon.",
        }
    with subs.write(conn):
        current = subs.get_request(conn, member.id)
        if current is None or current.status != "pending":
            return {
                "ok": False,
                "field": None,
                "message": "A moderator decided on your blog meanwhile."
                " Reload this page to see it, then make your change again.",
            }
        subs.update_member(conn, member.id, changes)
    return {"ok": True, "applied": True, "message": "Your request is updated."}


def _verified(instance: Instance, member: RequestState) -> bool:
    feed = feed_health(instance, member)
    return bool(feed and feed.get("verified_at"))


def _remove(
    instance: Instance, conn: sqlite3.Connection, member: RequestState, now: str
) -> dict[str, Any]:
    """Withdraw a pending request, or take an approved blog down as `voice remove` does."""
    if member.status == "pending":
        with subs.write(conn):
            subs.set_member_status(
                conn, member.id, "withdrawn", by=MEMBER, now=now, reason="withdrawn by the member"
            )
        return {"ok": True, "applied": True, "message": "Your request is withdrawn."}
    from aggregator import storage
    from aggregator.registry.edit import remove_feed
    from aggregator.storage import takedown
    from aggregator.storage.targets import find_feed

    target = member.feed_url or member.url
    remove_feed(instance.config, target)
    if instance.db.exists():
        public = storage.connect(instance.db)
        try:
            feed_id = find_feed(public, target)
            if feed_id is not None:
                takedown.remove_blog(
                    public,
                    feed_id,
                    target=target,
                    reason="member asked (status link)",
                    removed_by=MEMBER,
                    now=now,
                )
        finally:
            public.close()
    with subs.write(conn):
        subs.set_member_status(
            conn, member.id, "removed", by=MEMBER, now=now, reason="taken down by the member"
        )
    return {"ok": True, "applied": True, "message": "Your blog is taken down from Voice."}


def _verify(instance: Instance, member: RequestState, now: str) -> dict[str, Any]:
    """Fetch the home page and the feed now; verified when either carries the token.

    The home page counts only with the meta tag in its head (readers' comments
    show there); the feed counts with the token anywhere (only the author posts).
    """
    from aggregator.storage.verification import mark_verified, meta_token_in, token_in

    if _verified(instance, member):
        return {"ok": True, "applied": True, "message": "Your blog is already verified."}
    token = member.verify_token or ""
    home, feed = asyncio.run(_fetch_all(instance, [member.site_url, member.feed_url]))
    if not (meta_token_in(home, token) or token_in(feed, token)):
        return {
            "ok": True,
            "applied": False,
            "message": f"The token {token} is not on your blog's home page or in its feed yet."
            " Publish it, then try again.",
        }
    from aggregator import storage

    public = storage.connect(instance.db)
    try:
        mark_verified(public, member.feed_url or "", now)
    finally:
        public.close()
    return {"ok": True, "applied": True, "message": "Your blog is verified."}


async def _fetch_all(instance: Instance, urls: list[str | None]) -> list[bytes]:
    """Each address's body, in order; empty for no address or a failed fetch."""
    from aggregator.fetching import fetch_feed, limits_from_settings, make_client

    limits = limits_from_settings(instance.registry().settings, __version__)
    if instance.allow_private_hosts is not None:
        limits = dataclasses.replace(limits, allow_private_hosts=instance.allow_private_hosts)
    bodies = []
    async with make_client(limits, instance.transport) as client:
        for url in urls:
            body = b""
            try:
                if url:
                    body = (await fetch_feed(client, url, limits)).body or b""
            except FetchError:
                pass
            bodies.append(body)
    return bodies
