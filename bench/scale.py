"""Tagging, deduplication and the topic facet at 100,000 posts (issues 4 and 13).

Builds a database of N synthetic posts written straight into SQLite (no
fetching), once: bench/output/scale/base.db for the default 100,000,
scale-1m/base.db for --posts 1000000, reused while N, the seed and the
builder's code are unchanged, with how long building took. Every run
measures a fresh copy of it (voice.db beside it), each step as wall
seconds, CPU seconds, posts per second and milliseconds per post:

- tagging: `tagging.topics_for` over every post, in this process;
- `voice retag`, run as a user runs it, in its own process;
- `voice dedupe --rebuild` over the whole database, in its own process; the
  posts are stored with `minhash` and `evidence_key` NULL, so this includes
  computing every MinHash sketch, as after an upgrade;
- one new post: sketch, insert, `store_duplicates.link_duplicates` and `topics_for`,
  averaged over 50 new posts that are copies of stored ones;
- the Datasette topic facet and `?_topic=` filter on the posts table.

The two commands' peak memory comes from os.wait4; issue 13's lines (each
finishes, peak under 300 MB) print as PASS/FAIL, a finding, not the exit
code. --maintenance-only measures just the two commands and the dedupe
checks (`make bench-1m`). Results go to bench/output/scale.json
(scale-1m.json for a million) as well as the table.

Usage: .venv/bin/python bench/scale.py [--posts N | --quick] [--seed S]
           [--maintenance-only] [--rebuild]
Exits 1 only on a correctness failure (no copies found, a facet timed out).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import random
import resource
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scale_datasette import facet, facet_failures, print_facet  # noqa: E402
from scale_measure import (  # noqa: E402
    Measure,
    copies_found,
    last_run_lines,
    run_voice,
    table_line,
    tag_all,
    targets,
    timed,
)

from aggregator import storage as store  # noqa: E402
from aggregator.analysis import identity as dedupe  # noqa: E402
from aggregator.analysis import sketch  # noqa: E402
from aggregator.analysis.tagging import topics_for  # noqa: E402
from aggregator.analysis.vocabulary import Vocabulary  # noqa: E402
from aggregator.models import FeedSource  # noqa: E402
from aggregator.registry.topics import load_topics  # noqa: E402
from aggregator.storage import duplicates as store_duplicates  # noqa: E402
from aggregator.storage import feeds as store_feeds  # noqa: E402
from aggregator.storage.connection import private_path  # noqa: E402

WORK = ROOT / "bench" / "output"
FEEDS = 500
COPY_SHARE = 0.05
NEW_POSTS = 50
START = datetime(2016, 1, 1, tzinfo=UTC)
SPAN_DAYS = 3650

_WORDS = """
council councils team teams week weeks residents resident people colleagues officer officers
service services website page pages form forms project projects work working worked month
months year plan plans idea ideas meeting meetings conversation conversations question
questions answer answers problem problems change changes budget budgets cabinet member members
ward wards library libraries parking bins waste recycling housing benefits tax planning
highways schools social care adult children families district county borough unitary parish
town city region north south east west midlands yorkshire london wales scotland manager head
director chief executive portfolio holder lead leads board boards morning afternoon afternoon
evening monday tuesday wednesday thursday friday notes post blog share shared sharing learn
learned learning try tried trying test tested small big quick slow better worse good hard easy
simple clear honest open useful real thing things bit lot lots time times day days step steps
first next last new old own other same different whole part really quite still just also again
already often always never sometimes perhaps maybe because although while since until after
before during through across between around about we our us they their them you your it its
this that these those what which who how why when make made making take took taking get got
getting give gave see saw seen know knew think thought feel felt want wanted need needed find
found keep kept start started finish finished tell told ask asked talk talked write wrote
written read build built run ran help helped coffee tea cake whiteboard post-its sticky notes
laptop slides spreadsheet email emails inbox calendar diary queue phone calls contact centre
reception front door desk office
"""
BACKGROUND = _WORDS.split()


@dataclass(frozen=True)
class PostRow:
    """One synthetic post as written to `posts`."""

    feed_id: int
    entry_key: str
    url: str
    title: str
    author: str | None
    published: str
    text: str
    categories: str
    copy_of: int | None  # index of the planted original in the generated list


def _terms(vocabulary: Vocabulary) -> dict[str, list[str]]:
    return {t.slug: [*t.words, *t.phrases] for t in vocabulary.topics if t.words or t.phrases}


def _prose(rnd: random.Random, terms: list[str], words: int) -> str:
    """Sentences of background words with the post's topic terms sprinkled in."""
    sentences, count = [], 0
    while count < words:
        length = rnd.randint(8, 22)
        chunk = rnd.choices(BACKGROUND, k=length)
        if terms and rnd.random() < 0.35:
            chunk.insert(rnd.randrange(length), rnd.choice(terms))
        sentences.append(" ".join(chunk).capitalize() + ".")
        count += length
    paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5)]
    return "\n\n".join(paragraphs)


def _edit(rnd: random.Random, text: str) -> str:
    """A republished copy: a few words changed, a line added at the end."""
    words = text.split(" ")
    for _ in range(max(1, len(words) // 60)):
        words[rnd.randrange(len(words))] = rnd.choice(BACKGROUND)
    return " ".join(words) + "\n\nThis post first appeared on the author's own blog."


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def originals(rnd: random.Random, count: int, vocabulary: Vocabulary) -> Iterator[PostRow]:
    """The first `count` posts, one at a time: a million fit on disk, not in memory."""
    terms = _terms(vocabulary)
    slugs = sorted(terms)
    labels = {t.slug: t.label for t in vocabulary.topics}
    for i in range(count):
        feed_id = i % FEEDS + 1
        main = rnd.sample(slugs, rnd.choice((0, 1, 1, 2)))
        chosen = [t for slug in main for t in terms[slug]]
        moment = START + timedelta(seconds=rnd.randrange(SPAN_DAYS * 86400))
        title_words = rnd.choices(BACKGROUND, k=rnd.randint(3, 8))
        if chosen and rnd.random() < 0.5:
            title_words.append(rnd.choice(chosen))
        cats = [labels[s] for s in main if rnd.random() < 0.4] + rnd.sample(
            ["Weeknotes", "Blog", "News", "Update", "Council", "Team"], rnd.randint(0, 2)
        )
        yield PostRow(
            feed_id=feed_id,
            entry_key=f"guid:post-{i}",
            url=f"https://blog{feed_id}.example.org/{moment:%Y/%m}/post-{i}/",
            title=" ".join(title_words).capitalize(),
            author=f"Member {feed_id}",
            published=_stamp(moment),
            text=_prose(rnd, chosen, rnd.randint(380, 520)),
            categories=json.dumps(cats),
            copy_of=None,
        )


def copy_row(rnd: random.Random, orig: PostRow, index: int, entry_key: str) -> PostRow:
    """The same post republished a day or two later on another feed, with small edits."""
    feed_id = (orig.feed_id + rnd.randrange(1, FEEDS)) % FEEDS + 1
    moment = datetime.strptime(orig.published, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return PostRow(
        feed_id=feed_id,
        entry_key=entry_key,
        url=f"https://team{feed_id}.example.gov.uk/news/{entry_key.split(':')[1]}",
        title=orig.title,
        author=orig.author,
        published=_stamp(moment + timedelta(hours=rnd.randint(1, 72))),
        text=_edit(rnd, orig.text),
        categories=orig.categories,
        copy_of=index,
    )


_INSERT = """
    INSERT INTO posts (feed_id, entry_key, guid, url, title, author, published, updated,
        first_seen_at, content_html, text, region, categories, topics, raw_hash,
        url_key, content_key, evidence_key, minhash, public_key)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'National', ?, '[]', ?, ?, ?, ?, ?, ?)
"""


def _values(r: PostRow, now: str, minhash: bytes | None = None) -> tuple[Any, ...]:
    html = "".join(f"<p>{p}</p>" for p in r.text.split("\n\n"))
    url_key = dedupe.canonical_url(r.url)
    return (
        r.feed_id,
        r.entry_key,
        r.entry_key[5:],
        r.url,
        r.title,
        r.author,
        r.published,
        r.published,
        now,
        html,
        r.text,
        r.categories,
        hashlib.sha256(html.encode()).hexdigest(),
        url_key,
        dedupe.content_key(r.title, r.text),
        None,
        minhash,
        # as storage gives it (every post here has a URL); releases need it
        dedupe.public_key(url_key, f"https://blog{r.feed_id}.example.org/feed/", r.entry_key),
    )


def _fresh(db: Path, now: str) -> sqlite3.Connection:
    """A new database with the FEEDS feeds registered through store_feeds.sync_feeds."""
    for path in (db, private_path(db)):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = store.connect(db)
    # Even feeds are members' own blogs (author set), odd ones team or network blogs.
    sources = [
        FeedSource(
            url=f"https://blog{i}.example.org/feed/",
            region="National",
            author=f"Member {i}" if i % 2 == 0 else None,
            topics=(),
        )
        for i in range(1, FEEDS + 1)
    ]
    store_feeds.sync_feeds(conn, sources, now)
    ids = [r[0] for r in conn.execute("SELECT id FROM feeds ORDER BY id")]
    assert ids == list(range(1, FEEDS + 1)), "feeds did not get ids 1..FEEDS"
    return conn


def _insert(conn: sqlite3.Connection, rows: list[PostRow], now: str) -> None:
    with store.transaction(conn):
        conn.executemany(_INSERT, [_values(r, now) for r in rows])


def stored_row(conn: sqlite3.Connection, index: int) -> PostRow:
    """Original number `index` as stored (what a copy of it is made from)."""
    r = conn.execute(
        "SELECT feed_id, entry_key, url, title, author, published, text, categories"
        " FROM posts WHERE feed_id = ? AND entry_key = ?",
        [index % FEEDS + 1, f"guid:post-{index}"],
    ).fetchone()
    return PostRow(*r, copy_of=None)


def build_streamed(db: Path, n: int, seed: int, vocabulary: Vocabulary, now: str) -> list[int]:
    """N posts over FEEDS feeds, about COPY_SHARE of them copies of another post,
    written in chunks so the posts are never all in memory (minhash left NULL).

    Copies are made from their original as read back from the database.
    Returns each planted copy's original (copy j is `guid:copy-j`, its
    original `guid:post-k`).
    """
    rnd = random.Random(seed)
    copies = int(n * COPY_SHARE)
    conn = _fresh(db, now)
    chunk: list[PostRow] = []
    for row in originals(rnd, n - copies, vocabulary):
        chunk.append(row)
        if len(chunk) == 5000:
            _insert(conn, chunk, now)
            chunk = []
    _insert(conn, chunk, now)
    planted = rnd.sample(range(n - copies), copies)
    chunk = []
    for j, k in enumerate(planted):
        chunk.append(copy_row(rnd, stored_row(conn, k), k, f"guid:copy-{j}"))
        if len(chunk) == 5000:
            _insert(conn, chunk, now)
            chunk = []
    _insert(conn, chunk, now)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return planted


def _builder_digest() -> str:
    """What decides the database's content: the generator's and builder's source."""
    parts = [repr((FEEDS, COPY_SHARE, START, SPAN_DAYS, BACKGROUND, _INSERT))]
    for fn in (_terms, _prose, _edit, _stamp, originals, copy_row, _values, _fresh, _insert):
        parts.append(inspect.getsource(fn))
    parts += [inspect.getsource(stored_row), inspect.getsource(build_streamed)]
    parts.append((ROOT / "topics.yaml").read_text())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Base:
    """A built database to copy from, and what it took to build."""

    path: Path
    planted: list[int]
    build_seconds: float
    built_at: str
    reused: bool


def prepare_base(folder: Path, n: int, seed: int, vocabulary: Vocabulary, rebuild: bool) -> Base:
    """bench/scale.py's database, built once and reused while n, seed and the builder match.

    A million posts take a quarter of an hour or more to build and are
    never changed here (the measurements run on a copy), so a rerun of the
    maintenance commands does not pay for the build again.
    """
    base, stamp = folder / "base.db", folder / "base.json"
    key = {"posts": n, "seed": seed, "builder": _builder_digest()}
    if not rebuild and base.exists() and stamp.exists():
        saved = json.loads(stamp.read_text())
        if saved["key"] == key:
            return Base(base, saved["planted"], saved["build_seconds"], saved["built_at"], True)
    stamp.unlink(missing_ok=True)
    began = time.perf_counter()
    now = _stamp(datetime.now(UTC))
    planted = build_streamed(base, n, seed, vocabulary, now)
    seconds = time.perf_counter() - began
    saved = {"key": key, "build_seconds": seconds, "built_at": now, "planted": planted}
    stamp.write_text(json.dumps(saved) + "\n")
    return Base(base, planted, seconds, now, False)


def fresh_copy(base: Path, db: Path) -> None:
    """The base database and its private file copied to `db`, replacing any earlier copy."""
    for source, target in ((base, db), (private_path(base), private_path(db))):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        if source.exists():
            shutil.copyfile(source, target)


def incremental(db: Path, count: int, vocabulary: Vocabulary, seed: int) -> dict:
    """Sketch, insert, link and tag NEW_POSTS new copies of the `count` originals, one at a time."""
    rnd = random.Random(seed + 1)
    conn = store.connect(db)
    spent = {"sketch": 0.0, "insert": 0.0, "link": 0.0, "tag": 0.0}
    linked = 0
    now = _stamp(datetime.now(UTC))
    for j, k in enumerate(rnd.sample(range(count), NEW_POSTS)):
        new = copy_row(rnd, stored_row(conn, k), k, f"guid:new-{j}")
        t0 = time.perf_counter()
        sig = sketch.pack(sketch.signature(new.text)) or None
        t1 = time.perf_counter()
        with store.transaction(conn):
            cur = conn.execute(_INSERT, _values(new, now, sig))
            t2 = time.perf_counter()
            linked += store_duplicates.link_duplicates(conn, [cur.lastrowid or 0])
        t3 = time.perf_counter()
        topics_for(new.title, new.text, json.loads(new.categories), (), vocabulary)
        t4 = time.perf_counter()
        for key, a, b in (
            ("sketch", t0, t1),
            ("insert", t1, t2),
            ("link", t2, t3),
            ("tag", t3, t4),
        ):
            spent[key] += b - a
    conn.close()
    result: dict[str, Any] = {k: round(v / NEW_POSTS * 1000, 3) for k, v in spent.items()}
    result["ms_per_post_total"] = round(sum(spent.values()) / NEW_POSTS * 1000, 3)
    result["new_posts"] = NEW_POSTS
    result["linked"] = linked
    return result


def folder_for(n: int) -> Path:
    """bench/output/scale/ for the default 100,000 posts, scale-1m/ for a million."""
    if n == 100_000:
        return WORK / "scale"
    return WORK / (f"scale-{n // 1_000_000}m" if n % 1_000_000 == 0 else f"scale-{n}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="5,000 posts")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--rebuild", action="store_true", help="build the database again")
    parser.add_argument(
        "--maintenance-only",
        action="store_true",
        help="only voice retag and voice dedupe --rebuild (and the dedupe checks)",
    )
    args = parser.parse_args(argv)
    n = 5000 if args.quick else args.posts
    folder = folder_for(n)
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "voice.db"  # the file name is Datasette's database name
    vocabulary = load_topics(ROOT / "topics.yaml")
    failures: list[str] = []

    def step(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    step(f"database of {n:,} posts over {FEEDS} feeds (seed {args.seed}) in {folder}")
    base = prepare_base(folder, n, args.seed, vocabulary, args.rebuild)
    how = "reused, built" if base.reused else "built"
    step(f"{how} in {base.build_seconds:.0f} s ({base.built_at}); copying to {db.name}")
    fresh_copy(base.path, db)
    size_mb = db.stat().st_size / 1e6
    measures: list[Measure] = []
    assigned = 0
    if not args.maintenance_only:
        step("tagging in-process")
        tagged, assigned = timed("topics_for, in-process", n, lambda: tag_all(db, vocabulary))
        measures.append(tagged)
    step("voice retag")
    config = ["--config", str(ROOT / "feeds.yaml"), "--db", str(db)]
    retag, retag_out = run_voice("voice retag", n, "retag", *config, check=False)
    step("voice dedupe --rebuild")
    rebuild, rebuild_out = run_voice(
        "voice dedupe --rebuild", n, "dedupe", "--rebuild", *config, check=False
    )
    measures += [retag, rebuild]
    dups = copies_found(db, base.planted)
    if dups["found"] == 0:
        failures.append("dedupe found none of the planted copies")
    step(f"{NEW_POSTS} new posts, one at a time")
    inc = incremental(db, n - len(base.planted), vocabulary, args.seed)
    if inc["linked"] == 0:
        failures.append("no new copy was linked to its original")
    fac: dict[str, Any] = {}
    if not args.maintenance_only:
        step("Datasette topic facet")
        fac = facet(db)
        failures += facet_failures(fac)

    print()
    print(f"{n:,} posts, {FEEDS} feeds, database {size_mb:,.0f} MB, {os.cpu_count()} cores")
    print(
        f"building the database (generate, insert with FTS): {base.build_seconds:,.0f} s"
        f" ({base.build_seconds / n * 1000:.2f} ms per post){', reused' if base.reused else ''}"
    )
    print()
    print("| step | posts | wall s | CPU s | posts/s | ms per post | peak MB |")
    print("|---|---|---|---|---|---|---|")
    for m in measures:
        print(table_line(m))
    print()
    if not args.maintenance_only:
        print(f"topics_for assigned {assigned:,} topics ({assigned / n:.2f} per post)")
    print(f"voice retag: {retag_out}")
    print(f"voice dedupe: {rebuild_out}")
    print(
        f"planted copies: {dups['planted']:,}; linked to their original: {dups['found']:,}"
        f" ({dups['found'] / max(1, dups['planted']):.1%}); other links: {dups['extra']:,}"
    )
    print()
    print(
        f"one new post (mean of {NEW_POSTS}, ms): sketch {inc['sketch']}, insert {inc['insert']},"
        f" link_duplicates {inc['link']}, topics_for {inc['tag']};"
        f" total {inc['ms_per_post_total']};"
        f" {inc['linked']}/{NEW_POSTS} linked"
    )
    if fac:
        print()
        print_facet(fac)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MB")
    print()
    lines = targets([retag, rebuild])
    for t in lines:
        print(f"{'PASS' if t['pass'] else 'FAIL'}: {t['line']} ({t['value']})")
    for f in failures:
        print(f"FAIL: {f}")
    print("PASS: correctness checks" if not failures else f"{len(failures)} check(s) failed")
    if n != 1_000_000:
        print()
        print("\n".join(last_run_lines(WORK / "scale-1m.json")))
    result = {
        "posts": n,
        "run_at": _stamp(datetime.now(UTC)),
        "feeds": FEEDS,
        "seed": args.seed,
        "cores": os.cpu_count(),
        "database_mb": round(size_mb, 1),
        "build": {
            "seconds": round(base.build_seconds, 1),
            "built_at": base.built_at,
            "reused": base.reused,
        },
        "sketches": "minhash and evidence_key stored NULL; voice dedupe --rebuild computes them",
        "measures": [
            {**asdict(m), "posts_per_s": round(m.rate, 1), "ms_per_post": round(m.ms_per_post, 3)}
            for m in measures
        ],
        "targets": lines,
        "topics_assigned": assigned,
        "dedupe": dups,
        "incremental_ms": inc,
        "datasette": fac,
        "failures": failures,
    }
    out = WORK / ("scale.json" if n == 100_000 else f"{folder.name}.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
