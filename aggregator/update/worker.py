"""What a parse worker does with one changed document: parse, then sketch and tag;
and the pool of them a cycle uses.

The parsing pool runs this in its forked workers; sketching (for
near-duplicates) and tagging (topics) are pure analysis of the parsed
entries, done there too so the writer only stores. The vocabulary is the
pool's shared context: inherited by workers forked after it is built (the
usual case: both are made at a cycle's first body), never sent with a job.
"""

from __future__ import annotations

from aggregator.analysis.vocabulary import Vocabulary
from aggregator.models import FeedData, ParseJob, Settings
from aggregator.parsing.pool import ParsePool

VoicePool = ParsePool[Vocabulary]


def prepare_feed(job: ParseJob, vocabulary: Vocabulary | None) -> FeedData:
    """Parse the document; sketch every new entry; tag it when there is a vocabulary.

    feedparser, the sketch and the tagger are imported here, not at the top:
    the pool loads them in the parent before forking (`preload`), and a
    process that never parses never loads them.
    """
    from aggregator.analysis.identity import words_remembered
    from aggregator.analysis.sketch import sketch_feed
    from aggregator.analysis.tagging import tag_feed
    from aggregator.parsing.parse import parse_feed

    with words_remembered():  # the content keys' words are the shingles' too
        data = sketch_feed(parse_feed(job))
    return tag_feed(data, vocabulary, job.feed_topics) if vocabulary is not None else data


def make_pool(settings: Settings) -> VoicePool:
    """The parse workers a cycle (or a long `voice run`) hands its documents to."""
    return ParsePool(
        workers=settings.parse_workers,
        memory_mb=settings.parse_memory_mb,
        cpu_seconds=settings.parse_cpu_seconds,
        wall_seconds=settings.parse_wall_seconds,
        target=prepare_feed,
        preload=("aggregator.analysis.sketch", "aggregator.analysis.tagging"),
    )
