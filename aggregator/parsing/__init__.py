"""The parsing stage: a fetched document in, a sanitised `FeedData` out.

Everything a feed says is hostile until it has been through here. Documents
are parsed in worker processes with memory, CPU and time limits, so a
hostile one costs only its own feed.

- `parse`: parse_feed, the only user of feedparser; caps, notes, not-a-feed.
- `entries`: one entry normalised: identity, raw hash, dates, links, text.
- `blocks`: finds each entry's bytes, so unchanged entries skip feedparser.
- `entities`: refuses DTD entity declarations in any encoding.
- `expat`: the buffered SAX driver feedparser is given.
- `sanitize`: safe HTML and plain text; the only user of nh3.
- `pool`: the limited worker processes; what a worker runs is its target.

Nothing is imported here: feedparser loads only when a document is parsed.
"""

# Which rules stored posts were cleaned by (`sanitize`): bump it when a change
# there must reach posts already stored (update.upkeep re-cleans them once).
# 2: images only from the feed's own host, bidi controls stripped. It lives
# here so that every cycle's check of it loads neither nh3 nor the sanitiser.
SANITIZE_RULES_VERSION = "2"
