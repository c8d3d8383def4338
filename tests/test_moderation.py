"""Moderating: `voice submissions` approve/reject, a member's changes, take-down, verification,
and `voice import-opml`; approvals in parallel processes and killed ones."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.errors import ConfigError
from aggregator.joining import members
from aggregator.joining.moderation import Instance
from aggregator.joining.opml import parse_opml
from aggregator.registry.feeds import load_registry
from aggregator.storage.connection import private_path
from tests.support.feedserver import Raw, Status

from .conftest import ROOT
from .test_submissions import Site, make_site

APPROVE_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with make_site(tmp_path) as made:
        yield made


def approve(site: Site, request_id: int, by: str = "Moderator Mo") -> tuple[int, str, str]:
    return site.voice("submissions", "approve", str(request_id), "--by", by)


def approved_blog(site: Site, name: str = "kent", **fields: object) -> tuple[str, str]:
    """A blog submitted and approved: (feed URL, member token)."""
    feed = site.blog(name)
    answer = site.submit(feed, organisation="Kent County Council", **fields)
    code, out, err = approve(site, answer["id"])
    assert code == 0, err
    return feed, answer["token"]


def entry(site: Site, feed: str) -> dict[str, object] | None:
    """The feeds.yaml entry of `feed`, as validated values."""
    for source in load_registry(site.config).feeds:
        if source.url == feed:
            return {k: v for k, v in vars(source).items() if v not in (None, ())}
    return None


def change(site: Site, token: str, action: str, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {"token": token, "action": action}
    if changes:
        data["changes"] = changes
    return site.ask("member", "change", "--allow-private-hosts", data=data)


# --- listing, approving, rejecting ----------------------------------------------------


def test_pending_submissions_are_listed_with_preview_and_checks(site: Site) -> None:
    feed = site.blog("kent")
    site.submit(feed, email="ann@kent.gov.uk", topics=["open-data"])
    code, out, _ = site.voice("submissions")
    assert code == 0
    assert f"#1 join {feed}" in out and "by Ann Member, ann@kent.gov.uk" in out
    assert "  Blog:       Council Digital Notes (WordPress)\n" in out
    assert "  Entries:    5 entries, full text\n" in out
    assert "  Latest:     21 November 2016 " in out and "LocalGov Digital rebooted\n" in out
    assert "feed found: yes | already registered: no | region: South East" in out
    assert "topics: open-data" in out
    assert out.rstrip().endswith(
        "1 pending submission; `voice submissions approve ID` or `reject ID --reason TEXT`"
    )

    # Registered by hand meanwhile: the check says so.
    text = site.config.read_text() + f"  - url: {feed}\n    region: London\n"
    site.config.write_text(text)
    assert f"already registered: as {feed}" in site.voice("submissions")[1]


def test_approving_adds_the_blog_and_records_who_and_when(site: Site) -> None:
    feed = site.blog("kent")
    answer = site.submit(
        feed, organisation="Kent", topics=["open-data"], display="excerpt", research=False
    )
    before = site.config.read_text()
    code, out, _ = approve(site, answer["id"])
    assert code == 0
    assert out.strip().endswith(
        f"{feed} added to {site.config} (South East); approved by Moderator Mo"
    )
    assert site.config.read_text().startswith(before)  # appended; the comment kept
    assert entry(site, feed) == {
        "url": feed,
        "region": "South East",
        "title": "Council Digital Notes",
        "site_url": site.server.url("/kent/"),
        "organisation": "Kent",
        "topics": ("open-data",),
        "display": "excerpt",
        "research": False,
        "paused": False,
    }
    shown = site.ask("member", "show", data={"token": answer["token"]})
    assert shown["submission"]["status"] == "approved" and shown["submission"]["decided_at"]
    assert shown["feed"]["status"] == "new" and shown["feed"]["display"] == "excerpt"
    private = sqlite3.connect(private_path(site.db))
    assert private.execute("SELECT feed_url, token FROM verifications").fetchall() == [
        (feed, shown["verify_token"])
    ]
    conn = sqlite3.connect(site.root / "db" / "voice-submissions.db")
    assert conn.execute("SELECT decided_by FROM requests").fetchone() == ("Moderator Mo",)

    code, _, err = approve(site, answer["id"])
    assert code == 1 and err.startswith("Error: #1: already approved by Moderator Mo on ")
    assert site.voice("submissions", "approve", "99")[2].startswith("Error: #99: no such")


def test_rejecting_records_the_reason_the_member_sees(site: Site) -> None:
    feed = site.blog("kent")
    answer = site.submit(feed)
    assert site.voice("submissions", "reject", "1")[0] == 2  # --reason is required
    code, out, _ = site.voice(
        "submissions", "reject", "1", "--reason", "Not a council blog", "--by", "Mo"
    )
    assert code == 0 and "#1: " in out and "rejected by Mo" in out
    shown = site.ask("member", "show", data={"token": answer["token"]})
    assert shown["submission"]["status"] == "rejected"
    assert shown["submission"]["reason"] == "Not a council blog"
    assert approve(site, 1)[0] == 1
    assert entry(site, feed) is None
    assert change(site, answer["token"], "pause")["message"].startswith(
        "This blog was not accepted"
    )


# --- a member's changes -------------------------------------------------------------


def test_an_unverified_members_changes_wait_for_a_moderator(site: Site) -> None:
    feed, token = approved_blog(site)
    queued = change(site, token, "update", organisation="Medway Council", topics=[])
    assert queued["ok"] and queued["applied"] is False and "moderator" in queued["message"]
    paused = change(site, token, "pause")
    assert entry(site, feed)["organisation"] == "Kent County Council"

    listing = site.voice("submissions")[1]
    assert f"#{queued['id']} change to #1 {feed}" in listing
    assert "organisation: Medway Council; topics: (none)" in listing
    assert f"#{paused['id']} change to #1" in listing and "  pause" in listing

    assert approve(site, queued["id"])[0] == 0
    assert approve(site, paused["id"])[0] == 0
    now = entry(site, feed)
    assert now["organisation"] == "Medway Council" and now["paused"] is True
    assert "topics" not in now
    shown = site.ask("member", "show", data={"token": token})
    assert [c["status"] for c in shown["changes"]] == ["approved", "approved"]
    assert shown["submission"]["organisation"] == "Medway Council"
    assert shown["feed"]["paused"] is True

    resume = change(site, token, "resume")
    assert resume["applied"] is False
    code, _, _ = site.voice("submissions", "reject", str(resume["id"]), "--reason", "ask us first")
    assert code == 0
    assert site.ask("member", "show", data={"token": token})["changes"][-1]["reason"] == (
        "ask us first"
    )


def test_verifying_makes_changes_apply_at_once(site: Site) -> None:
    feed, token = approved_blog(site)
    verify_token = site.ask("member", "show", data={"token": token})["verify_token"]
    home = "/kent/"
    site.server.route(
        home, Raw(b"<html><head><title>Kent</title></head></html>", {"Content-Type": "text/html"})
    )
    not_yet = change(site, token, "verify")
    assert not_yet["applied"] is False and verify_token in not_yet["message"]
    assert [r.path for r in site.server.requests[-2:]] == [home, "/kent.rss"]

    page = f'<html><head><meta name="localgov-voice" content="{verify_token}"></head></html>'
    site.server.route(home, Raw(page.encode(), {"Content-Type": "text/html"}))
    assert change(site, token, "verify") == {
        "ok": True,
        "applied": True,
        "message": "Your blog is verified.",
    }
    shown = site.ask("member", "show", data={"token": token})
    assert shown["verified"] is True and shown["feed"]["verified_at"]

    done = change(site, token, "update", display="excerpt", region="london")
    assert done["ok"] and done["applied"] is True
    assert entry(site, feed)["display"] == "excerpt" and entry(site, feed)["region"] == "London"
    assert change(site, token, "pause")["applied"] is True
    assert entry(site, feed)["paused"] is True
    assert change(site, token, "resume")["applied"] is True
    assert "paused:" not in site.config.read_text()
    assert site.voice("submissions")[1].startswith("0 pending")  # nothing queued


def html(head: str = "", body: str = "") -> Raw:
    page = f"<html><head><title>Kent</title>{head}</head><body>{body}</body></html>"
    return Raw(page.encode(), {"Content-Type": "text/html"})


def verified_blog(site: Site) -> tuple[str, str]:
    """An approved blog, fetched once, whose member verified it by the meta tag."""
    feed, token = approved_blog(site)
    code, _, err = site.voice("fetch", "--allow-private-hosts")
    assert code == 0, err
    verify_token = site.ask("member", "show", data={"token": token})["verify_token"]
    site.server.route("/kent/", html(f'<meta name="localgov-voice" content="{verify_token}">'))
    assert change(site, token, "verify")["message"] == "Your blog is verified."
    return feed, token


def test_a_readers_comment_on_the_home_page_does_not_verify(site: Site) -> None:
    _, token = approved_blog(site)
    verify_token = site.ask("member", "show", data={"token": token})["verify_token"]
    comment = f'<div class="comment"><p>My token is {verify_token}</p></div>'
    site.server.route("/kent/", html(body=comment))
    assert change(site, token, "verify")["applied"] is False
    assert site.ask("member", "show", data={"token": token})["verified"] is False


def full_text_posts(site: Site) -> int:
    public = sqlite3.connect(site.db)
    try:
        return public.execute(
            "SELECT count(*) FROM posts WHERE content_html IS NOT NULL AND removed_at IS NULL"
        ).fetchone()[0]
    finally:
        public.close()


def test_a_verified_members_switch_to_excerpts_is_public_at_once(site: Site) -> None:
    feed, token = verified_blog(site)
    assert full_text_posts(site) == 4  # the fifth has a title only
    assert change(site, token, "update", display="excerpt")["applied"] is True
    assert full_text_posts(site) == 0  # no run needed
    public = sqlite3.connect(site.db)
    assert public.execute("SELECT display FROM feeds WHERE url = ?", [feed]).fetchone() == (
        "excerpt",
    )
    assert change(site, token, "pause")["applied"] is True
    assert public.execute("SELECT paused FROM feeds WHERE url = ?", [feed]).fetchone() == (1,)


def test_an_approved_change_to_excerpts_is_public_at_once(site: Site) -> None:
    _, token = approved_blog(site)
    assert site.voice("fetch", "--allow-private-hosts")[0] == 0
    queued = change(site, token, "update", display="excerpt")
    assert queued["applied"] is False and full_text_posts(site) == 4
    assert approve(site, queued["id"])[0] == 0
    assert full_text_posts(site) == 0


def test_the_verify_fetch_obeys_the_address_guard(site: Site) -> None:
    _, token = approved_blog(site)
    site.server.clear_requests()
    answer = site.ask("member", "change", data={"token": token, "action": "verify"})
    assert answer["applied"] is False
    assert site.server.requests == []


def test_a_member_takes_their_blog_down_as_voice_remove_does(site: Site) -> None:
    feed, token = approved_blog(site)
    code, out, err = site.voice("fetch", "--allow-private-hosts")
    assert code == 0, err
    public = sqlite3.connect(site.db)
    assert public.execute("SELECT count(*) FROM posts WHERE removed_at IS NULL").fetchone()[0] == 5

    answer = change(site, token, "remove")
    assert answer == {"ok": True, "applied": True, "message": "Your blog is taken down from Voice."}
    assert entry(site, feed) is None
    assert "localgov.digital" in site.config.read_text()  # the rest of feeds.yaml kept
    assert public.execute("SELECT status FROM feeds WHERE url LIKE 'removed:%'").fetchall() == [
        ("removed",)
    ]
    assert public.execute("SELECT count(*) FROM posts WHERE removed_at IS NULL").fetchone()[0] == 0
    private = sqlite3.connect(private_path(site.db))
    assert private.execute("SELECT target, removed_by, posts_removed FROM removals").fetchall() == [
        (feed, "member (status link)", 5)
    ]
    shown = site.ask("member", "show", data={"token": token})
    assert shown["submission"]["status"] == "removed" and shown["feed"] is None
    assert change(site, token, "pause")["message"].startswith("You took this blog down")


# --- an approval meeting the same blog, or a member's edit ----------------------------


def test_approving_a_blog_whose_feed_is_there_already_keeps_the_members_choices(
    site: Site,
) -> None:
    feed = site.blog("kent")
    answer = site.submit(feed, display="excerpt", research=False)
    # Approved before and killed before the decision was recorded, or added by hand.
    site.config.write_text(site.config.read_text() + f"  - url: {feed}\n    region: London\n")
    code, _, err = approve(site, answer["id"])
    assert code == 0, err
    assert site.config.read_text().count(f"url: {feed}") == 1
    now = entry(site, feed)
    assert (now["display"], now["research"]) == ("excerpt", False)


def test_approving_a_blog_registered_under_another_address_is_refused(site: Site) -> None:
    feed = site.blog("kent")
    home = site.server.url("/kent/")
    answer = site.submit(feed)
    site.config.write_text(site.config.read_text() + f"  - url: {home}\n    region: London\n")
    before = site.config.read_text()
    code, _, err = approve(site, answer["id"])
    assert code == 1
    assert err == f"Error: #1: this blog is already in {site.config} as {home};" + (
        " reject the request, or remove that entry and approve again\n"
    )
    assert site.config.read_text() == before
    assert site.voice("submissions")[1].count("#1 join") == 1  # still pending


def test_a_members_edit_during_the_approval_is_in_feeds_yaml(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aggregator.registry import edit

    feed = site.blog("kent")
    answer = site.submit(feed, organisation="Kent")
    instance = Instance(site.config, site.db)
    add_feed = edit.add_feed

    def member_edits_first(*args: object, **kwargs: object) -> None:
        edited = members.change(
            instance,
            {"token": answer["token"], "action": "update", "changes": {"display": "excerpt"}},
            now="2026-11-23T12:00:00Z",
        )
        assert edited["applied"] is True
        add_feed(*args, **kwargs)

    monkeypatch.setattr(edit, "add_feed", member_edits_first)
    code, _, err = approve(site, answer["id"])
    assert code == 0, err
    assert entry(site, feed)["display"] == "excerpt"
    shown = site.ask("member", "show", data={"token": answer["token"]})
    assert shown["submission"]["display"] == "excerpt"


def test_a_members_edit_landing_after_the_approval_is_refused(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = site.blog("kent")
    answer = site.submit(feed, organisation="Kent")
    validate = members.validate_changes

    def approved_meanwhile(*args: object) -> dict[str, object]:
        assert approve(site, answer["id"])[0] == 0  # after the member's request was read
        return validate(*args)

    monkeypatch.setattr(members, "validate_changes", approved_meanwhile)
    edited = change(site, answer["token"], "update", display="excerpt")
    assert edited["ok"] is False and "decided on your blog meanwhile" in edited["message"]
    shown = site.ask("member", "show", data={"token": answer["token"]})
    assert shown["submission"]["display"] == "full" == entry(site, feed).get("display", "full")


# --- feeds.yaml under concurrent and killed approvals ---------------------------------------


def _approve_in_process(site: Site, request_id: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aggregator",
            "submissions",
            "approve",
            str(request_id),
            "--by",
            f"mod{request_id}",
            "--config",
            str(site.config),
            "--db",
            str(site.db),
        ],
        cwd=ROOT,
        env=APPROVE_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_approvals_at_once_keep_every_edit(site: Site) -> None:
    names = ["kent", "leeds", "bristol", "wigan"]
    feeds = [site.blog(name) for name in names]
    ids = [site.submit(feed)["id"] for feed in feeds]
    running = [_approve_in_process(site, i) for i in ids]
    for process in running:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err.decode()
    assert all(entry(site, feed) for feed in feeds)
    assert "# The network's own blog" in site.config.read_text()
    assert site.voice("submissions")[1].startswith("0 pending")


def test_a_killed_approval_leaves_the_old_or_the_new_file(site: Site) -> None:
    delays = [0.0, 0.15, 0.3, 0.45, 0.6, 0.8, 1.0, 1.3]
    feeds = [site.blog(f"blog{i}") for i in range(len(delays))]
    ids = [site.submit(feed)["id"] for feed in feeds]
    for feed, request_id, delay in zip(feeds, ids, delays, strict=True):
        old = site.config.read_text()
        process = _approve_in_process(site, request_id)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        now = site.config.read_text()
        registry = load_registry(site.config)  # never a torn file
        if now != old:
            assert now.startswith(old) and feed in now
            assert len(registry.feeds) == old.count("- url:") + 1
    # Approving again finishes whatever a kill interrupted, without a second entry.
    for request_id in ids:
        code, _, err = approve(site, request_id)
        assert code == 0 or "already approved" in err
    text = site.config.read_text()
    assert all(text.count(f"url: {feed}\n") == 1 for feed in feeds)


# --- voice import-opml ----------------------------------------------------------------------


def _opml(site: Site, *outlines: str) -> Path:
    body = "\n".join(outlines)
    path = site.root / "blogs.opml"
    path.write_text(
        f'<?xml version="1.0"?>\n<opml version="2.0"><head><title>Blogs</title></head>'
        f'<body><outline text="Councils">{body}</outline></body></opml>\n',
        encoding="utf-8",
    )
    return path


def test_import_opml_queues_each_blog_with_one_line_of_result(site: Site) -> None:
    good = site.blog("kent")
    site.server.route("/gone.rss", Status(404))
    path = _opml(
        site,
        f'<outline text="Kent" type="rss" xmlUrl="{good}"/>',
        '<outline text="Voice" htmlUrl="https://localgov.digital/"/>',
        f'<outline text="Gone" xmlUrl="{site.server.url("/gone.rss")}"/>',
        '<outline text="No address"/>',
    )
    code, out, err = site.voice(
        "import-opml", str(path), "--region", "south east", "--allow-private-hosts"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"queued #1 {good}"
    assert (
        lines[1]
        == "already registered as https://localgov.digital/feed/ (listed as https://localgov.digital/)"
    )
    assert lines[2].startswith(f"skipped: no feed found at {site.server.url('/gone.rss')}: ")
    assert lines[3] == f"3 blogs read from {path}"
    assert "#1 join" in site.voice("submissions")[1]

    again = site.voice("import-opml", str(path), "--region", "South East", "--allow-private-hosts")
    assert "already waiting for a moderator (#1)" in again[1]


def test_import_opml_with_yes_adds_each_blog_after_a_trial(site: Site) -> None:
    feeds = [site.blog("kent"), site.blog("leeds")]
    path = _opml(
        site, *(f'<outline xmlUrl="{f}"/>' for f in feeds), f'<outline xmlUrl="{feeds[0]}"/>'
    )
    code, out, err = site.voice(
        "import-opml", str(path), "--region", "Wales", "--yes", "--allow-private-hosts"
    )
    assert code == 0, err
    assert out.splitlines()[:3] == [
        f"added {feeds[0]}",
        f"added {feeds[1]}",
        f"already registered as {feeds[0]}",
    ]
    assert entry(site, feeds[1])["region"] == "Wales"
    assert site.voice("submissions")[1].startswith("0 pending")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b'<!DOCTYPE opml [<!ENTITY a "aaaa">]><opml/>', "DOCTYPE or ENTITY"),
        (b"<opml><body><outline xmlUrl='x'></body>", "not valid XML"),
        (b"<rss/>", "not an OPML file"),
    ],
    ids=["entities", "broken", "not opml"],
)
def test_unsafe_or_broken_opml_is_refused(text: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_opml(text)


def test_opml_outlines_at_any_depth_in_order() -> None:
    found = parse_opml(
        b'<opml><body><outline text="A" xmlurl=" https://a.example/feed "/>'
        b'<outline text="group"><outline title="B" htmlUrl="https://b.example/"/></outline>'
        b"</body></opml>"
    )
    assert [(o.title, o.url) for o in found] == [
        ("A", "https://a.example/feed"),
        ("B", "https://b.example/"),
    ]


def test_import_opml_refuses_a_bad_file_in_one_line(site: Site) -> None:
    path = site.root / "bad.opml"
    path.write_bytes(b'<!DOCTYPE opml SYSTEM "file:///etc/passwd"><opml/>')
    code, _, err = site.voice("import-opml", str(path), "--region", "Wales")
    assert code == 1 and err.strip().endswith("which OPML never needs")
    code, _, err = site.voice("import-opml", str(path), "--region", "Mars")
    assert code == 2 and "Choose a region" in err
