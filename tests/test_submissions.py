"""The submissions file and the JSON of `voice submissions new` and `voice member`.

Blogs are real feed files served on 127.0.0.1; the submissions file is a
real SQLite file beside a temporary database.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aggregator.cli import cli
from aggregator.joining import members
from aggregator.joining.fields import FieldError, validate_join
from aggregator.joining.submissions import submissions_path
from tests.support.feedserver import FeedServer, Status

from .conftest import DATA, ROOT

SLUGS = ("open-data", "user-research", "service-standard")


@dataclass
class Site:
    """A Voice instance in a temporary directory and the blogs it can reach."""

    root: Path
    server: FeedServer

    @property
    def config(self) -> Path:
        return self.root / "feeds.yaml"

    @property
    def db(self) -> Path:
        return self.root / "db" / "voice.db"

    def blog(self, name: str, source: str = "full.rss", body: str = "") -> str:
        """Serve a blog: a feed at /<name>.rss linking to its home page /<name>/."""
        home = self.server.url(f"/{name}/")
        text = (DATA / "discovery" / source).read_text(encoding="utf-8")
        text = text.replace("https://notes.example.gov.uk/", home)
        text = text.replace("</channel>", f"<item><title>{name}</title>{body}</item></channel>")
        (self.server_dir / f"{name}.rss").write_text(text, encoding="utf-8")
        return self.server.url(f"/{name}.rss")

    @property
    def server_dir(self) -> Path:
        return self.root / "www"

    def voice(self, *args: str, data: Any = None) -> tuple[int, str, str]:
        """`voice ARGS --config --db`; with `data`, as JSON on stdin."""
        where = ["--config", str(self.config), "--db", str(self.db)]
        stdin = None if data is None else (data if isinstance(data, str) else json.dumps(data))
        result = CliRunner().invoke(cli, [*args, *where], input=stdin)
        return result.exit_code, result.stdout, result.stderr

    def ask(self, *args: str, data: Any) -> dict[str, Any]:
        """A JSON command: exit 0 and exactly one JSON object on stdout."""
        code, out, err = self.voice(*args, data=data)
        assert code == 0, err
        return json.loads(out)

    def submit(self, url: str, **fields: Any) -> dict[str, Any]:
        form = {"url": url, "region": "South East", "name": "Ann Member", **fields}
        return self.ask("submissions", "new", "--allow-private-hosts", data=form)


@contextmanager
def make_site(tmp_path: Path) -> Iterator[Site]:
    """feeds.yaml (one registered blog, a comment), topics.yaml, db/ and a feed server."""
    (tmp_path / "db").mkdir()
    (tmp_path / "www").mkdir()
    shutil.copy(ROOT / "topics.yaml", tmp_path / "topics.yaml")
    (tmp_path / "feeds.yaml").write_text(
        "settings:\n  host_gap_seconds: 0.0\n\nfeeds:\n"
        "  # The network's own blog\n"
        "  - url: https://localgov.digital/feed/\n"
        "    site_url: https://localgov.digital/\n"
        "    region: National\n",
        encoding="utf-8",
    )
    with FeedServer(tmp_path / "www") as server:
        yield Site(tmp_path, server)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with make_site(tmp_path) as made:
        yield made


# --- validation -------------------------------------------------------------------

VALID = {"url": "https://blog.example.gov.uk/", "region": "South East", "name": "Ann"}
BAD_FIELDS = {
    "no address": ({"url": ""}, "url", "Enter your blog's address"),
    "not http": ({"url": "ftp://blog.example/"}, "url", "starting https://"),
    "address too long": ({"url": "https://a.example/" + "x" * 2000}, "url", "2000 characters"),
    "unknown region": ({"region": "Mars"}, "region", "Choose a region"),
    "near miss region": ({"region": "Sout East"}, "region", "Did you mean South East?"),
    "name too long": ({"name": "n" * 201}, "name", "200 characters"),
    "organisation too long": ({"organisation": "o" * 201}, "organisation", "200 characters"),
    "control characters": ({"organisation": "Kent\x00"}, "organisation", "cannot be used"),
    "email shape": ({"email": "ann at kent"}, "email", "email address like"),
    "email too long": ({"email": "a" * 250 + "@x.uk"}, "email", "254 characters"),
    "unknown topic": ({"topics": ["astrology"]}, "topics", "not one of Voice's topics"),
    "topics not a list": ({"topics": {"a": 1}}, "topics", "list of topics"),
    "display": ({"display": "summary"}, "display", "full text or excerpts"),
    "research": ({"research": "maybe"}, "research", "yes or no"),
}


@pytest.mark.parametrize("case", sorted(BAD_FIELDS))
def test_each_bad_field_is_named_with_a_plain_message(case: str) -> None:
    change, field, message = BAD_FIELDS[case]
    with pytest.raises(FieldError) as caught:
        validate_join({**VALID, **change}, SLUGS)
    assert caught.value.field == field
    assert message in caught.value.message


def test_valid_fields_are_tidied() -> None:
    form = validate_join(
        {
            **VALID,
            "url": " blog.example.gov.uk ",
            "region": "south  east",
            "organisation": "  Kent   County Council ",
            "email": "",
            "topics": ["User-Research", "open-data", "open-data"],
            "research": False,
        },
        SLUGS,
    )
    assert form.url == "https://blog.example.gov.uk"
    assert form.region == "South East"
    assert form.organisation == "Kent County Council"
    assert form.email is None
    assert form.topics == ("open-data", "user-research")
    assert (form.display, form.research) == ("full", False)


# --- voice submissions new -----------------------------------------------------------


def test_a_submission_is_tried_stored_and_answered_with_a_status_token(site: Site) -> None:
    feed = site.blog("kent")
    answer = site.submit(feed, email="ann@kent.gov.uk", topics=["open-data"], display="excerpt")
    assert answer["ok"] is True and answer["id"] == 1
    assert answer["trial"]["feed_url"] == feed and answer["trial"]["title"]
    token = answer["token"]
    assert len(token) >= 40

    path = submissions_path(site.db)
    assert path == site.root / "db" / "voice-submissions.db"
    raw = b"".join(p.read_bytes() for p in path.parent.glob(f"{path.name}*"))
    assert token.encode() not in raw  # only its hash is kept
    conn = sqlite3.connect(path)
    row = conn.execute(
        "SELECT status, url, feed_url, email, display, token_hash FROM requests"
    ).fetchone()
    assert row == (
        "pending",
        feed,
        feed,
        "ann@kent.gov.uk",
        "excerpt",
        hashlib.sha256(token.encode()).hexdigest(),
    )
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert not site.db.exists()  # nothing written to the public database


def test_a_field_problem_comes_back_as_json_naming_the_field(site: Site) -> None:
    answer = site.submit(site.blog("kent"), region="Sout East")
    assert answer == {"ok": False, "field": "region", "message": answer["message"]}
    assert "Did you mean South East?" in answer["message"]
    assert not submissions_path(site.db).exists() or _count(site) == 0


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "Expected a JSON object"),
        ('{"url": "' + "x" * 70_000 + '"}', "too large"),
    ],
    ids=["not json", "not an object", "too large"],
)
def test_a_malformed_request_gets_a_json_answer(site: Site, stdin: str, message: str) -> None:
    answer = site.ask("submissions", "new", data=stdin)
    assert answer["ok"] is False and message in answer["message"]


def test_a_blog_without_a_feed_is_refused_with_the_trials_words(site: Site) -> None:
    site.server.route("/gone.rss", Status(404))
    answer = site.submit(site.server.url("/gone.rss"))
    assert answer["ok"] is False and answer["field"] == "url"
    assert "404" in answer["message"]
    assert _count(site) == 0


def test_a_registered_blog_is_refused_under_another_address(site: Site) -> None:
    answer = site.submit("http://www.localgov.digital/")
    assert answer["ok"] is False and answer["field"] == "url"
    assert "already in Voice" in answer["message"]


def test_the_same_blog_cannot_wait_twice(site: Site) -> None:
    feed = site.blog("kent")
    assert site.submit(feed)["ok"]
    again = site.submit(feed)
    assert again["ok"] is False and "already waiting for a moderator (#1)" in again["message"]


def test_a_private_address_is_refused_without_a_request(site: Site) -> None:
    feed = site.blog("kent")
    form = {"url": feed, "region": "London", "name": "Ann"}
    answer = site.ask("submissions", "new", data=form)  # no --allow-private-hosts
    assert answer["ok"] is False and answer["field"] == "url"
    assert "private network" in answer["message"]
    assert site.server.requests == []
    assert _count(site) == 0


def test_a_broken_registry_is_logged_and_the_member_told_to_try_later(site: Site) -> None:
    site.config.write_text("feeds: [", encoding="utf-8")
    code, out, err = site.voice("submissions", "new", data={**VALID, "url": site.blog("kent")})
    assert code == 0
    assert json.loads(out) == {
        "ok": False,
        "field": None,
        "message": "Voice cannot do this just now; please try again later.",
    }
    assert "feeds.yaml" in err


# --- voice member show / change before approval ------------------------------------------


@pytest.mark.parametrize(
    "token",
    [None, "", "x" * 43, "short", 12, "y" * 5000],
    ids=["none", "empty", "wrong", "short", "number", "huge"],
)
def test_a_wrong_token_reveals_nothing(site: Site, token: Any) -> None:
    site.submit(site.blog("kent"))
    shown = site.ask("member", "show", data={"token": token})
    changed = site.ask("member", "change", data={"token": token, "action": "remove"})
    assert shown == {"ok": False, "message": members.NOT_FOUND}
    assert changed == {"ok": False, "field": None, "message": shown["message"]}
    assert site.ask("member", "show", data={"token": "x" * 43}) == shown


def test_the_member_sees_their_pending_submission_and_can_edit_it(site: Site) -> None:
    feed = site.blog("kent")
    token = site.submit(feed, organisation="Kent")["token"]
    shown = site.ask("member", "show", data={"token": token})
    assert shown["ok"] and shown["submission"]["status"] == "pending"
    assert shown["submission"]["feed_url"] == feed
    assert shown["feed"] is None and shown["verified"] is False
    assert shown["verify_token"].startswith("voice-") and len(shown["verify_token"]) == 16

    update = {"organisation": "Kent County Council", "topics": ["open-data"], "region": "london"}
    answer = site.ask(
        "member", "change", data={"token": token, "action": "update", "changes": update}
    )
    assert answer["ok"] and answer["applied"]
    submission = site.ask("member", "show", data={"token": token})["submission"]
    assert (submission["organisation"], submission["region"]) == ("Kent County Council", "London")
    assert submission["topics"] == ["open-data"]

    paused = site.ask("member", "change", data={"token": token, "action": "pause"})
    assert paused["ok"] is False and "not in Voice yet" in paused["message"]
    bad = site.ask(
        "member", "change", data={"token": token, "action": "update", "changes": {"url": "x"}}
    )
    assert bad["ok"] is False and bad["field"] == "url"


def test_a_member_can_withdraw_a_pending_submission(site: Site) -> None:
    token = site.submit(site.blog("kent"))["token"]
    answer = site.ask("member", "change", data={"token": token, "action": "remove"})
    assert answer == {"ok": True, "applied": True, "message": "Your request is withdrawn."}
    assert site.ask("member", "show", data={"token": token})["submission"]["status"] == "withdrawn"
    code, out, _ = site.voice("submissions")
    assert code == 0 and "0 pending submissions" in out


def _count(site: Site) -> int:
    if not submissions_path(site.db).exists():
        return 0
    conn = sqlite3.connect(submissions_path(site.db))
    try:
        return conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    finally:
        conn.close()
