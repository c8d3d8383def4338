"""The update cycle, on top of the stages: due feeds → fetch → parse → store → reschedule.

    cycle    the asynchronous orchestration: update_feeds
    state    what a cycle shares between its feeds: the injected edges, the limits, batches
    tokens   a member's verification token, looked for in the feed and on the home page
    records  pure: what each outcome writes, when to check the feed next, the results
    gates    politeness per host, the one thread every write runs on, feeds in batches
    worker   what a parse worker does with a changed document (parse, sketch, tag); the pool
    upkeep   stored posts re-cleaned once when the sanitiser's rules change
    loop     the event loop a cycle runs on (uvloop)
"""

from aggregator.update.cycle import FeedResult, UpdateResult, make_pool, update_feeds

__all__ = ["FeedResult", "UpdateResult", "make_pool", "update_feeds"]
