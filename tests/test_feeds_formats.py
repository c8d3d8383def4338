"""Feeds of the reader pages, read the way feed readers read them.

A real database is built by the fetcher from three blogs served on
127.0.0.1, fetched twice so the river holds new posts; then one post and one
whole blog are taken down with `voice remove`. Every feed URL must parse
with feedparser without complaint, follow RFC 4287 (Atom) or JSON Feed 1.1,
keep entry ids across renders, app instances and hosts, answer 304 to a
matching ETag, leave out what was taken down and refuse bad arguments. A
second database built from tests/data/hostile must still give well-formed
feeds with no active links. /blogs.opml must list each member's own feed,
and each of those must parse as a feed when fetched.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import httpx
import pytest
from click.testing import CliRunner
from datasette.app import Datasette

from aggregator.cli import cli
from aggregator.registry.site import Site, metadata_for
from tests.support.feedserver import FeedServer

from .conftest import DATA, DEMO_FEEDS, ROOT

sys.path.insert(0, str(ROOT / "plugins"))
from reader import syndication  # noqa: E402

A = "{http://www.w3.org/2005/Atom}"
ID = re.compile(r"^tag:localgov\.digital,2026:post/\d+$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ABSOLUTE = re.compile(r"^https?://[^/\s]+")
SECRET_REASON = "asked by Ms Xanthippe Odd"


def invoke(*args: str) -> None:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output


@dataclass(frozen=True)
class Site_:
    db: Path
    server: FeedServer
    removed: tuple[str, ...]  # titles and URLs that must never appear
    blog_slug: str


def build(server: FeedServer, folder: Path, feeds: list[tuple[str, str, str]]) -> Path:
    """Fetch `feeds` ((file, region, topics)) from `server` into a new database."""
    config = folder / "feeds.yaml"
    lines = ["settings:", "  host_gap_seconds: 0", "feeds:"]
    for name, region, topics in feeds:
        lines += [f"  - url: {server.url(name)}", f"    region: {region}"]
        lines += [f"    topics: [{topics}]"] if topics else []
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = folder / "voice.db"
    invoke("fetch", "--all", "--allow-private-hosts", "--config", str(config), "--db", str(db))
    return db


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site_]:
    folder = tmp_path_factory.mktemp("feeds")
    files = folder / "site"
    shutil.copytree(DEMO_FEEDS, files)
    shutil.copy(DATA / "update" / "blog.rss", files / "blog.rss")
    with FeedServer(files) as server:
        feeds = [
            ("philrumens.atom", "South East", "open-data"),
            ("localgov-digital.rss", "London", "open-data"),
            ("blog.rss", "London", "open-data"),
        ]
        db = build(server, folder, feeds)
        # A week later: new posts, so the river (no back catalogues) has some.
        shutil.copy(DATA / "update" / "blog-next-week.rss", files / "blog.rss")
        args = ["--config", str(folder / "feeds.yaml"), "--db", str(db)]
        invoke("fetch", "--all", "--allow-private-hosts", *args)
        conn = sqlite3.connect(db)
        post_id, title, url = conn.execute(
            "SELECT id, title, url FROM river ORDER BY id DESC LIMIT 1"
        ).fetchone()
        blog_titles = conn.execute(
            "SELECT p.title, p.url FROM posts p JOIN feeds f ON f.id = p.feed_id WHERE f.url = ?",
            [server.url("localgov-digital.rss")],
        ).fetchall()
        (slug,) = conn.execute(
            "SELECT slug FROM feeds WHERE url = ?", [server.url("philrumens.atom")]
        ).fetchone()
        conn.close()
        invoke("remove", str(post_id), "--reason", SECRET_REASON, *args)
        invoke("remove", server.url("localgov-digital.rss"), "--reason", SECRET_REASON, *args)
        removed = (title, url, server.url("localgov-digital.rss"))
        removed += tuple(v for row in blog_titles for v in row if v)
        yield Site_(db=db, server=server, removed=removed, blog_slug=slug)


def app(db: Path) -> Datasette:
    return Datasette(
        [str(db)],
        metadata=metadata_for(Site(ROOT), "voice"),
        plugins_dir=str(ROOT / "plugins"),
        template_dir=str(ROOT / "templates"),
    )


def get(ds: Datasette, path: str, **headers: str) -> httpx.Response:
    return asyncio.run(ds.client.get(path, headers=headers))


def entry_ids(response: httpx.Response) -> list[str]:
    """The ids a feed reader sees: feedparser for Atom, json for JSON Feed.

    feedparser 6.0 (the newest release) does not read JSON Feed; JSON feeds
    are checked against the JSON Feed 1.1 spec by check_json instead.
    """
    if response.headers["content-type"].startswith("application/feed+json"):
        return [item["id"] for item in json.loads(response.content)["items"]]
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return [entry.id for entry in parsed.entries]


def feed_paths(slug: str) -> list[str]:
    paths = []
    for fmt in ("atom", "json"):
        paths += [
            f"/feed.{fmt}",
            f"/topics/open-data.{fmt}",
            f"/regions/london.{fmt}",
            f"/regions/south-east.{fmt}",
            f"/blogs/{slug}.{fmt}",
            f"/search.{fmt}?q=digital",
            f"/topics/open-data.{fmt}?region=london",
            f"/regions/south-east.{fmt}?topic=open-data&q=digital",
        ]
    return paths


def test_every_feed_parses_without_complaint(site: Site_) -> None:
    ds = app(site.db)
    for path in feed_paths(site.blog_slug):
        response = get(ds, path)
        assert response.status_code == 200, (path, response.text)
        expected = "application/atom+xml" if ".atom" in path else "application/feed+json"
        assert response.headers["content-type"].startswith(expected), path
        ids = entry_ids(response)
        assert ids and len(ids) <= 50, path
        assert all(ID.match(i) for i in ids), path
        assert ids == sorted(ids, key=lambda i: -int(i.rsplit("/", 1)[1]))  # newest first


def test_entry_ids_never_change_with_render_instance_or_host(site: Site_) -> None:
    first, second = app(site.db), app(site.db)
    for path in ("/feed.atom", "/topics/open-data.json", f"/blogs/{site.blog_slug}.atom"):
        renders = [
            get(first, path),
            get(first, path),
            get(second, path),
            get(second, path, host="voice.example.org"),
        ]
        ids = [entry_ids(r) for r in renders]
        assert ids[0] and all(i == ids[0] for i in ids), path
        assert renders[0].content == renders[2].content  # the same bytes, so the same ETag
        assert "voice.example.org" in renders[3].text  # links follow the host; ids do not
    assert feedparser.parse(renders[0].content).feed.id.startswith("tag:localgov.digital,2026:")


def one(parent: ET.Element, name: str) -> ET.Element:
    found = parent.findall(A + name)
    assert len(found) == 1, (name, len(found))
    return found[0]


class Links(HTMLParser):
    """Every href and src in an HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v or "" for k, v in attrs if k in ("href", "src")]


def links_in(html: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    parser.close()
    return parser.urls


def check_atom(body: bytes) -> list[str]:
    """RFC 4287's musts for a feed and its entries; gives every URL the feed holds."""
    feed = ET.fromstring(body)
    assert feed.tag == A + "feed"
    for name in ("id", "title", "updated"):
        assert one(feed, name).text
    assert RFC3339.match(one(feed, "updated").text or "")
    rels = {link.get("rel"): link.get("href") or "" for link in feed.findall(A + "link")}
    assert set(rels) >= {"self", "alternate"}
    assert one(one(feed, "author"), "name").text
    urls = list(rels.values())
    for entry in feed.findall(A + "entry"):
        assert ID.match(one(entry, "id").text or "")
        assert one(entry, "title").text
        for name in ("updated", "published"):
            assert RFC3339.match(one(entry, name).text or "")
        assert one(one(entry, "author"), "name").text
        for category in entry.findall(A + "category"):
            assert category.get("term") and category.get("label")
        content = one(entry, "content")
        assert content.get("type") == "html" and len(content) == 0  # escaped, no elements
        urls += [link.get("href") or "" for link in entry.findall(A + "link")]
        urls += links_in(content.text or "")
    return urls


def check_json(body: bytes) -> list[str]:
    """JSON Feed 1.1's required keys and types; gives every URL the feed holds."""
    feed = json.loads(body)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(feed["title"], str) and feed["title"]
    urls = [feed["home_page_url"], feed["feed_url"]]
    assert isinstance(feed["items"], list)
    for item in feed["items"]:
        assert ID.match(item["id"])
        assert isinstance(item["title"], str)
        assert isinstance(item["content_html"], str)
        assert RFC3339.match(item["date_published"]) and RFC3339.match(item["date_modified"])
        assert all(isinstance(a["name"], str) and a["name"] for a in item["authors"])
        assert all(isinstance(t, str) for t in item.get("tags", []))
        urls += [item[k] for k in ("url",) if k in item]
        urls += [a["url"] for a in item["authors"] if "url" in a]
        urls += links_in(item["content_html"])
    return urls


def test_atom_follows_rfc_4287_and_json_feed_1_1(site: Site_) -> None:
    ds = app(site.db)
    for path in feed_paths(site.blog_slug):
        body = get(ds, path).content
        urls = check_atom(body) if ".atom" in path else check_json(body)
        own = [u for u in urls if "127.0.0.1" in u or "localhost" in u]
        assert own, path  # self and alternate links are there
        assert all(ABSOLUTE.match(u) for u in urls if not u.startswith("mailto:")), path


def test_a_new_post_and_a_cache_hit(site: Site_) -> None:
    ds = app(site.db)
    response = get(ds, "/feed.atom")
    assert response.headers["cache-control"] == "public, max-age=300"
    tag, modified = response.headers["etag"], response.headers["last-modified"]
    assert parsedate_to_datetime(modified)
    assert get(ds, "/feed.atom", **{"if-none-match": tag}).status_code == 304
    assert get(ds, "/feed.atom", **{"if-none-match": f"W/{tag}"}).status_code == 304
    assert get(ds, "/feed.atom", **{"if-modified-since": modified}).status_code == 304
    assert get(ds, "/feed.atom", **{"if-none-match": '"other"'}).status_code == 200
    assert get(ds, "/feed.json").headers["etag"] != tag


def test_taken_down_posts_and_blogs_are_in_no_feed(site: Site_) -> None:
    ds = app(site.db)
    bodies = [get(ds, p).text for p in [*feed_paths(site.blog_slug), "/blogs.opml"]]
    bodies += [get(ds, f"/search.{f}?q=weeknotes").text for f in ("atom", "json")]
    leaks = [s for s in site.removed for body in bodies if s and s.lower() in body.lower()]
    assert leaks == []


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/search.atom", 400),
        ("/search.json?q=", 400),
        ("/feed.atom?since=yesterday", 400),
        ("/feed.json?until=2026-13-45", 400),
        ("/topics/no-such-topic.atom", 404),
        ("/regions/atlantis.json", 404),
        ("/blogs/no-such-blog.atom", 404),
        ("/feed.atom?region=atlantis", 400),
    ],
)
def test_bad_arguments_are_refused_in_plain_words(site: Site_, path: str, status: int) -> None:
    response = get(app(site.db), path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.strip() and "<" not in response.text


def test_blogs_opml_imports_into_a_feed_reader(site: Site_) -> None:
    response = get(app(site.db), "/blogs.opml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/x-opml; charset=utf-8"
    assert response.headers["etag"]
    opml = ET.fromstring(response.content)
    assert opml.tag == "opml" and opml.get("version") == "2.0"
    head = opml.find("head")
    assert head is not None and head.findtext("title")
    assert parsedate_to_datetime(head.findtext("dateCreated") or "")
    regions = opml.find("body")
    assert regions is not None
    assert [r.get("text") for r in regions] == ["London", "South East"]
    outlines = [o for region in regions for o in region]
    assert len(outlines) == 2  # the blog taken down is not listed
    for outline in outlines:
        assert outline.get("type") == "rss" and outline.get("text") and outline.get("title")
        parsed = feedparser.parse(httpx.get(outline.get("xmlUrl") or "").content)
        assert not parsed.bozo and parsed.version and parsed.entries, outline.get("xmlUrl")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("hostile")
    names = ["active-content.atom", "active-content.rss", "dates.rss", "duplicate-guids.rss"]
    names += ["no-identity.rss", "remote-images.rss", "valid.rss", "seed.rss"]
    with FeedServer(DATA / "hostile") as server:
        db = build(server, folder, [(n, "Wales", "open-data") for n in names])
    conn = sqlite3.connect(db)
    # What XML may not hold, in every field a feed shows.
    conn.execute(
        "UPDATE posts SET title = 'Bell' || char(7) || ' and ' || char(65534) || ' tab',"
        " author = 'Form' || char(12) || 'feed', summary_html = '<p>a' || char(1) || 'b</p>',"
        " text = 'Vertical' || char(11) || 'tab ]]> </content> &amp;'"
        " WHERE id = (SELECT min(id) FROM posts_public)"
    )
    conn.commit()
    conn.close()
    yield db


def test_hostile_posts_keep_feeds_well_formed_and_inert(hostile: Path) -> None:
    ds = app(hostile)
    for fmt in ("atom", "json"):
        for path in (f"/regions/wales.{fmt}", f"/topics/open-data.{fmt}?region=wales"):
            response = get(ds, path)
            assert response.status_code == 200, response.text
            assert len(entry_ids(response)) >= 10, path
            urls = check_atom(response.content) if fmt == "atom" else check_json(response.content)
            bad = [u for u in urls if re.match(r"(?i)\s*(javascript|data|vbscript):", u)]
            assert bad == [] and all(ABSOLUTE.match(u) or u.startswith("mailto:") for u in urls)
            assert "Bell and \ufffe" not in response.text and "Bell and  tab" in response.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("bell\x07, form\x0c, nul\x00", "bell, form, nul"),
        ("kept\ttab\nnewline\r", "kept\ttab\nnewline\r"),
        ("\ufffe\uffff\ud800", ""),
        ("Café ⁂ 😀", "Café ⁂ 😀"),
    ],
)
def test_text_loses_only_what_xml_forbids(value: str, expected: str) -> None:
    assert syndication.clean(value) == expected


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://blog.example/post", True),
        ("http://blog.example", True),
        ("javascript:alert(1)", False),
        ("data:text/html,x", False),
        ("//blog.example/post", False),
        ("/relative", False),
        (None, False),
    ],
)
def test_only_absolute_web_links_are_written(url: str | None, kept: bool) -> None:
    assert (syndication.web_url(url) is not None) == kept


def test_a_card_holding_anything_still_makes_well_formed_documents() -> None:
    from reader.cards import Card

    card = Card(
        id=7,
        title="<b>Bold</b> \x00\x1b]]>\ufffe &amp; \ud83d",
        url="javascript:alert(1)",
        blog_title="Blog \x0b",
        blog_slug="blog",
        blog_site_url="data:text/html,x",
        author=None,
        organisation=None,
        region=None,
        region_slug=None,
        published="yesterday",
        updated=None,
        first_seen_at="2026-11-21T08:47:00Z",
        excerpt="Plain <text> & more \x07",
        summary_html='<a href="javascript:alert(1)">x</a>',
        content_html="<script>never used</script>",
        topics=(("open-data", "Open \x01data"),),
        copies=(),
        snippet_html=None,
    )
    head = syndication.FeedHead(
        "river", "Voice \x02", "https://v.example/feed.atom", "https://v.example/"
    )
    atom = syndication.atom_feed(head, [card])
    urls = check_atom(atom)
    assert not feedparser.parse(atom).bozo
    document = syndication.json_feed(head, [card])
    urls += check_json(document)
    assert sorted(urls) == ["https://v.example/"] * 2 + ["https://v.example/feed.atom"] * 2
    for body in (atom, document):
        assert b"javascript" not in body and b"never used" not in body and b"data:" not in body
    item = json.loads(document)["items"][0]
    assert item["date_published"] == "2026-11-21T08:47:00Z"  # a bad date falls back
    assert item["content_html"] == "<p>Plain &lt;text&gt; &amp; more</p>"
