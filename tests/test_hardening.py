"""Serving safely: SQL that cannot outrun its limits, and security headers on every response.

The SQL attacks run against a real `voice serve` on a demo database, so a
query that would run for minutes fails its test at the hang deadline and is
ended with the server; nothing here is timed more tightly than that.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from datasette.app import Datasette
from ruamel.yaml import YAML

from aggregator import storage
from plugins import voice_limits

from .conftest import ROOT, free_port
from .test_service import HANG_SECONDS, Voice, answers, wait_until


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`voice serve` on a database of the demo feeds; its port."""
    db = tmp_path_factory.mktemp("served") / "voice.db"
    subprocess.run(
        [sys.executable, "-m", "aggregator", "demo", "--once", "--db", str(db),
         "--feeds-port", "0"],
        cwd=ROOT, check=True, capture_output=True, timeout=HANG_SECONDS,
    )  # fmt: skip
    port = free_port()
    voice = Voice("serve", "--db", str(db), "--port", str(port))
    try:
        wait_until(lambda: answers(port), "Datasette answers")
        yield port
        voice.proc.send_signal(signal.SIGTERM)
        assert voice.finish() == 0, voice.output
    finally:
        voice.close()


def get(port: int, path: str) -> tuple[int, dict]:
    """Status and JSON body of a GET that must come back before the hang deadline."""
    url = f"http://127.0.0.1:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=HANG_SECONDS) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def sql(query: str) -> str:
    return "/voice.json?" + urllib.parse.urlencode({"sql": query, "_shape": "array"})


def json_object(key: str, count: int) -> str:
    """SQL for a JSON object text with `count` copies of one key, built in one call."""
    return f"""'{{'||replace(printf('%.*c',{count},'x'),'x','"{key}":1,')||'"{key}":1}}'"""


A = "printf('%.*c',{},'a')"
# Each query once took from 8 s to hours in one SQLite call, which no time limit
# interrupts. Now each is refused with SQLite's own error, or answers.
ATTACKS = [
    pytest.param(f"select {A.format(1000000)} like '%'||{A.format(45000)}||'b'",
                 "LIKE or GLOB pattern too complex", id="like-long-pattern-82s"),
    pytest.param("select length(printf('%.*c',999999999,'x'))", "too big", id="printf-1GB"),
    pytest.param("select length(zeroblob(1000000000))", "too big", id="zeroblob-1GB"),
    pytest.param(f"select length(replace({A.format(7000000)},'a','bb'))", "too big",
                 id="replace-past-the-length-limit"),
    pytest.param(f"select json_patch({json_object('a', 100000)}, {json_object('b', 100000)})",
                 "too big", id="json_patch-quadratic"),
    pytest.param(f"select {A.format(1000000)} like '%'||{A.format(97)}||'b'", 0,
                 id="like-within-the-limits"),
    pytest.param(f"select instr({A.format(4000000)}, {A.format(2000000)}||'b')", 0,
                 id="instr-quadratic"),
    pytest.param(f"select length(replace({A.format(4000000)}, {A.format(2000000)}||'b', 'x'))",
                 4000000, id="replace-quadratic"),
    pytest.param(f"select length(trim({A.format(4000000)}, printf('%.*c',1000000,'b')||'a'))", 0,
                 id="trim-quadratic"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "outcome"), ATTACKS)
def test_an_expensive_sql_call_is_refused_or_answers(
    served: int, query: str, outcome: str | int
) -> None:
    status, body = get(served, sql(query))
    if isinstance(outcome, str):
        assert status == 400 and outcome in body["error"], body
    else:
        assert status == 200 and list(body[0].values()) == [outcome], body


def test_every_table_page_and_search_work_within_the_limits(served: int) -> None:
    """Datasette's own queries, FTS detection's LIKE patterns among them, fit the limits."""
    _, database = get(served, "/voice.json")
    tables = [t["name"] for t in database["tables"]] + [v["name"] for v in database["views"]]
    assert "_sqlite_migrations" in tables  # the longest name: the longest FTS pattern
    paths = [f"/voice/{urllib.parse.quote(t)}.json?_labels=on&_size=max" for t in tables]
    paths += [
        "/voice/posts.json?_search=council",
        "/voice/posts.json?_sort=title",
        "/voice/posts.json?title__contains=digital",
        "/voice/posts.json?_facet=region",
    ]
    statuses = {path: get(served, path)[0] for path in paths}
    assert set(statuses.values()) == {200}, statuses


@pytest.mark.parametrize(
    "expression",
    [
        "instr('héllo wörld','ö')", "instr(x'010203',x'03')", "instr('xa',x'61')",
        "instr(12345,34)", "instr(1e20,'e')", "instr(NULL,'a')", "instr('abc','')",
        "replace('abcabc','b','XY')", "replace(5,'','x')", "replace(1.25,'.',',')",
        "replace('a',NULL,'x')", "replace(x'616263','b','x')", "replace('aaa','aa','b')",
        "trim('xxhixx','x')", "ltrim('xxhixx','x')", "rtrim(12.5,'5')", "trim('abc','')",
        "trim('xyz','abcdefghijklmnopqrstuvwxy')", "trim('ééaéé','é')", "trim(NULL,'a')",
        "json_patch('{\"a\":1,\"b\":2}','{\"a\":null,\"c\":3}')",
        "printf('%5.2f|%-4s|%,d', 3.14159, 'ab', 1234567)", "printf('%*.*c|', 4, 2, 'z')",
        "format('%q', 'it''s')", "printf(NULL)",
    ],
)  # fmt: skip
def test_the_linear_functions_give_sqlites_results(expression: str) -> None:
    builtin, linear = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    voice_limits.prepare_connection(linear)
    [expected], [got] = (c.execute(f"select {expression}").fetchone() for c in (builtin, linear))
    assert (type(got), got) == (type(expected), expected)


# -- headers ---------------------------------------------------------------------------


@pytest.fixture
def datasette(tmp_path: Path) -> Datasette:
    db = tmp_path / "voice.db"
    storage.connect(db).close()
    metadata = YAML(typ="safe").load((ROOT / "metadata.yml").read_text())
    return Datasette([str(db)], metadata=metadata, plugins_dir=str(ROOT / "plugins"))


def fetch(ds: Datasette, path: str) -> tuple[int, dict[str, str], str]:
    async def go() -> tuple[int, dict[str, str], str]:
        response = await ds.client.get(path)
        return response.status_code, dict(response.headers), response.text

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/voice/posts", 200, id="html"),
        pytest.param("/voice/posts.json", 200, id="json"),
        pytest.param("/voice/posts.csv", 200, id="csv"),
        pytest.param("/voice/no-such-table", 404, id="not-found"),
        pytest.param("/voice.json?sql=select+nonsense", 400, id="sql-error"),
        pytest.param("/-/static/app.css", 200, id="static"),
    ],
)
def test_every_response_carries_the_security_headers(
    datasette: Datasette, path: str, status: int
) -> None:
    code, headers, _ = fetch(datasette, path)
    assert code == status
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    policy = dict(d.strip().split(" ", 1) for d in headers["content-security-policy"].split(";"))
    assert policy["object-src"] == policy["base-uri"] == policy["frame-ancestors"] == "'none'"
    assert policy["form-action"] == "'self'"
    assert policy["script-src"].startswith("'self'") and "unsafe" not in policy["script-src"]


@pytest.mark.parametrize("path", ["/voice", "/voice/posts", "/voice?sql=select+1"])
def test_only_datasettes_own_inline_scripts_may_run(datasette: Datasette, path: str) -> None:
    """Each inline script on the page is allowed by its hash; no other inline script is."""
    _, headers, html = fetch(datasette, path)
    script_src = re.search(r"script-src ([^;]*)", headers["content-security-policy"])
    assert script_src
    allowed = set(script_src[1].split()) - {"'self'"}
    inline = re.findall(r"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", html, re.DOTALL)
    assert inline, "Datasette writes inline scripts on this page"
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed, script[:80]
