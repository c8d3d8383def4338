"""The /connect form and a member's status page over HTTP, against a real Datasette.

Datasette runs as `voice run` runs it (tests/support/live.py), so the form's
commands (`voice try`, `voice submissions new`, `voice member ...`) run as
real subprocesses on a real feeds.yaml, database and submissions file. The
member's blog is a home page and its feed served on 127.0.0.1. Sites that
allow private hosts stand for an intranet or demo instance; the others keep
the address guard on, as a public Voice does. The per-client limits on status
pages run Voice's Datasette in this process instead, with `voice member show`
answered at once, so 120 views need no 120 subprocesses.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager, suppress
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import httpx
import pytest
from datasette.app import Datasette
from datasette.plugins import pm

from aggregator.registry.site import Site as VoiceSite
from aggregator.registry.site import metadata_for
from aggregator.service import STATIC_MOUNT
from plugins.connect.guard import client_key
from tests.support.feedserver import FeedServer, Raw
from tests.support.live import live_datasette, run_voice

from .conftest import DATA, ROOT

BLOG = DATA / "connect"  # a blog's home page advertising its Atom feed
SECRET_EMAIL = "sam.private@example.org"
HANG_SECONDS = 60.0  # only ends a hang


class Site(NamedTuple):
    base: str
    db: Path
    config: Path
    blog: FeedServer

    @property
    def submissions(self) -> Path:
        return self.db.with_name(f"{self.db.stem}-submissions.db")


@contextmanager
def blog_server() -> Iterator[FeedServer]:
    with FeedServer(BLOG) as server:
        home = (BLOG / "index.html").read_bytes()
        server.route("/", Raw(home, {"Content-Type": "text/html; charset=utf-8"}))
        yield server


@contextmanager
def connect_site(folder: Path, *, allow_private_hosts: bool) -> Iterator[Site]:
    """An empty Voice (topics only) serving /connect, and a member's blog on 127.0.0.1."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "topics.yaml", folder / "topics.yaml")
    config = folder / "feeds.yaml"
    config.write_text("settings:\n  host_gap_seconds: 0\nfeeds: []\n", encoding="utf-8")
    db = folder / "voice.db"
    run_voice("fetch", "--config", config, "--db", db)  # creates the database and its topics
    with (
        blog_server() as blog,
        live_datasette(
            db, log=folder / "datasette.log", config=config, allow_private_hosts=allow_private_hosts
        ) as base,
    ):
        yield Site(base, db, config, blog)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A public Voice: the address guard on, as without --allow-private-hosts."""
    with connect_site(tmp_path_factory.mktemp("guarded"), allow_private_hosts=False) as site:
        yield site


def submit_by_cli(site: Site, url: str | None = None) -> dict[str, Any]:
    """A real submission, as `voice submissions new` stores one (allowed to fetch 127.0.0.1)."""
    done = subprocess.run(
        [sys.executable, "-m", "aggregator", "submissions", "new", "--config", str(site.config)]
        + ["--db", str(site.db), "--allow-private-hosts"],
        input=json.dumps({**answers(url or site.blog.url("/")), "research": True}),
        capture_output=True,
        text=True,
        timeout=HANG_SECONDS,
    )
    answer: dict[str, Any] = json.loads(done.stdout)
    assert answer["ok"], answer
    return answer


@pytest.fixture(scope="module")
def member(guarded: Site) -> str:
    """The status token of the one member who sent their blog to the guarded site."""
    token: str = submit_by_cli(guarded)["token"]
    return token


@pytest.fixture
def intranet(tmp_path: Path) -> Iterator[Site]:
    """A Voice allowed to fetch from private hosts, with fresh rate limits."""
    with connect_site(tmp_path / "intranet", allow_private_hosts=True) as site:
        yield site


def answers(url: str, **changes: Any) -> dict[str, Any]:
    return {
        "url": url,
        "region": "East of England",
        "organisation": "Mid Suffolk District Council",
        "name": "Sam Okafor",
        "email": SECRET_EMAIL,
        "topics": ["open-data", "user-research"],
        "display": "full",
        "research": "include",
        **changes,
    }


def csrf_of(client: httpx.Client, path: str = "/connect") -> str:
    """Open the page as a person would; the form's CSRF token (its cookie is in `client`)."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
    assert found, "the form has no CSRF token"
    return found[1]


def send(client: httpx.Client, path: str, fields: dict[str, Any], **extra: Any) -> httpx.Response:
    return client.post(path, data={**fields, "csrftoken": csrf_of(client, path)}, **extra)


def stored_requests(site: Site) -> int:
    if not site.submissions.exists():
        return 0
    with closing(sqlite3.connect(site.submissions)) as conn:
        return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])


def status_link(page: str) -> str:
    found = re.search(r'href="(https?://[^"]+/connect/status/[A-Za-z0-9_-]+)"', page)
    assert found, "no status link on the page"
    return found[1]


def text_of(page: str) -> str:
    """The page's main content as plain text, for messages."""
    main = page[page.find("<main") : page.find("</main>")]
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", main).split()))


# CSRF, honeypot, sizes ---------------------------------------------------------


def test_a_post_without_the_forms_csrf_token_is_refused(guarded: Site) -> None:
    url = guarded.blog.url("/")
    before = stored_requests(guarded)
    with httpx.Client(base_url=guarded.base) as bare:  # no cookie at all
        assert bare.post("/connect", data=answers(url, step="send")).status_code == 403
        forged = {**answers(url, step="send"), "csrftoken": "made-up"}
        assert bare.post("/connect", data=forged).status_code == 403
    with (
        httpx.Client(base_url=guarded.base) as person,
        httpx.Client(base_url=guarded.base) as other,
    ):
        theirs = csrf_of(other)
        csrf_of(person)  # person has a cookie, and sends no token, or someone else's
        assert person.post("/connect", data=answers(url, step="send")).status_code == 403
        stolen = {**answers(url, step="send"), "csrftoken": theirs}
        assert person.post("/connect", data=stolen).status_code == 403
        as_json = person.post("/connect", json=answers(url, step="send"))
        assert as_json.status_code == 403
    assert stored_requests(guarded) == before


def test_a_status_page_post_without_the_csrf_token_is_refused(guarded: Site, member: str) -> None:
    token = member
    with httpx.Client(base_url=guarded.base) as bare:
        refused = bare.post(f"/connect/status/{token}", data={"action": "remove", "confirm": "yes"})
    assert refused.status_code == 403
    with httpx.Client(base_url=guarded.base) as person:
        assert "waiting for a moderator" in text_of(person.get(f"/connect/status/{token}").text)


def test_a_filled_honeypot_looks_sent_and_stores_nothing(guarded: Site) -> None:
    before = stored_requests(guarded)
    guarded.blog.clear_requests()
    with httpx.Client(base_url=guarded.base) as bot:
        fields = answers(guarded.blog.url("/"), step="send", website="https://spam.example/")
        page = send(bot, "/connect", fields)
        assert page.status_code == 200
        assert "Your blog has been sent" in page.text
        link = status_link(page.text)
        assert bot.get(link).status_code == 404
    assert stored_requests(guarded) == before
    assert not guarded.blog.requests, "a bot's blog is never fetched"


def raw_post(base: str, head: str, body: bytes) -> bytes:
    """Send `head` and as much of `body` as the server takes; its answer's first bytes."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=HANG_SECONDS) as conn:
        conn.sendall(head.encode())
        with suppress(BrokenPipeError, ConnectionResetError):  # refused before it all arrived
            conn.sendall(body)
        return conn.recv(200)


def test_a_10_mb_post_is_refused_without_reading_it(guarded: Site) -> None:
    ten_mb = 10 * 1024 * 1024
    declared = (
        "POST /connect HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {ten_mb}\r\n\r\n"
    )
    # Only 1 MB of the 10 MB declared is ever sent: an answer proves nobody waited for the rest.
    assert raw_post(guarded.base, declared, b"a" * 1024 * 1024).startswith(b"HTTP/1.1 413")
    chunked = (
        "POST /connect HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"a" * 100_000
    body = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 3  # 300 KB, and no last chunk
    assert raw_post(guarded.base, chunked, body).startswith(b"HTTP/1.1 413")
    with httpx.Client(base_url=guarded.base) as person:
        big = {**answers("https://example.gov.uk/"), "name": "x" * 70_000}
        assert send(person, "/connect", big).status_code == 413


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        pytest.param("url", "", "Enter your blog's address", id="no-address"),
        pytest.param("url", "ftp://example.gov.uk/", "as your browser shows it", id="not-web"),
        pytest.param("url", "https://" + "a" * 2100, "2,000 characters or fewer", id="long-url"),
        pytest.param("region", "Atlantis", "Select your region from the list", id="region"),
        pytest.param("region", "", "Select the region you work in", id="no-region"),
        pytest.param("name", "", "Enter your name", id="no-name"),
        pytest.param("name", "n" * 101, "100 characters or fewer", id="long-name"),
        pytest.param("organisation", "", "Enter your council or organisation", id="no-org"),
        pytest.param("email", "sam@", "Enter an email address like", id="email"),
        pytest.param("topics", ["open-data", "nope"], "Select topics from the list", id="topic"),
        pytest.param("display", "everything", "Select full posts or excerpts", id="display"),
        pytest.param("research", "maybe", "Select whether to include", id="research"),
    ],
)
def test_each_field_is_checked_with_its_message_beside_it(
    guarded: Site, field: str, value: Any, message: str
) -> None:
    before = stored_requests(guarded)
    with httpx.Client(base_url=guarded.base) as person:
        page = send(
            person, "/connect", {**answers("https://example.gov.uk/"), field: value, "step": "send"}
        )
    assert page.status_code == 400
    beside = re.search(
        rf'id="{field}-error"><span class="visually-hidden">Error:</span> ([^<]+)<', page.text
    )
    assert beside and message in html.unescape(beside[1]), page.text
    assert "There is a problem" in page.text  # the summary at the top links to the field
    assert stored_requests(guarded) == before


# The address guard ---------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("{blog}", id="loopback"),
        pytest.param("http://169.254.169.254/latest/meta-data/", id="cloud-metadata"),
    ],
)
def test_private_addresses_get_a_plain_message_and_no_request(guarded: Site, address: str) -> None:
    url = address.format(blog=guarded.blog.url("/"))
    guarded.blog.clear_requests()
    with httpx.Client(base_url=guarded.base) as person:
        checked = send(person, "/connect", {**answers(url), "step": "check"})
        sent = send(person, "/connect", {**answers(url), "step": "send"})
    assert checked.status_code == 200
    beside = re.search(r'id="url-error">(.*?)</p>', checked.text, re.DOTALL)
    assert beside and "private network" in beside[1], text_of(checked.text)
    assert sent.status_code == 400 and 'id="url-error"' in sent.text
    assert not guarded.blog.requests, "the listener on 127.0.0.1 saw a request"


# The status link -------------------------------------------------------------------


def test_a_wrong_status_token_shows_nothing(guarded: Site, member: str) -> None:
    """One real member exists; other tokens show nothing of them."""
    with httpx.Client(base_url=guarded.base) as stranger:
        pages = [
            stranger.get(f"/connect/status/{token}")
            for token in ("A" * 43, "wrong", "Zm9vYmFy-_0123456789abcdefghijklmnopqrstuvw")
        ]
    for page in pages:
        assert page.status_code == 404
        assert text_of(page.text).startswith("Page not found There is nothing at this address.")
        for private in (SECRET_EMAIL, "Sam Okafor", "Mid Suffolk", guarded.blog.base_url):
            assert private not in page.text
    assert len({text_of(p.text) for p in pages}) == 1, "every wrong token gets the same page"


def test_status_pages_are_never_cached_nor_sent_as_a_referrer(guarded: Site, member: str) -> None:
    token = member
    with httpx.Client(base_url=guarded.base) as person:
        for path in (f"/connect/status/{token}", "/connect/status/wrong", "/connect"):
            page = person.get(path)
            assert page.headers["cache-control"] == "no-store", path
            assert page.headers["referrer-policy"] == "no-referrer", path
        shown = person.get(f"/connect/status/{token}")
    assert shown.status_code == 200
    log = (guarded.db.parent / "datasette.log").read_text(encoding="utf-8")
    assert "/connect/status/…" in log and token not in log, "the access log shows the token"
    assert "Status: waiting for a moderator" in text_of(shown.text)
    assert SECRET_EMAIL not in shown.text, "the status page does not repeat the private email"


# submissions.db is never served -----------------------------------------------


def test_the_submissions_file_is_never_reachable_through_datasette(
    guarded: Site, member: str
) -> None:
    assert guarded.submissions.exists()
    name = guarded.submissions.stem  # voice-submissions
    path = guarded.submissions
    named = [
        f"/{name}",
        f"/{name}.db",
        f"/{name}.json",
        f"/{name}.csv",
        f"/{name}/requests",
        f"/{name}/requests.json",
        f"/{name}/requests.csv",
        f"/{name}/requests/1",
        f"/{name}?sql=select+*+from+requests",
        f"/{name}.json?sql=select+*+from+requests",
        "/voice/submissions",
        "/voice/requests",
        "/voice/requests.json",
        "/submissions",
        "/submissions.db",
    ]
    sql = [
        f"/voice?sql=ATTACH+DATABASE+'{path}'+AS+s",
        f"/voice.json?sql=ATTACH+DATABASE+'{path}'+AS+s",
        "/voice.json?sql=select+*+from+s.requests",
        "/voice.json?sql=select+*+from+s.sqlite_master",
        "/voice.json?sql=select+*+from+requests",
        f"/voice.json?sql=select+*+from+pragma_table_info('requests',+'{path}')",
    ]
    with httpx.Client(base_url=guarded.base) as stranger:
        for url in named:
            page = stranger.get(url)
            assert page.status_code in (403, 404), f"{url}: {page.status_code}"
            assert SECRET_EMAIL not in page.text, url
        for url in sql:
            page = stranger.get(url)
            assert page.status_code in (400, 403, 404), f"{url}: {page.status_code}"
            assert SECRET_EMAIL not in page.text and "token_hash" not in page.text, url
        listed = stranger.get("/-/databases.json").json()
        files = stranger.get("/voice.json?sql=select+name+from+pragma_database_list").json()
        whole = stranger.get("/voice.db")
    assert [d["name"] for d in listed] == ["voice"]
    assert [row[0] for row in files["rows"]] == ["main"]
    assert SECRET_EMAIL.encode() not in whole.content


# Rate limits, the cap on trials in flight, the whole journey -------------------------


def test_too_many_checks_or_sends_from_one_client_get_429(intranet: Site) -> None:
    url = intranet.blog.url("/")
    with httpx.Client(base_url=intranet.base, timeout=HANG_SECONDS) as person:
        for _ in range(5):
            assert send(person, "/connect", {**answers(url), "step": "check"}).status_code == 200
        refused = send(person, "/connect", {**answers(url), "step": "check"})
        assert refused.status_code == 429
        assert 0 < int(refused.headers["retry-after"]) <= 3600
        assert "Please try again in" in text_of(refused.text)
        fetches = len(intranet.blog.requests)
        for _ in range(3):
            assert send(person, "/connect", {**answers(url), "step": "send"}).status_code in (
                200,
                400,
            )
        refused = send(person, "/connect", {**answers(url), "step": "send"})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert stored_requests(intranet) <= 3
    assert len(intranet.blog.requests) > fetches  # the sends did fetch, up to the limit


@pytest.mark.parametrize(
    ("host", "key"),
    [
        pytest.param("192.0.2.7", "192.0.2.7", id="ipv4-address"),
        pytest.param("2001:db8:1:2::a", "2001:db8:1:2::/64", id="ipv6-its-64"),
        pytest.param("2001:db8:1:2:ffff:1:2:3", "2001:db8:1:2::/64", id="same-64"),
        pytest.param("2001:db8:1:3::a", "2001:db8:1:3::/64", id="next-64"),
        pytest.param("2001:DB8:1:2::A", "2001:db8:1:2::/64", id="upper-case"),
        pytest.param("[2001:db8:1:2::a]", "2001:db8:1:2::/64", id="brackets"),
        pytest.param("fe80::1%eth0", "fe80::/64", id="zone"),
        pytest.param("::ffff:192.0.2.7", "192.0.2.7", id="ipv4-as-ipv6"),
        pytest.param("::1", "::/64", id="ipv6-loopback"),
        pytest.param("testclient", "testclient", id="not-an-address"),
        pytest.param(None, "unknown", id="no-client"),
    ],
)
def test_limits_count_an_ipv4_address_or_an_ipv6_64_as_one_client(
    host: str | None, key: str
) -> None:
    assert client_key(host) == key


MEMBER = "m" * 43  # the one valid status token in the in-process Voice


class InProcess(NamedTuple):
    ds: Datasette
    shown: list[str]  # every token `voice member show` was started for


@pytest.fixture
def in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> InProcess:
    """Voice's Datasette in this process, with fresh limits and a fake `voice member show`."""
    db = tmp_path / "voice.db"
    sqlite3.connect(db).close()
    site = VoiceSite(ROOT)
    ds = Datasette(
        [str(db)],
        metadata=metadata_for(site, "voice"),
        plugins_dir=str(site.plugins),
        template_dir=str(site.templates),
        static_mounts=[(STATIC_MOUNT, str(site.static))],
    )
    plugin: ModuleType = pm.get_plugin("voice_connect.py")  # the module Datasette loaded
    monkeypatch.setattr(plugin, "LIMITS", plugin.guard.RateLimits(plugin.LIMITS.limits))
    shown: list[str] = []

    async def member_show(_: object, token: str) -> dict[str, Any]:
        shown.append(token)
        if token != MEMBER:
            return {"ok": False, "message": "No such request"}
        submission = {"status": "pending", "url": "https://example.gov.uk/blog/"}
        return {"ok": True, "submission": submission, "feed": None, "changes": []}

    monkeypatch.setattr(plugin.commands, "member_show", member_show)
    return InProcess(ds, shown)


@asynccontextmanager
async def client_at(ds: Datasette, host: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser whose requests reach Datasette from `host`, as uvicorn would say."""
    await ds.invoke_startup()
    transport = httpx.ASGITransport(app=ds.app(), client=(host, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


def test_status_page_views_are_limited_per_client(in_process: InProcess) -> None:
    """A valid status link too: every view starts a `voice member show`."""

    async def views() -> tuple[list[int], httpx.Response, int]:
        async with client_at(in_process.ds, "192.0.2.7") as member:
            codes = [
                (await member.get(f"/connect/status/{MEMBER}")).status_code for _ in range(120)
            ]
            refused = await member.get(f"/connect/status/{MEMBER}")
        async with client_at(in_process.ds, "192.0.2.8") as neighbour:
            other = (await neighbour.get(f"/connect/status/{MEMBER}")).status_code
        return codes, refused, other

    codes, refused, other = asyncio.run(views())
    assert codes == [200] * 120
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert refused.headers["cache-control"] == "no-store"
    assert text_of(refused.text).startswith(
        "Too many tries You can open a status page 120 times an hour, and you have. "
        "Please try again in"
    )
    assert len(in_process.shown) == 121, "the refused view started no command"
    assert other == 200, "another client is not refused"


def test_a_guesser_rotating_through_one_ipv6_64_is_one_client(in_process: InProcess) -> None:
    async def guesses() -> tuple[int, int, int]:
        for n in range(20):  # 20 wrong tokens, each from a new address in one /64
            async with client_at(in_process.ds, f"2001:db8:1:2::{n + 1:x}") as guesser:
                assert (await guesser.get(f"/connect/status/wrong{n}")).status_code == 404
        async with client_at(in_process.ds, "2001:db8:1:2:abcd::1") as guesser:
            blocked = (await guesser.get(f"/connect/status/{MEMBER}")).status_code
        async with client_at(in_process.ds, "2001:db8:1:3::1") as neighbour:
            other = (await neighbour.get(f"/connect/status/{MEMBER}")).status_code
        async with client_at(in_process.ds, "192.0.2.7") as ipv4:
            ipv4_page = (await ipv4.get(f"/connect/status/{MEMBER}")).status_code
        return blocked, other, ipv4_page

    blocked, other, ipv4_page = asyncio.run(guesses())
    assert blocked == 404, "a fresh address in the guesser's /64 is still the guesser"
    assert len(in_process.shown) == 22, "its view started no command"
    assert (other, ipv4_page) == (200, 200), "the next /64 and IPv4 clients are others"


def test_a_third_trial_in_flight_is_told_to_come_back(intranet: Site) -> None:
    release = threading.Event()

    def held(_: object) -> None:
        release.wait(HANG_SECONDS)  # the blog answers only when the test says so

    intranet.blog.route("/slow", held)
    url = intranet.blog.url("/slow")
    results: list[int] = []

    def check() -> None:
        with httpx.Client(base_url=intranet.base, timeout=HANG_SECONDS) as person:
            results.append(send(person, "/connect", {**answers(url), "step": "check"}).status_code)

    threads = [threading.Thread(target=check) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + HANG_SECONDS
        while len(intranet.blog.requests_for("/slow")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(intranet.blog.requests_for("/slow")) == 2, "two trials are fetching"
        with httpx.Client(base_url=intranet.base) as third:
            busy = send(third, "/connect", {**answers(intranet.blog.url("/")), "step": "check"})
        assert busy.status_code == 503
        assert int(busy.headers["retry-after"]) > 0
        assert "Voice is busy" in busy.text
    finally:
        release.set()
        for t in threads:
            t.join(HANG_SECONDS)
    assert results == [200, 200]


def join_id(site: Site) -> int:
    with closing(sqlite3.connect(site.submissions)) as conn:
        (found,) = conn.execute("SELECT max(id) FROM requests WHERE kind = 'join'").fetchone()
    return int(found)


def approve(site: Site, request_id: int) -> None:
    args = ("--config", site.config, "--db", site.db, "--by", "moderator")
    run_voice("submissions", "approve", str(request_id), *args)


def test_check_send_and_manage_a_blog_over_http(intranet: Site) -> None:
    with httpx.Client(base_url=intranet.base, timeout=HANG_SECONDS) as person:
        checked = send(person, "/connect", {**answers(intranet.blog.url("/")), "step": "check"})
        assert checked.status_code == 200
        preview = text_of(checked.text)
        assert "What Voice found" in preview
        assert "Notes from the Digital Team" in preview
        assert "The page advertises it as the blog's feed." in preview
        assert "Weeknote: retiring the paper bin permit form" in preview
        assert "Send to Voice" in checked.text
        sent = send(person, "/connect", {**answers(intranet.blog.url("/")), "step": "send"})
        assert sent.status_code == 200 and "Keep this link private" in sent.text
        link = status_link(sent.text)
        assert stored_requests(intranet) == 1
        status = person.get(link)
        assert "Status: waiting for a moderator" in text_of(status.text)
        changes = {
            "action": "update",
            "organisation": "Babergh and Mid Suffolk",
            "region": "East of England",
            "topics": ["open-data"],
            "display": "excerpt",
            "research": "include",
        }
        changed = send(person, link, changes)
        assert changed.status_code == 303
        after = person.get(link)
        assert "Your request is updated." in after.text
        assert 'value="Babergh and Mid Suffolk"' in after.text
        unconfirmed = send(person, link, {"action": "remove"})
        assert unconfirmed.status_code == 400 and 'id="confirm-error"' in unconfirmed.text
        approve(intranet, join_id(intranet))
        approved = person.get(link)
        assert "Status: accepted" in text_of(approved.text)
        assert "localgov-voice" in approved.text  # how to verify
        paused = send(person, link, {"action": "pause"})
        assert paused.status_code == 303
        assert "Sent to a moderator" in person.get(link).text  # not verified: queued

        code = re.search(r'<p class="voice-token"><code>([^<]+)</code>', approved.text)
        assert code, "the status page gives the member a code to verify with"
        assert send(person, link, {"action": "verify"}).status_code == 303
        assert "is not on your blog's home page" in html.unescape(person.get(link).text)
        with_meta = (
            (BLOG / "index.html")
            .read_text()
            .replace("</head>", f'<meta name="localgov-voice" content="{code[1]}">\n</head>')
        )
        intranet.blog.route("/", Raw(with_meta.encode(), {"Content-Type": "text/html"}))
        assert send(person, link, {"action": "verify"}).status_code == 303
        verified = person.get(link).text
        assert "Your blog is verified." in verified
        assert "Your changes apply at once." in verified
        resumed = send(person, link, {"action": "resume"})
        assert resumed.status_code == 303
        assert "Done:" in person.get(link).text
