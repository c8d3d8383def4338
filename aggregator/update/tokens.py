"""Verification during a cycle: a member's token in their feed, or on their home page.

A member proves a blog is theirs by publishing the token they were given
(storage.verification), after which their changes to it apply at once. A
cycle looks for it in every feed it fetches, and once on the home page of a
blog whose feed did not carry it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from aggregator import fetching, storage
from aggregator.errors import FetchError
from aggregator.models import FeedState, FeedUpdateRecord, ResponseData
from aggregator.schedule import to_iso
from aggregator.storage import verification
from aggregator.storage.updates import SUCCEEDED
from aggregator.update.state import Cycle

log = logging.getLogger("voice")


async def look_for_token(
    cycle: Cycle, feed: FeedState, body: bytes, started: datetime
) -> None:
    """Mark the blog verified when its member's token is in the document just fetched."""
    token = cycle.tokens.get(feed.url)
    if token is not None and storage.token_in(body, token):
        conn = cycle.writer.conn
        await cycle.writer.run(storage.mark_verified, conn, feed.url, to_iso(started))


async def look_on_home_page(
    cycle: Cycle, feed: FeedState, record: FeedUpdateRecord, response: ResponseData
) -> None:
    """A feed fetched without the token: look for the member's meta tag on the home page.

    Once per cycle, through the same client and limits, the home page's host
    gate and a body slot. Whatever happens here is logged and nothing more:
    the feed's own outcome and health are already decided.
    """
    token = cycle.tokens.get(feed.url)
    home = cycle.homes.get(feed.url) or record.site_url
    if (
        token is None
        or home is None
        or record.outcome not in SUCCEEDED
        or storage.token_in(response.body or b"", token)
        or cycle.stopping()
    ):
        return
    try:
        async with cycle.hosts.enter(home), cycle.slots:
            page = await fetching.fetch_feed(cycle.client, home, cycle.limits)
            carries = verification.meta_token_in(page.body or b"", token)
        if carries:
            at = to_iso(cycle.clock())
            await cycle.writer.run(storage.mark_verified, cycle.writer.conn, feed.url, at)
    except FetchError as exc:
        log.info("%s: home page %s not checked for its token: %s", feed.url, home, exc)
    except Exception:  # a bug: keep the traceback, but the feed's result stands
        log.exception("unexpected error checking the home page of %s", feed.url)
