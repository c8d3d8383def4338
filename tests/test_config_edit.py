"""feeds.yaml edits: comments and order kept, invalid results refused, atomic under kill -9."""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml.comments import CommentedMap

from aggregator.errors import ConfigError
from aggregator.registry.edit import (
    add_feed,
    edit_registry,
    remove_feed,
    replace_feed_url,
    update_feed,
)
from aggregator.registry.feeds import load_registry

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "config_edit"
MOVED = "https://moved.example/feed.xml"
Edit = Callable[[Path], bool]


def _copy(tmp_path: Path, name: str) -> Path:
    target = tmp_path / "feeds.yaml"
    shutil.copy(DATA / name, target)
    return target


@pytest.mark.parametrize(
    ("source", "url", "expected"),
    [
        pytest.param(
            "commented.yaml",
            "https://a.example/feed/",
            "commented.remove-first.yaml",
            id="first-entry-heading-kept",
        ),
        pytest.param(
            "commented.yaml",
            "https://b.example/feed/",
            "commented.remove-middle.yaml",
            id="middle-entry-next-heading-kept",
        ),
        pytest.param(
            "commented.yaml",
            "http://C.example/feed",
            "commented.remove-under-heading.yaml",
            id="normalised-url-own-comment-goes",
        ),
        pytest.param(
            "commented.yaml",
            "https://d.example/feed/",
            "commented.remove-last.yaml",
            id="last-entry-no-trailing-blank",
        ),
        pytest.param(
            "flush-left.yaml",
            "https://b.example/feed/",
            "flush-left.remove-middle.yaml",
            id="flush-left-indentation-kept",
        ),
    ],
)
def test_remove_keeps_everything_else(tmp_path: Path, source: str, url: str, expected: str) -> None:
    path = _copy(tmp_path, source)
    assert remove_feed(path, url) is True
    assert path.read_text() == (DATA / expected).read_text()
    load_registry(path)


def test_replace_keeps_comments_order_and_quotes(tmp_path: Path) -> None:
    path = _copy(tmp_path, "commented.yaml")
    assert replace_feed_url(path, "https://c.example/feed/", MOVED) is True
    assert path.read_text() == (DATA / "commented.replace-quoted.yaml").read_text()


def test_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = _copy(tmp_path, "commented.yaml")
    path.chmod(0o640)
    assert remove_feed(path, "https://a.example/feed/")
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            lambda p: remove_feed(p, "https://nobody.example/feed/"),
            id="remove-missing",
        ),
        pytest.param(
            lambda p: replace_feed_url(p, "https://nobody.example/", MOVED),
            id="replace-missing",
        ),
        pytest.param(
            lambda p: replace_feed_url(p, "https://a.example/feed/", "https://a.example/feed/"),
            id="replace-with-itself",
        ),
    ],
)
def test_no_change_leaves_file_untouched(tmp_path: Path, edit: Edit) -> None:
    path = _copy(tmp_path, "commented.yaml")
    before = path.read_bytes()
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    assert edit(path) is False
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == 1_000_000_000_000_000_000


def _set_region(region: str) -> Callable[[CommentedMap], bool]:
    def change(doc: CommentedMap) -> bool:
        doc["feeds"][0]["region"] = region
        return True

    return change


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(
            lambda p: replace_feed_url(p, "https://a.example/feed/", "ftp://a.example/feed"),
            "must start with http:// or https://",
            id="bad-scheme",
        ),
        pytest.param(
            lambda p: replace_feed_url(p, "https://a.example/feed/", "http://B.example/feed"),
            "already registered",
            id="new-url-already-registered",
        ),
        pytest.param(
            lambda p: edit_registry(p, _set_region("Devon")),
            "'Devon' is not a region",
            id="bad-region",
        ),
    ],
)
def test_invalid_result_is_refused(tmp_path: Path, edit: Edit, message: str) -> None:
    path = _copy(tmp_path, "commented.yaml")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=message) as caught:
        edit(path)
    assert "\n" not in str(caught.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".feeds.yaml.lock", "feeds.yaml"]


def test_unparseable_file_is_not_edited(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        remove_feed(path, "https://a.example/feed/")
    assert path.read_text() == "feeds: [\n"


def test_committed_registry_diff_is_only_the_removed_entry(tmp_path: Path) -> None:
    committed = ROOT / "feeds.yaml"
    path = tmp_path / "feeds.yaml"
    shutil.copy(committed, path)
    victim = load_registry(committed).feeds[3].url
    assert remove_feed(path, victim)
    old, new = committed.read_text().splitlines(), path.read_text().splitlines()
    start = next(i for i, line in enumerate(old) if victim in line)
    end = start + 1
    while end < len(old) and not old[end].lstrip().startswith("- "):
        end += 1  # the entry's keys and the blank line after it
    assert new == old[:start] + old[end:]
    assert len(load_registry(path).feeds) == len(load_registry(committed).feeds) - 1


# --- two processes at once ----------------------------------------------------

FEEDS = [f"https://{name}.example/feed/" for name in "abcdefgh"]


def _registry_text(urls: list[str]) -> str:
    entries = "".join(f"  # {url}\n  - url: {url}\n    region: London\n\n" for url in urls)
    return f"# many feeds\nfeeds:\n{entries}"


def _remove_all(path: str, urls: list[str], barrier: Any) -> None:
    barrier.wait()
    for url in urls:
        assert remove_feed(Path(path), url)


def test_two_processes_editing_at_once_keep_both_removals(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(_registry_text(FEEDS))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [
        ctx.Process(target=_remove_all, args=(str(path), FEEDS[0:6:2], barrier)),
        ctx.Process(target=_remove_all, args=(str(path), FEEDS[1:6:2], barrier)),
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert [f.url for f in load_registry(path).feeds] == FEEDS[6:]
    assert path.read_text() == _registry_text(FEEDS[6:])


# --- kill -9 in the middle of edits ---------------------------------------------

# The child edits back and forth. With a HOLD_AT above 0 it stops in the
# HOLD_AT-th fsync of a temp file, after writing the new text and before
# replacing feeds.yaml (where a non-atomic write shows), says "writing" and
# waits to be killed. Otherwise its fsync is slow (a slow disk), so a kill at a
# random moment often lands there too.
EDIT_LOOP = """
import os, signal, stat, sys, time
from pathlib import Path
from aggregator.registry.edit import replace_feed_url
path, a, b, hold_at = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
_fsync = os.fsync
temp_files = 0
def fsync(fd):
    global temp_files
    if stat.S_ISREG(os.fstat(fd).st_mode):
        temp_files += 1
        if temp_files == hold_at:
            print("writing", flush=True)
            signal.pause()
    time.sleep(0.01)
    _fsync(fd)
os.fsync = fsync
print("ready", flush=True)
for _ in range(10_000):
    replace_feed_url(path, a, b) or replace_feed_url(path, b, a)
"""


def test_killed_editor_leaves_old_or_new_file(tmp_path: Path) -> None:
    """SIGKILL an editing child mid-write and at random moments; the file is
    always one valid version.

    Temp files left by a killed writer are deleted by the next writer (under
    the lock), so at most one is ever present and none after a clean edit.
    """
    path = tmp_path / "feeds.yaml"
    shutil.copy(ROOT / "feeds.yaml", path)
    old_url = load_registry(path).feeds[2].url
    original = path.read_text()
    assert replace_feed_url(path, old_url, MOVED)
    moved = path.read_text()
    assert replace_feed_url(path, MOVED, old_url)
    assert path.read_text() == original  # round trip is exact, so two versions only

    rng = random.Random(3)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for round_number in range(30):
        mid_write = round_number % 2 == 0
        hold_at = rng.randint(1, 4) if mid_write else 0
        child = subprocess.Popen(
            [sys.executable, "-c", EDIT_LOOP, str(path), old_url, MOVED, str(hold_at)],
            stdout=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == b"ready\n"
            if mid_write:
                assert child.stdout.readline() == b"writing\n"
            else:
                time.sleep(rng.uniform(0.02, 0.15))  # any moment: the checks hold for all
            assert child.poll() is None, "the editor stopped before it was killed"
        finally:
            child.kill()
            child.wait(timeout=60)
            if child.stdout is not None:
                child.stdout.close()
        assert child.returncode == -signal.SIGKILL  # killed mid-loop, not finished
        assert path.read_text() in (original, moved)
        load_registry(path)
        strays = list(tmp_path.glob(".feeds.yaml.*.tmp"))
        assert len(strays) <= 1
        if mid_write:  # killed with the new text written in full but not yet in place
            (stray,) = strays
            written = stray.read_text()
            assert written in (original, moved) and written != path.read_text()
    assert remove_feed(path, "https://sarahlay.com/feed/")
    assert not list(tmp_path.glob(".feeds.yaml.*.tmp"))


def test_an_edit_refuses_a_registry_nested_too_deep(tmp_path: Path) -> None:
    """voice remove read feeds.yaml without the shape limits: deep nesting was a traceback."""
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "feeds:\n  - url: https://a.example/feed\n    region: Wales\nx: "
        + "[" * 20000
        + "]" * 20000
        + "\n"
    )
    before = path.read_bytes()
    with pytest.raises(ConfigError) as caught:
        remove_feed(path, "https://a.example/feed")
    assert "not editing it" in str(caught.value) and "\n" not in str(caught.value)
    assert path.read_bytes() == before


# --- adding and changing entries ------------------------------------------------

ECHO = {
    "region": "Scotland",  # given in any order: written in FEED_KEYS order
    "research": False,
    "url": "https://e.example/feed/",
    "display": "excerpt",
    "topics": ("open-data",),
    "title": "Echo",
    "site_url": "https://e.example/",
    "author": None,  # None and empty values are left out
    "organisation": "",
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("commented.yaml", "commented.add.yaml", id="blank-line-between-entries"),
        pytest.param("flush-left.yaml", "flush-left.add.yaml", id="no-blank-line-flush-left"),
    ],
)
def test_add_appends_one_entry_in_the_files_own_layout(
    tmp_path: Path, source: str, expected: str
) -> None:
    path = _copy(tmp_path, source)
    add_feed(path, ECHO)
    assert path.read_text() == (DATA / expected).read_text()  # comments and quotes kept
    added = load_registry(path).feeds[-1]
    assert (added.url, added.region, added.display, added.research) == (
        "https://e.example/feed/",
        "Scotland",
        "excerpt",
        False,
    )


def test_add_to_the_committed_registry_appends_after_a_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    shutil.copy(ROOT / "feeds.yaml", path)
    add_feed(path, {"url": "https://e.example/feed/", "region": "Wales", "title": "Echo"})
    added = "\n  - url: https://e.example/feed/\n    title: Echo\n    region: Wales\n"
    assert path.read_text() == (ROOT / "feeds.yaml").read_text() + added


def test_add_to_an_empty_list_starts_a_block_list(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("# nobody yet\nfeeds: []\n")
    add_feed(path, {"url": "https://e.example/feed/", "region": "Wales"})
    assert path.read_text() == (
        "# nobody yet\nfeeds:\n  - url: https://e.example/feed/\n    region: Wales\n"
    )


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param({"url": "https://a.example/feed/"}, id="same-feed"),
        pytest.param({"url": "http://www.a.example/"}, id="home-page-of-the-feed"),
        pytest.param({"url": "https://a.example/rss.xml"}, id="another-feed-of-the-blog"),
        pytest.param(
            {"url": "https://new.example/feed/", "site_url": "https://a.example"},
            id="site-url",
        ),
    ],
)
def test_add_refuses_a_blog_already_registered(tmp_path: Path, entry: dict[str, Any]) -> None:
    path = _copy(tmp_path, "commented.yaml")
    before = path.read_bytes()
    with pytest.raises(ConfigError) as caught:
        add_feed(path, {**entry, "region": "Wales"})
    message = str(caught.value)
    assert "already registered as feeds[0] (https://a.example/feed/)" in message
    assert path.read_bytes() == before


def test_add_refuses_a_blog_registered_before_a_known_redirect(tmp_path: Path) -> None:
    path = _copy(tmp_path, "commented.yaml")
    moved = {"https://a.example/feed/": "https://alpha.example/feed/"}
    with pytest.raises(ConfigError, match=r"feeds\[0\]"):
        add_feed(path, {"url": "https://alpha.example/", "region": "Wales"}, redirects=moved)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param({"url": "https://e.example/", "region": "Mars"}, "'Mars' is not a region"),
        pytest.param({"url": "https://e.example/"}, "region is required"),
        pytest.param({"url": "https://e.example/", "region": "Wales", "colour": "red"}, "colour"),
        pytest.param(
            {"url": "https://e.example/", "region": "Wales", "display": "big"},
            "use full or excerpt",
        ),
    ],
)
def test_add_refuses_an_invalid_entry(tmp_path: Path, entry: dict[str, Any], message: str) -> None:
    path = _copy(tmp_path, "commented.yaml")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=message) as caught:
        add_feed(path, entry)
    assert "\n" not in str(caught.value)
    assert path.read_bytes() == before


def test_update_sets_and_deletes_keys_keeping_comments(tmp_path: Path) -> None:
    path = _copy(tmp_path, "commented.yaml")
    assert update_feed(path, "https://a.example/feed/", {"region": "London", "paused": True})
    changes = {"topics": None, "organisation": "Bravo Council", "title": "Bravo!"}
    assert update_feed(path, "http://B.example/feed", changes)
    assert update_feed(path, "https://c.example/feed/", {"research": False, "topics": ["housing"]})
    assert path.read_text() == (DATA / "commented.update.yaml").read_text()
    feeds = load_registry(path).feeds
    assert (feeds[0].region, feeds[0].paused, feeds[1].topics, feeds[2].research) == (
        "London",
        True,
        (),
        False,
    )
    assert update_feed(path, "https://a.example/feed/", {"paused": None})
    assert "paused" not in path.read_text()
    assert "    region: London    # HQ\n\n  - url: https://b" in path.read_text()


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"region": "National", "title": "Alpha"}, id="same-values-quoted-title"),
        pytest.param({"author": None}, id="delete-absent-key"),
        pytest.param({}, id="nothing"),
    ],
)
def test_update_that_changes_nothing_leaves_the_file(
    tmp_path: Path, changes: dict[str, Any]
) -> None:
    path = _copy(tmp_path, "commented.yaml")
    before = path.read_bytes()
    assert update_feed(path, "https://a.example/feed/", changes) is False
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("url", "changes", "message"),
    [
        pytest.param("https://z.example/", {"paused": True}, "is not registered", id="absent"),
        pytest.param("https://a.example/feed/", {"paused": "yes"}, "true or false", id="invalid"),
        pytest.param("https://a.example/feed/", {"region": None}, "region is required", id="req"),
        pytest.param("https://a.example/feed/", {"colour": "red"}, "unknown key", id="key"),
    ],
)
def test_update_refuses(tmp_path: Path, url: str, changes: dict[str, Any], message: str) -> None:
    path = _copy(tmp_path, "commented.yaml")
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=message):
        update_feed(path, url, changes)
    assert path.read_bytes() == before


def _add_all(path: str, urls: list[str], barrier: Any) -> None:
    barrier.wait()
    for url in urls:
        add_feed(Path(path), {"url": url, "region": "London"})


def test_two_processes_adding_at_once_keep_both_entries(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(_registry_text(FEEDS[:2]))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [
        ctx.Process(target=_add_all, args=(str(path), FEEDS[2:8:2], barrier)),
        ctx.Process(target=_add_all, args=(str(path), FEEDS[3:8:2], barrier)),
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert sorted(f.url for f in load_registry(path).feeds) == FEEDS


# The child takes the blog out if it is there, else adds it, over and over
# (a kill may have left either). With HOLD set
# it stops in its first fsync of a temp file (inside the lock, the new text
# written, feeds.yaml not yet replaced) and waits to be killed.
ADD_LOOP = """
import os, signal, stat, sys
from pathlib import Path
from aggregator.registry.edit import add_feed, remove_feed
path, url, hold = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
_fsync = os.fsync
def fsync(fd):
    if hold and stat.S_ISREG(os.fstat(fd).st_mode):
        print("writing", flush=True)
        signal.pause()
    _fsync(fd)
os.fsync = fsync
print("ready", flush=True)
for _ in range(10_000):
    if not remove_feed(path, url):
        add_feed(path, {"url": url, "region": "Wales", "title": "Echo"})
"""


def test_killed_add_leaves_old_or_new_file(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    shutil.copy(ROOT / "feeds.yaml", path)
    url = "https://e.example/feed/"
    original = path.read_text()
    added = original + f"\n  - url: {url}\n    title: Echo\n    region: Wales\n"
    rng = random.Random(11)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for round_number in range(12):
        hold = round_number % 3 == 0
        before = path.read_text()
        child = subprocess.Popen(
            [sys.executable, "-c", ADD_LOOP, str(path), url, "1" if hold else "0"],
            stdout=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == b"ready\n"
            if hold:
                assert child.stdout.readline() == b"writing\n"
            else:
                time.sleep(rng.uniform(0.02, 0.2))  # any moment: the checks hold for all
            assert child.poll() is None, "the editor stopped before it was killed"
        finally:
            child.kill()
            child.wait(timeout=60)
            if child.stdout is not None:
                child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        assert path.read_text() in (original, added)
        load_registry(path)
        if hold:  # the new text sat in a temp file, never half in feeds.yaml
            assert path.read_text() == before
            assert len(list(tmp_path.glob(".feeds.yaml.*.tmp"))) == 1
    remove_feed(path, url)
    add_feed(path, {"url": url, "region": "Wales", "title": "Echo"})
    assert path.read_text() == added
    assert not list(tmp_path.glob(".feeds.yaml.*.tmp"))
