"""Tagging, deduplication and the topic facet at 100,000 posts (issue 4's benchmark).

Builds bench/output/scale/voice.db with N synthetic posts written straight into
SQLite (no fetching), then measures, each as wall seconds, CPU seconds and
posts per second:

- tagging: `tagging.topics_for` over every post, in this process;
- `voice retag`, run as a user runs it, in its own process;
- `voice dedupe --rebuild` over the whole database, in its own process; the
  posts are stored with `minhash` and `evidence_key` NULL, so this includes
  computing every MinHash sketch, as after an upgrade;
- one new post: sketch, insert, `store_duplicates.link_duplicates` and `topics_for`,
  averaged over 50 new posts that are copies of stored ones;
- the Datasette topic facet and `?_topic=` filter on the posts table.

Usage: .venv/bin/python bench/scale.py [--posts N | --quick] [--seed S]
Exits 1 only on a correctness failure (no copies found, a facet timed out).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aggregator import storage as store  # noqa: E402
from aggregator.analysis import identity as dedupe  # noqa: E402
from aggregator.analysis import sketch  # noqa: E402
from aggregator.analysis.tagging import topics_for  # noqa: E402
from aggregator.analysis.vocabulary import Vocabulary  # noqa: E402
from aggregator.models import FeedSource  # noqa: E402
from aggregator.registry.topics import load_topics  # noqa: E402
from aggregator.storage import duplicates as store_duplicates  # noqa: E402
from aggregator.storage import feeds as store_feeds  # noqa: E402

WORK = ROOT / "bench" / "output"
VOICE = ROOT / ".venv" / "bin" / "voice"
FEEDS = 500
COPY_SHARE = 0.05
NEW_POSTS = 50
FACET_TOPICS = ("open-data", "user-research", "procurement")
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


@dataclass
class Measure:
    name: str
    wall: float
    cpu: float
    posts: int

    @property
    def rate(self) -> float:
        return self.posts / self.wall if self.wall else 0.0


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


def generate(n: int, seed: int, vocabulary: Vocabulary) -> list[PostRow]:
    """N posts over FEEDS feeds; about COPY_SHARE of them are copies of another post."""
    rnd = random.Random(seed)
    terms = _terms(vocabulary)
    slugs = sorted(terms)
    labels = {t.slug: t.label for t in vocabulary.topics}
    rows: list[PostRow] = []
    copies = int(n * COPY_SHARE)
    for i in range(n - copies):
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
        rows.append(
            PostRow(
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
        )
    originals = rnd.sample(range(len(rows)), copies)
    for j, k in enumerate(originals):
        rows.append(copy_row(rnd, rows[k], k, f"guid:copy-{j}"))
    return rows


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
        url_key, content_key, evidence_key, minhash)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'National', ?, '[]', ?, ?, ?, ?, ?)
"""


def _values(r: PostRow, now: str, minhash: bytes | None = None) -> tuple[Any, ...]:
    html = "".join(f"<p>{p}</p>" for p in r.text.split("\n\n"))
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
        dedupe.canonical_url(r.url),
        dedupe.content_key(r.title, r.text),
        None,
        minhash,
    )


def build(db: Path, rows: list[PostRow], now: str) -> None:
    """Feeds through store_feeds.sync_feeds; posts inserted directly (minhash left NULL)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
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
    for start in range(0, len(rows), 5000):
        with store.transaction(conn):
            conn.executemany(_INSERT, [_values(r, now) for r in rows[start : start + 5000]])
    conn.close()


def timed(name: str, posts: int, fn: Callable[[], Any]) -> tuple[Measure, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return Measure(name, time.perf_counter() - wall, time.process_time() - cpu, posts), result


def run_voice(name: str, posts: int, *args: str) -> tuple[Measure, str]:
    """A voice command in its own process; CPU from os.wait4 (children included)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(VOICE), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"voice {' '.join(args)} failed ({proc.returncode}):\n{out}")
    return Measure(name, wall, usage.ru_utime + usage.ru_stime, posts), out.strip()


def tag_all(db: Path, vocabulary: Vocabulary) -> int:
    conn = sqlite3.connect(db)
    assigned = 0
    for title, text, cats in conn.execute("SELECT title, text, categories FROM posts"):
        assigned += len(topics_for(title, text, json.loads(cats), (), vocabulary))
    conn.close()
    return assigned


def copies_found(db: Path, rows: list[PostRow]) -> dict[str, int]:
    """Planted pairs linked into one cluster, and links that are not planted pairs."""
    conn = sqlite3.connect(db)
    root = {
        key: dup or pid
        for pid, key, dup in conn.execute("SELECT id, entry_key, duplicate_of FROM posts")
    }
    linked = conn.execute("SELECT count(duplicate_of) FROM posts").fetchone()[0]
    conn.close()
    planted = [(r.entry_key, rows[r.copy_of].entry_key) for r in rows if r.copy_of is not None]
    found = sum(1 for a, b in planted if root[a] == root[b])
    return {"planted": len(planted), "found": found, "linked": linked, "extra": linked - found}


def incremental(db: Path, rows: list[PostRow], vocabulary: Vocabulary, seed: int) -> dict:
    """Sketch, insert, link and tag NEW_POSTS new copies one at a time, as a fetch would."""
    rnd = random.Random(seed + 1)
    conn = store.connect(db)
    originals = [i for i, r in enumerate(rows) if r.copy_of is None]
    spent = {"sketch": 0.0, "insert": 0.0, "link": 0.0, "tag": 0.0}
    linked = 0
    now = _stamp(datetime.now(UTC))
    for j, k in enumerate(rnd.sample(originals, NEW_POSTS)):
        new = copy_row(rnd, rows[k], k, f"guid:new-{j}")
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


async def _facet(db: Path) -> dict[str, Any]:
    from datasette.app import Datasette
    from ruamel.yaml import YAML

    metadata = YAML(typ="safe").load((ROOT / "metadata.yml").read_text())
    # The same SQL and facet time limits `voice serve` sets.
    ds = Datasette(
        [str(db)],
        metadata=metadata,
        plugins_dir=str(ROOT / "plugins"),
        settings={"sql_time_limit_ms": 3000, "facet_time_limit_ms": 1000, "suggest_facets": False},
    )
    await ds.invoke_startup()
    out: dict[str, Any] = {}
    for key, path in (
        ("facet", "/voice/posts.json?_size=0"),
        ("html", "/voice/posts?_size=0"),
        ("filter", "/voice/posts.json?_topic=open-data&_size=10"),
    ):
        wall, cpu = time.perf_counter(), time.process_time()
        response = await ds.client.get(path)
        out[key] = {
            "path": path,
            "status": response.status_code,
            "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu,
            "json": response.json() if key != "html" and response.status_code == 200 else {},
            "text": response.text if key == "html" else "",
        }
    return out


def facet(db: Path) -> dict[str, Any]:
    got = asyncio.run(_facet(db))
    page = got["facet"]["json"]
    results = page.get("facet_results", {})
    if "results" in results:  # Datasette 1.0 nests them
        results = results["results"]
    topic_values = {v["value"]: v["count"] for v in results.get("topics", {}).get("results", [])}
    # Datasette 0.65 names timed-out facets only on the HTML page; in JSON a
    # timed-out facet is just missing from facet_results.
    timed_out = list(page.get("facets_timed_out", []))
    if "topics" not in results:
        timed_out.append("topics (missing from facet_results)")
    if "facets-timed-out" in got["html"]["text"] or got["html"]["status"] != 200:
        timed_out.append(f"HTML page: status {got['html']['status']} or facets timed out")
    conn = sqlite3.connect(db)
    # The posts table shows canonical, visible posts only (plugins/voice_public.py).
    truth = dict(
        conn.execute(
            "SELECT topic, count(*) FROM post_topics WHERE post_id IN"
            " (SELECT id FROM posts WHERE hidden = 0 AND duplicate_of IS NULL) GROUP BY topic"
        ).fetchall()
    )
    conn.close()
    return {
        "facet_wall": got["facet"]["wall"],
        "facet_cpu": got["facet"]["cpu"],
        "facet_status": got["facet"]["status"],
        "facets_timed_out": timed_out,
        "html_wall": got["html"]["wall"],
        "topic_counts": {t: topic_values.get(t) for t in FACET_TOPICS},
        "post_topics_counts": {t: truth.get(t, 0) for t in FACET_TOPICS},
        "filter_wall": got["filter"]["wall"],
        "filter_cpu": got["filter"]["cpu"],
        "filter_status": got["filter"]["status"],
        "filter_rows": len(got["filter"]["json"].get("rows", [])),
        "filter_count": got["filter"]["json"].get("filtered_table_rows_count"),
    }


def _line(m: Measure) -> str:
    return f"| {m.name} | {m.posts} | {m.wall:.2f} | {m.cpu:.2f} | {m.rate:,.0f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="5,000 posts")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args(argv)
    n = 5000 if args.quick else args.posts
    (WORK / "scale").mkdir(parents=True, exist_ok=True)
    db = WORK / "scale" / "voice.db"  # the file name is Datasette's database name
    now = _stamp(datetime.now(UTC))
    vocabulary = load_topics(ROOT / "topics.yaml")
    failures: list[str] = []

    def step(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    step(f"generating {n:,} posts over {FEEDS} feeds (seed {args.seed})")
    gen, rows = timed("generate", n, lambda: generate(n, args.seed, vocabulary))
    step(f"building {db.relative_to(ROOT)}")
    built, _ = timed("build database", n, lambda: build(db, rows, now))
    size_mb = db.stat().st_size / 1e6
    step("tagging in-process")
    tagged, assigned = timed("topics_for, in-process", n, lambda: tag_all(db, vocabulary))
    step("voice retag")
    config = ["--config", str(ROOT / "feeds.yaml"), "--db", str(db)]
    retag, retag_out = run_voice("voice retag", n, "retag", *config)
    step("voice dedupe --rebuild")
    rebuild, rebuild_out = run_voice("voice dedupe --rebuild", n, "dedupe", "--rebuild", *config)
    dups = copies_found(db, rows)
    if dups["found"] == 0:
        failures.append("dedupe found none of the planted copies")
    step(f"{NEW_POSTS} new posts, one at a time")
    inc = incremental(db, rows, vocabulary, args.seed)
    if inc["linked"] == 0:
        failures.append("no new copy was linked to its original")
    step("Datasette topic facet")
    fac = facet(db)
    if fac["facet_status"] != 200 or fac["facets_timed_out"]:
        failures.append(
            f"topic facet: status {fac['facet_status']}, timed out {fac['facets_timed_out']}"
        )
    if fac["topic_counts"] != fac["post_topics_counts"]:
        failures.append(
            f"facet counts {fac['topic_counts']} != post_topics {fac['post_topics_counts']}"
        )
    if fac["filter_status"] != 200 or not fac["filter_rows"]:
        failures.append(
            f"?_topic=open-data: status {fac['filter_status']}, {fac['filter_rows']} rows"
        )

    measures = [gen, built, tagged, retag, rebuild]
    print()
    print(f"{n:,} posts, {FEEDS} feeds, database {size_mb:,.0f} MB, {os.cpu_count()} cores")
    print()
    print("| step | posts | wall s | CPU s | posts/s |")
    print("|---|---|---|---|---|")
    for m in measures:
        print(_line(m))
    print()
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
    print()
    print(
        f"Datasette /voice/posts.json?_size=0 (topic facet):"
        f" {fac['facet_wall'] * 1000:.0f} ms wall,"
        f" {fac['facet_cpu'] * 1000:.0f} ms CPU, status {fac['facet_status']},"
        f" facets_timed_out {fac['facets_timed_out']}"
    )
    print(f"Datasette /voice/posts?_size=0 (HTML page): {fac['html_wall'] * 1000:.0f} ms wall")
    print(f"  topic counts {fac['topic_counts']} (post_topics: {fac['post_topics_counts']})")
    print(
        f"Datasette ?_topic=open-data&_size=10: {fac['filter_wall'] * 1000:.0f} ms wall,"
        f" {fac['filter_cpu'] * 1000:.0f} ms CPU, {fac['filter_rows']} rows of"
        f" {fac['filter_count']}"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MB")
    print()
    for f in failures:
        print(f"FAIL: {f}")
    print("PASS: correctness checks" if not failures else f"{len(failures)} check(s) failed")
    result = {
        "posts": n,
        "feeds": FEEDS,
        "seed": args.seed,
        "database_mb": round(size_mb, 1),
        "sketches": "minhash and evidence_key stored NULL; voice dedupe --rebuild computes them",
        "measures": [{**asdict(m), "posts_per_s": round(m.rate, 1)} for m in measures],
        "topics_assigned": assigned,
        "dedupe": dups,
        "incremental_ms": inc,
        "datasette": fac,
        "failures": failures,
    }
    (WORK / "scale.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {(WORK / 'scale.json').relative_to(ROOT)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
