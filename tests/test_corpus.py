"""Every document of feedparser's own test corpus, through the parse pool.

Each must come back as FeedData or a ParseError: no other exception, no hang.
The corpus lives outside the repository, in `../shared/corpus/feedparser/` beside the
project (see its README.md).
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.models import ParseJob
from aggregator.parsing.pool import ParsePool

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "feedparser"
FILES = sorted(path for path in CORPUS.rglob("*") if path.suffix in {".xml", ".json"})

# Most documents are small feeds with at least one entry; many sanitize, base
# and entity cases are feed-level only, and illformed/ is meant to fail.
MIN_WITH_ENTRIES = 0.5


def outcome(pool: ParsePool, path: Path) -> str:
    job = ParseJob(
        body=path.read_bytes(),
        url="http://example.org/feed",
        content_type=None,
        fetched_at="2024-06-01T00:00:00Z",
    )
    try:
        data = pool.parse(job)
    except ParseError as error:
        return f"ParseError({error.kind})"
    return "entries" if data.entries else "no entries"


@pytest.mark.skipif(not FILES, reason=f"feedparser corpus not found at {CORPUS}")
def test_every_corpus_document_parses_or_fails_cleanly() -> None:
    with ParsePool(workers=2, wall_seconds=10) as pool, ThreadPoolExecutor(2) as threads:
        outcomes = list(threads.map(lambda path: outcome(pool, path), FILES))
    counts = Counter(outcomes)
    print(f"\n{len(FILES)} corpus documents: {dict(counts.most_common())}")
    failures = [
        f"{path.relative_to(CORPUS)}: {result}"
        for path, result in zip(FILES, outcomes, strict=True)
        if result.startswith("ParseError(worker")
    ]
    assert not failures, failures
    assert counts["entries"] >= MIN_WITH_ENTRIES * len(FILES)
