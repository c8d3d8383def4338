"""Datasette's own pages as Voice serves them: its templates, static files and plugins.

Built the way `voice serve` builds Datasette (metadata.yml, plugins/,
--template-dir templates/, --static voice-static:static/) over a database the
fetcher filled. What a browser and axe make of the pages is tested apart, in
the browser tests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from pathlib import Path

import httpx
import pytest
from datasette.app import Datasette

from aggregator.parsing.pool import ParsePool
from aggregator.registry.site import Site, metadata_for
from aggregator.service import STATIC_MOUNT, datasette_command
from tests.support.feedserver import FeedServer

from .conftest import ROOT
from .test_datasette import build

SITE = Site(ROOT)
INTERNAL_COLUMNS = ["entry_key", "guid", "raw_hash", "url_key", "content_key", "evidence_key"]


@pytest.fixture
def ds(server: FeedServer, db_path: Path, pool: ParsePool) -> Datasette:
    build(server, db_path, pool)
    return Datasette(
        [str(db_path)],
        metadata=metadata_for(SITE, "voice"),
        plugins_dir=str(SITE.plugins),
        template_dir=str(SITE.templates),
        static_mounts=[(STATIC_MOUNT, str(SITE.static))],
    )


def get(ds: Datasette, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        return await ds.client.get(path)

    return asyncio.run(go())


def columns_in_json(ds: Datasette, path: str) -> list[str]:
    response = get(ds, path)
    assert response.status_code == 200, response.text
    columns: list[str] = response.json()["columns"]
    return columns


def columns_in_html(html: str) -> list[str]:
    return re.findall(r'<th [^>]*data-column="([^"]+)"', html)


@pytest.mark.parametrize(
    "path",
    [
        "/voice",
        "/voice/posts",
        "/voice/river",
        "/voice/posts_public",
        "/voice/feeds",
        "/voice/takedowns",
        "/voice/posts/1",
        "/voice?sql=select+1",
        "/join",
    ],
)
def test_every_page_has_a_language_a_skip_link_and_voices_header_and_footer(
    ds: Datasette, path: str
) -> None:
    response = get(ds, path)
    assert response.status_code == 200, response.text
    html = response.text
    assert '<html lang="en">' in html
    assert '<a class="skip-link" href="#main">' in html
    assert '<main id="main"' in html and html.count("<h1") == 1
    assert '<a href="/">LocalGov Digital Voice</a>' in html
    assert '<a href="/connect">Connect your blog</a>' in html
    assert '<a href="/blogs.opml">All blogs as OPML</a>' in html
    assert '<link rel="stylesheet" href="/voice-static/voice.css">' in html


def test_voices_static_files_are_served(ds: Datasette) -> None:
    for name in ("voice.css", "a11y.js"):
        assert get(ds, f"/voice-static/{name}").status_code == 200, name


def test_every_filter_and_sort_control_has_a_label(ds: Datasette) -> None:
    filtered = "_filter_column_1=title&_filter_op_1=contains&_filter_value_1=a"
    html = get(ds, f"/voice/posts?{filtered}").text
    controls = re.findall(r"<(?:select|input)\b[^>]*>", html)
    labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', html))
    for control in controls:
        if re.search(r'type="(hidden|submit|checkbox)"', control):
            continue  # nothing to label, a button, or wrapped in its <label>
        found = re.search(r'\bid="([^"]+)"', control)
        assert found and found[1] in labelled, control


def test_headings_follow_the_h1_in_order(ds: Datasette) -> None:
    for path in ("/voice/posts", "/voice", "/voice?sql=select+1"):
        levels = [int(n) for n in re.findall(r"<h([1-6])\b", get(ds, path).text)]
        assert levels[0] == 1, path
        assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), (path, levels)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("_sort=rank", "Cannot sort table by rank", id="rank-without-search"),
        pytest.param("_sort=nope", "Cannot sort table by nope", id="unknown-column"),
        pytest.param("_sort_desc=nope", "Cannot sort table by nope", id="unknown-desc"),
        pytest.param("_sort=title&_sort_desc=title", "Cannot use _sort and _sort_desc", id="both"),
    ],
)
def test_a_bad_sort_is_a_400_that_says_why(ds: Datasette, query: str, message: str) -> None:
    page = get(ds, f"/voice/posts?{query}")
    assert page.status_code == 400 and message in page.text
    assert '<html lang="en">' in page.text
    answer = get(ds, f"/voice/posts.json?{query}")
    assert answer.status_code == 400
    assert answer.json()["ok"] is False and message in answer.json()["error"]


def test_other_errors_are_left_to_datasette(ds: Datasette) -> None:
    assert get(ds, "/voice/no-such-table").status_code == 404
    assert get(ds, "/voice.json?sql=select+nonsense").status_code == 400


@pytest.mark.parametrize("table", ["posts", "river", "posts_public"])
def test_posts_html_is_shown_formatted_in_every_listing(ds: Datasette, table: str) -> None:
    html = get(ds, f"/voice/{table}").text
    assert 'class="voice-post"' in html or 'class="voice-excerpt"' in html
    assert "&lt;p&gt;" not in html and "&lt;a " not in html
    assert "overflow:auto" not in html  # no scroll box around a post


def test_a_row_page_shows_the_whole_post_and_a_listing_an_excerpt(ds: Datasette) -> None:
    rows = get(ds, "/voice/posts.json?_shape=array&_col=content_html").json()
    long_post = max(rows, key=lambda row: len(row["content_html"] or ""))
    row_page = get(ds, f"/voice/posts/{long_post['id']}").text
    assert long_post["content_html"] in row_page
    listing = get(ds, "/voice/posts").text
    assert long_post["content_html"] not in listing
    assert '<p class="voice-excerpt">' in listing and "…" in listing


def test_internal_columns_are_left_out_unless_asked_for(ds: Datasette) -> None:
    shown = columns_in_json(ds, "/voice/posts.json")
    assert not set(shown) & {*INTERNAL_COLUMNS, "minhash"}
    assert {"id", "title", "url", "published", "content_html", "text"} <= set(shown)
    page = columns_in_html(get(ds, "/voice/posts").text)
    assert "title" in page and "text" not in page and "minhash" not in page
    assert columns_in_json(ds, "/voice/posts.json?_col=title&_col=minhash") == [
        "id",
        "title",
        "minhash",
    ]
    assert set(INTERNAL_COLUMNS) <= set(columns_in_json(ds, "/voice/posts.json?_nocol=title"))
    csv_header = get(ds, "/voice/posts.csv").text.splitlines()[0].split(",")
    assert "minhash" not in csv_header and "title" in csv_header


def test_internal_tables_are_not_listed_on_the_database_page(ds: Datasette) -> None:
    html = get(ds, "/voice").text
    listed = set(re.findall(r'<h3><a href="/voice/([^"]+)">', html))
    assert {"posts", "feeds", "fetches", "post_topics"} <= listed
    assert not listed & {"post_lsh", "_sqlite_migrations", "posts_fts", "posts_fts_data"}
    assert '<a href="/voice/takedowns">takedowns</a>' in html
    assert get(ds, "/voice/post_lsh").status_code == 200  # hidden, not private


def test_the_index_sends_readers_to_the_river(ds: Datasette) -> None:
    assert '<a href="/">latest posts</a>' in get(ds, "/voice").text


@pytest.mark.parametrize(
    "path", ["/voice", "/voice/posts", "/voice/posts/1", "/voice?sql=select+1", "/join"]
)
def test_every_inline_script_is_allowed_by_the_policy(ds: Datasette, path: str) -> None:
    """Voice's copies of Datasette's templates keep its inline scripts, or add their hash."""
    response = get(ds, path)
    policy = response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    script_src = re.search(r"script-src ([^;]*)", policy)
    assert script_src and "unsafe" not in script_src[1]
    inline = re.findall(r"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", response.text, re.DOTALL)
    assert inline
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src[1], script[:80]


def test_voice_serve_gives_datasette_the_templates_and_static_files(tmp_path: Path) -> None:
    with datasette_command(tmp_path / "archive.db", SITE) as cmd:
        pairs = list(zip(cmd, cmd[1:], strict=False))
    assert ("--template-dir", str(SITE.templates)) in pairs
    assert ("--static", f"voice-static:{SITE.static}") in pairs


def test_a_site_without_templates_gets_datasettes_own_pages(tmp_path: Path) -> None:
    (tmp_path / "metadata.yml").write_text("title: Voice\n")
    (tmp_path / "plugins").mkdir()
    with datasette_command(tmp_path / "voice.db", Site(tmp_path)) as cmd:
        assert "--template-dir" not in cmd and "--static" not in cmd


def test_post_titles_link_to_their_reader_page(ds: Datasette) -> None:
    """The posts table's title is a link to /posts/<id>, where the post is readable."""
    page = get(ds, "/voice/posts?_size=3").text
    ids = re.findall(r'href="/posts/(\d+)"', page)
    assert len(ids) == 3, page[:2000]
