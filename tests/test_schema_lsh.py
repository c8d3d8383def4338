"""Migration 0012: a database with text `post_lsh` keys still finds copies after upgrading.

Both databases store the member's own post (tests/data/copies/member.rss);
one is then turned back into what a database before 0012 holds (text keys,
"bNN:" + hex and "t:" + hex, as the code of that time wrote them) and
reopened, which migrates it. The copies that arrive next must be found
through the converted keys exactly as through keys written as integers.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from array import array
from collections.abc import Sequence
from pathlib import Path

from aggregator.analysis import sketch
from aggregator.analysis.identity import title_key
from aggregator.analysis.titles import title_stem, title_unlabelled
from aggregator.parsing.pool import ParsePool
from aggregator.storage import connect
from tests.support.feedserver import FeedServer

from .conftest import rows
from .test_copies import MEMBER, run_in_order, server  # noqa: F401 (server: the fixture)

# Found through title keys (a teaser, a newsletter's issue) or bands (a repost, a guest post).
COPIES = ("aggregator-dash.rss", "team.rss", "guest.rss", "newsletter.rss")


def old_keys(title: str, signature: Sequence[int]) -> list[str]:
    """The text keys Voice wrote before 0012: band keys, then title keys."""
    raw = array("Q", signature[:63])  # 21 bands of 3 values, little-endian
    if sys.byteorder == "big":
        raw.byteswap()
    data = raw.tobytes()

    def digest(band: int) -> str:
        piece = data[band * 24 : band * 24 + 24]
        return hashlib.blake2b(piece, digest_size=8, person=b"rows3").hexdigest()

    bands = [f"b{band:02d}:{digest(band)}" for band in range(21)]
    titles = [title_key(title)]
    titles += [title_key(other) for other in (title_stem(title), title_unlabelled(title)) if other]
    return bands + list(dict.fromkeys(titles))


def back_to_text_keys(db: Path) -> None:
    """Make `db` what it was before 0012: post_lsh with text keys, 0012 not applied."""
    conn = sqlite3.connect(db)
    with conn:
        posts = conn.execute(
            "SELECT id, title, minhash FROM posts WHERE id IN (SELECT post_id FROM post_lsh)"
        ).fetchall()
        conn.execute("DROP TABLE post_lsh")
        conn.execute(
            "CREATE TABLE post_lsh (band TEXT NOT NULL, post_id INTEGER NOT NULL"
            " REFERENCES posts(id), PRIMARY KEY (band, post_id)) WITHOUT ROWID"
        )
        conn.executemany(
            "INSERT INTO post_lsh (band, post_id) VALUES (?, ?)",
            [
                (key, post_id)
                for post_id, title, minhash in posts
                for key in old_keys(title, sketch.unpack(minhash))
            ],
        )
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0012_integer_lsh_keys'")
    conn.close()


def links(db: Path) -> list[tuple]:
    return rows(
        db,
        "SELECT f.url, canon.url, p.duplicate_reason FROM posts p"
        " JOIN feeds f ON f.id = p.feed_id LEFT JOIN posts c ON c.id = p.duplicate_of"
        " LEFT JOIN feeds canon ON canon.id = c.feed_id ORDER BY p.id",
    )


LSH = "SELECT band, post_id, typeof(band) FROM post_lsh ORDER BY band, post_id"


def test_an_old_database_finds_copies_through_its_converted_keys(
    server: FeedServer, pool: ParsePool, tmp_path: Path  # noqa: F811 (test_copies fixture)
) -> None:
    native, migrated = tmp_path / "native" / "voice.db", tmp_path / "migrated" / "voice.db"
    for db in (native, migrated):
        db.parent.mkdir()
        run_in_order(db, pool, server, MEMBER)
    written = rows(native, LSH)
    assert len(written) >= 22 and {kind for _, _, kind in written} == {"integer"}

    back_to_text_keys(migrated)
    assert {kind for _, _, kind in rows(migrated, LSH)} == {"text"}
    assert len(rows(migrated, LSH)) == len(written)
    connect(migrated).close()  # migrates
    assert rows(migrated, LSH) == written  # converted keys are the keys Voice writes now

    for db in (native, migrated):
        run_in_order(db, pool, server, *COPIES)
    found = links(migrated)
    assert found == links(native)
    member_url = server.url(MEMBER)
    copies = {url.rsplit("/", 1)[-1] for url, canonical, _ in found if canonical == member_url}
    assert copies == set(COPIES)
