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
