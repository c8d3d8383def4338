"""Public answers kept while the database is unchanged: ETag, 304 and one shared copy.

A reader page, a feed or a researcher's JSON costs 5-300 ms to render and is
the same for everyone until Voice writes to the database, so under a burst
one Datasette process renders each answer once, not once per reader:

- State: each database file's version (reader/changes.py: SQLite's
  `PRAGMA data_version`, which changes whenever the fetcher, `voice remove`
  or any other connection commits). An answer is kept with the state it was
  rendered in and served only while that state holds, and for at most
  MAX_AGE seconds (the navigation counts a page shows may lag by up to a
  minute, by design, plugins/reader/lookup.py; an answer holding them may
  not outlive that). The state is read before rendering, so a write during
  rendering makes the next request render again.
- One render at a time per address: requests that arrive while it renders
  wait for it instead of rendering the same thing in parallel.
- A request that says `Cache-Control: no-cache` (a hard reload) is rendered
  anew, and the new answer kept.
- ETag (a digest of the body) and `Cache-Control: no-cache` when the answer
  sets neither, so browsers ask again each time and get a 304 while nothing
  changed; If-None-Match is answered from the kept copy.

Only GET answers with status 200 are kept, and never: the member pages
(/connect, no-store), Datasette's own /-/ pages, SQL written in the address
(`sql=`, which may call datetime('now') or random()), requests that carry a
login (Authorization, a ds_actor cookie), and answers that set a cookie, say
no-store or private, or are over MAX_BODY. Reads only the database files
Datasette was given; never imports aggregator.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, NamedTuple

from datasette import hookimpl

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from reader.changes import version  # noqa: E402
from reader.lookup import CACHE_SECONDS  # noqa: E402

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Message, Receive, Send], Awaitable[None]]

MAX_AGE = CACHE_SECONDS  # seconds: no longer than the navigation counts it holds
MAX_BODY = 1_000_000  # bytes in one kept answer
MAX_TOTAL = 64_000_000  # bytes kept in all
PRIVATE_PATHS = ("/connect", "/-/")


class Kept(NamedTuple):
    """One rendered answer and the database state it was rendered in.

    (A named tuple: Datasette loads plugins without registering their module,
    which dataclasses need.)
    """

    state: tuple[int, ...]
    at: float
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    etag: bytes


def cacheable_request(scope: Message) -> bool:
    if scope["type"] != "http" or scope["method"] != "GET":
        return False
    path = scope.get("path", "")
    if path.startswith(PRIVATE_PATHS):
        return False
    query = scope.get("query_string", b"")
    if b"sql=" in query:
        return False
    for name, value in scope.get("headers", []):
        if name == b"authorization" or (name == b"cookie" and b"ds_actor" in value):
            return False
    return True


def _header(headers: Any, name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return bytes(value)
    return None


def keepable(status: int, headers: Any) -> bool:
    if status != 200 or _header(headers, b"set-cookie") is not None:
        return False
    control = (_header(headers, b"cache-control") or b"").lower()
    return b"no-store" not in control and b"private" not in control


def _request_key(scope: Message) -> tuple[str, bytes, bytes, bytes]:
    host = _header(scope.get("headers", []), b"host") or b""
    return (scope.get("scheme", "http"), host, scope["path"].encode(), scope["query_string"])


def _asks_anew(scope: Message) -> bool:
    """Cache-Control: no-cache (a browser's hard reload, bench/pages.py's rendered column)."""
    headers = scope.get("headers", [])
    asked = (_header(headers, b"cache-control") or _header(headers, b"pragma") or b"").lower()
    return b"no-cache" in asked


def _not_modified(scope: Message, kept: Kept) -> bool:
    """The request's validators hold for the kept answer, as the answer's own route would say.

    If-None-Match decides when sent (RFC 9110 13.1.3); otherwise If-Modified-Since,
    against the Last-Modified the route gave (feeds give one), to the second.
    """
    headers = scope.get("headers", [])
    asked = _header(headers, b"if-none-match")
    if asked is not None:
        tags = [t.strip().removeprefix(b"W/") for t in asked.split(b",")]
        return b"*" in tags or kept.etag in tags
    since = _header(headers, b"if-modified-since")
    modified = _header(kept.headers, b"last-modified")
    if since is None or modified is None:
        return False
    try:
        return parsedate_to_datetime(modified.decode()) <= parsedate_to_datetime(since.decode())
    except (TypeError, ValueError, UnicodeDecodeError):
        return False  # an unreadable date: send the answer


async def _send_kept(kept: Kept, scope: Message, send: Send) -> None:
    if _not_modified(scope, kept):
        headers = [(k, v) for k, v in kept.headers if k.lower() != b"content-length"]
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": kept.status, "headers": kept.headers})
    await send({"type": "http.response.body", "body": kept.body})


def _with_validators(headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[list, bytes]:
    """The answer's headers with an ETag and Cache-Control added when it set none."""
    etag = _header(headers, b"etag")
    if etag is None:
        etag = b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
        headers = [*headers, (b"etag", etag)]
    if _header(headers, b"cache-control") is None:
        headers = [*headers, (b"cache-control", b"no-cache")]
    return headers, etag.removeprefix(b"W/")


class AnswerCache:
    """Rendered answers by address, each valid while the database state holds."""

    def __init__(self, state: Callable[[], tuple[int, ...]], clock: Callable[[], float]) -> None:
        self._state = state
        self._clock = clock
        self._kept: OrderedDict[tuple, Kept] = OrderedDict()
        self._size = 0
        self._rendering: dict[tuple, asyncio.Future[Kept | None]] = {}

    def _fresh(self, key: tuple, state: tuple[int, ...]) -> Kept | None:
        kept = self._kept.get(key)
        if kept is None:
            return None
        if kept.state != state or self._clock() - kept.at > MAX_AGE:
            self._drop(key)
            return None
        self._kept.move_to_end(key)
        return kept

    def _drop(self, key: tuple) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self._size -= len(kept.body)

    def _keep(self, key: tuple, kept: Kept) -> None:
        self._drop(key)
        self._kept[key] = kept
        self._size += len(kept.body)
        while self._size > MAX_TOTAL and self._kept:
            self._drop(next(iter(self._kept)))

    async def serve(self, app: ASGIApp, scope: Message, receive: Receive, send: Send) -> None:
        state = self._state()
        key = _request_key(scope)
        kept = None if _asks_anew(scope) else self._fresh(key, state)
        if kept is None and (pending := self._rendering.get((key, state))) is not None:
            kept = await asyncio.shield(pending)
        if kept is not None:
            await _send_kept(kept, scope, send)
            return
        done: asyncio.Future[Kept | None] = asyncio.get_running_loop().create_future()
        self._rendering[(key, state)] = done
        try:
            kept = await self._render(app, scope, receive, send, state)
            if kept is not None:
                self._keep(key, kept)
        finally:
            self._rendering.pop((key, state), None)
            done.set_result(kept)

    async def _render(
        self, app: ASGIApp, scope: Message, receive: Receive, send: Send, state: tuple[int, ...]
    ) -> Kept | None:
        """Pass the request on; keep the answer when it may be shared, else just forward it."""
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        passing = False

        async def capture(message: Message) -> None:
            nonlocal start, size, passing
            if passing:
                await send(message)
            elif message["type"] == "http.response.start":
                start = message
                passing = not keepable(message["status"], message.get("headers", []))
                if passing:
                    await send(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > MAX_BODY or message.get("more_body", False) and size > MAX_BODY // 2:
                    passing = True  # too large (or streamed) to keep: send what we have
                    assert start is not None
                    await send(start)
                    await send({**message, "body": b"".join(chunks)})

        await app(scope, receive, capture)
        if passing or start is None:
            return None
        body = b"".join(chunks)
        headers, etag = _with_validators(list(start.get("headers", [])), body)
        kept = Kept(state, self._clock(), start["status"], tuple(headers), body, etag)
        await _send_kept(kept, scope, send)
        return kept


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[ASGIApp], ASGIApp]:
    def wrap(app: ASGIApp) -> ASGIApp:
        cache: AnswerCache | None = None

        async def cached(scope: Message, receive: Receive, send: Send) -> None:
            nonlocal cache
            if not cacheable_request(scope):
                await app(scope, receive, send)
                return
            if cache is None:
                paths = [db.path for db in datasette.databases.values() if db.path]
                cache = AnswerCache(lambda: tuple(map(version, paths)), time.monotonic)
            await cache.serve(app, scope, receive, send)

        return cached

    return wrap
