"""Every request in docs/api.md runs against a real server, as the page promises.

A small archive is fetched from 127.0.0.1 and served by a real Datasette with
Voice's plugins. Each `GET` line in a code block must answer the status it
names (200 unless it says `→ 400`); a JSON block after it must have the shape
of the real answer (the same keys; for an error, the same message); a `Link:`
block must be in the real answer's headers; each SQL block must run.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tests.support.archive import Archive
from tests.support.feedserver import FeedServer
from tests.support.live import live_datasette

from .conftest import ROOT

API = ROOT / "docs" / "api.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
REQUEST = re.compile(r"^GET (\S+)(?: → (\d{3}))?$")
COMPARED = ("ok", "error", "status")  # an error's own words are part of the API


def blocks() -> list[tuple[str, str]]:
    return [(lang, body) for lang, body in BLOCK.findall(API.read_text(encoding="utf-8"))]


def get(base: str, path: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(base + path, timeout=60) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def same_shape(doc: Any, real: Any, where: str = "") -> None:
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        assert isinstance(real, list) and real, f"{where}: expected a non-empty list"
        assert set(doc[0]) == set(real[0]), f"{where}: keys {sorted(real[0])}"
    elif isinstance(doc, dict):
        assert isinstance(real, dict), where
        assert set(doc) <= set(real), f"{where}: no {sorted(set(doc) - set(real))}"
        for key, value in doc.items():
            if key in COMPARED:
                assert real[key] == value, f"{where}.{key}"
            same_shape(value, real[key], f"{where}.{key}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("api")
    site = folder / "site"
    site.mkdir()
    for source in (ROOT / "demo" / "feeds", ROOT / "tests" / "data" / "update"):
        for path in source.glob("*.*"):
            (site / path.name).write_bytes(path.read_bytes())
    with FeedServer(site) as server:
        archive = Archive(server, folder, opted_out=False)
        archive.fetch()
    release = archive.release()
    with live_datasette(archive.db, log=folder / "datasette.log") as base:
        yield base, release.name


def test_the_page_has_examples_of_every_kind() -> None:
    langs = [lang for lang, _ in blocks()]
    assert langs.count("json") >= 5 and langs.count("sql") >= 3
    assert sum(body.count("GET ") for _, body in blocks()) >= 20


def test_every_example_answers_as_the_page_says(served: tuple[str, str]) -> None:
    base = served[0]
    last: tuple[str, int, dict[str, str], bytes] | None = None
    checked = 0
    for lang, body in blocks():
        if lang == "sql":
            query = urllib.parse.urlencode({"sql": body, "_shape": "array"})
            status, _, data = get(base, f"/voice.json?{query}")
            assert status == 200, (body, data[:300])
            checked += 1
        elif lang == "json":
            assert last is not None, "a JSON block with no request before it"
            path, status, _, data = last
            same_shape(json.loads(body), json.loads(data), path)
            checked += 1
        elif body.startswith("Link:"):
            assert last is not None
            path, _, headers, _ = last
            link = {k.lower(): v for k, v in headers.items()}.get("link", "")
            assert 'rel="next"' in link, path
            assert "_next=" in body and "_next=" in link
            checked += 1
        else:
            for line in body.strip().splitlines():
                match = REQUEST.match(line)
                assert match, f"not a request: {line!r}"
                path, expected = match[1], int(match[2] or 200)
                status, headers, data = get(base, path)
                assert status == expected, (path, data[:300])
                last = (path, status, headers, data)
                checked += 1
    assert checked >= 30


def test_every_address_named_in_the_text_answers(served: tuple[str, str]) -> None:
    """The addresses in the prose, not in code blocks; the page's example release
    id stands for the release this archive has."""
    base, release_id = served
    text = API.read_text(encoding="utf-8")
    paths = {
        re.sub(r"voice-\d{4}-\d{2}-\d{2}", f"voice-{release_id}", path)
        for path in re.findall(r"`(/voice[^`\s<]*)`", text)
    }
    assert len(paths) >= 5
    answers = {path: get(base, path)[0] for path in sorted(paths)}
    assert set(answers.values()) == {200}, answers
