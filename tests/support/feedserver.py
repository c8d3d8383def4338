"""A small HTTP server that serves feed files from a directory on 127.0.0.1.

Used by the integration tests and by the benchmark. Standard
library only, so it can run anywhere Voice runs.

    with FeedServer(Path("demo/feeds"), gzip=True) as server:
        server.url("/philrumens.atom")        # http://127.0.0.1:PORT/philrumens.atom
        server.route("/moved.rss", Redirect("/localgov-digital.rss"))
        server.route("/broken.rss", Status(500))
        server.requests                       # [(method, path, headers), ...]

Files are re-read on every request, so a test can change one between two
fetches. Each file is served with a Content-Type chosen by its extension, a
strong ETag (the quoted SHA-1 of its bytes) and a Last-Modified date from its
mtime; If-None-Match and If-Modified-Since get a 304.

A route replaces file serving for one path. Its handler is a behaviour value
(Redirect, Status, Drip, Raw) or a function that takes the RequestRecord and
returns a behaviour, or None to serve the file as usual.

Run it by hand with `python -m tests.support.feedserver DIR --port 8000 [--gzip]`;
it prints the base URL and serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import gzip as gziplib
import hashlib
import http.server
import signal
import socket
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

CONTENT_TYPES = {
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".xml": "application/xml",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"

# Idle keep-alive connections are dropped after this many seconds, so no
# handler thread waits on a client for ever.
IDLE_TIMEOUT_SECONDS = 5.0


class RequestRecord(NamedTuple):
    """One request as the server saw it; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Redirect:
    """Answer with a redirect to `location` (absolute, or a path on this server)."""

    location: str
    status: int = 301


@dataclass(frozen=True)
class Status:
    """Answer with `code`, an optional body and extra headers."""

    code: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Drip:
    """Send 200 headers and `head_bytes`, then `byte` every `interval_s`.

    Stops after `max_seconds`, when the client goes away, or when the server
    stops. There is no Content-Length; the body ends when the connection closes.
    """

    head_bytes: bytes = b""
    interval_s: float = 0.5
    max_seconds: float = 10.0
    byte: bytes = b" "
    content_type: str = "application/rss+xml"


@dataclass(frozen=True)
class Raw:
    """Send exactly `body` with exactly `headers` (Content-Length added if absent)."""

    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    status: int = 200


Behaviour = Redirect | Status | Drip | Raw
Handler = Behaviour | Callable[[RequestRecord], Behaviour | None]


def gzip_bomb(decompressed_bytes: int = 100_000_000, chunk: int = 1_000_000) -> Raw:
    """A Raw response whose gzip body inflates to `decompressed_bytes` of zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    zeros = bytes(chunk)
    parts = []
    remaining = decompressed_bytes
    while remaining > 0:
        size = min(chunk, remaining)
        parts.append(compressor.compress(zeros[:size]))
        remaining -= size
    parts.append(compressor.flush())
    return Raw(
        b"".join(parts),
        {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"},
    )


def http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison, as RFC 9110 asks for If-None-Match."""
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def _not_modified_since(if_modified_since: str, mtime: float) -> bool:
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    if since is None or since.tzinfo is None:
        return False
    return int(mtime) <= since.timestamp()


def _accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() != "gzip":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        return quality > 0
    return False


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: FeedServer) -> None:
        self.owner = owner
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.accepted = 0  # connections ever accepted, to show keep-alive works
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        """Stay quiet: a client hanging up is normal in tests."""

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the
    # body waits for the client's delayed ACK, adding ~40 ms to every response.
    disable_nagle_algorithm = True
    server_version = "VoiceFeedServer/1"
    sys_version = ""
    timeout = IDLE_TIMEOUT_SECONDS

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)
            self.server.accepted += 1

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """No access log on stderr."""

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    # -- dispatch ---------------------------------------------------------

    def _respond(self, *, send_body: bool) -> None:
        path = urlsplit(self.path).path or "/"
        record = RequestRecord(self.command, path, {k.lower(): v for k, v in self.headers.items()})
        owner = self.server.owner
        owner._log_request(record)
        behaviour = owner._behaviour_for(record)
        try:
            if behaviour is None:
                self._send_file(path, send_body)
            elif isinstance(behaviour, Redirect):
                self._send(behaviour.status, b"", {"Location": behaviour.location}, send_body)
            elif isinstance(behaviour, Status):
                self._send(behaviour.code, behaviour.body, behaviour.headers, send_body)
            elif isinstance(behaviour, Raw):
                self._send(behaviour.status, behaviour.body, behaviour.headers, send_body)
            elif isinstance(behaviour, Drip):
                self._drip(behaviour, send_body)
            else:
                raise TypeError(f"unknown behaviour {behaviour!r}")
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _send(self, status: int, body: bytes, headers: Mapping[str, str], send_body: bool) -> None:
        self.send_response(status)
        names = {name.lower() for name in headers}
        for name, value in headers.items():
            self.send_header(name, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)

    def _send_file(self, path: str, send_body: bool) -> None:
        file = self.server.owner._file_for(path)
        if file is None:
            self._send(404, b"not found\n", {"Content-Type": "text/plain"}, send_body)
            return
        try:
            content = file.read_bytes()
            mtime = file.stat().st_mtime
        except OSError:
            self._send(404, b"not found\n", {"Content-Type": "text/plain"}, send_body)
            return
        etag = '"' + hashlib.sha1(content).hexdigest() + '"'
        headers = {
            "Content-Type": CONTENT_TYPES.get(file.suffix.lower(), DEFAULT_CONTENT_TYPE),
            "ETag": etag,
            "Last-Modified": http_date(mtime),
        }
        if self.server.owner.gzip:
            headers["Vary"] = "Accept-Encoding"
        if_none_match = self.headers.get("If-None-Match")
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_none_match is not None:
            not_modified = _etag_matches(if_none_match, etag)
        elif if_modified_since is not None:
            not_modified = _not_modified_since(if_modified_since, mtime)
        else:
            not_modified = False
        if not_modified:
            del headers["Content-Type"]
            self._send(304, b"", headers, send_body=False)
            return
        if self.server.owner.gzip and _accepts_gzip(self.headers.get("Accept-Encoding", "")):
            content = self.server.owner._gzipped(path, etag, content)
            headers["Content-Encoding"] = "gzip"
        self._send(200, content, headers, send_body)

    def _drip(self, drip: Drip, send_body: bool) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", drip.content_type)
        self.send_header("Connection", "close")
        self.end_headers()
        if not send_body:
            return
        self.wfile.write(drip.head_bytes)
        self.wfile.flush()
        deadline = time.monotonic() + drip.max_seconds
        stopping = self.server.stopping
        while time.monotonic() < deadline:
            if stopping.wait(max(0.0, min(drip.interval_s, deadline - time.monotonic()))):
                return
            if time.monotonic() >= deadline:
                return
            self.wfile.write(drip.byte)
            self.wfile.flush()


class FeedServer:
    """Serve the files in `directory` over HTTP; see the module docstring."""

    def __init__(
        self, directory: Path, host: str = "127.0.0.1", port: int = 0, gzip: bool = False
    ) -> None:
        self.directory = Path(directory).resolve()
        self.host = host
        self.port = port
        self.gzip = gzip
        self._routes: dict[str, Handler] = {}
        self._requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._gzip_cache: dict[str, tuple[str, bytes]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------

    def start(self) -> FeedServer:
        if self._server is not None:
            return self
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"feedserver-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FeedServer is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    # -- behaviours and the request log ------------------------------------

    def route(self, path: str, handler: Handler | None) -> None:
        """Give `path` a special behaviour; None goes back to serving the file."""
        path = "/" + path.lstrip("/")
        with self._lock:
            if handler is None:
                self._routes.pop(path, None)
            else:
                self._routes[path] = handler

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RequestRecord]:
        path = "/" + path.lstrip("/")
        return [r for r in self.requests if r.path == path]

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (requests over keep-alive share one)."""
        server = self._server
        return server.accepted if server is not None else 0

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _gzipped(self, path: str, etag: str, content: bytes) -> bytes:
        """Compress each version of a file once, as a real host's cache would."""
        with self._lock:
            cached = self._gzip_cache.get(path)
        if cached is not None and cached[0] == etag:
            return cached[1]
        compressed = gziplib.compress(content, compresslevel=6, mtime=0)
        with self._lock:
            self._gzip_cache[path] = (etag, compressed)
        return compressed

    def _log_request(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def _behaviour_for(self, record: RequestRecord) -> Behaviour | None:
        with self._lock:
            handler = self._routes.get(record.path)
        if handler is None or isinstance(handler, Redirect | Status | Drip | Raw):
            return handler
        return handler(record)

    def _file_for(self, path: str) -> Path | None:
        """The file a URL path names, or None if missing or outside the directory."""
        candidate = (self.directory / unquote(path).lstrip("/")).resolve()
        if not candidate.is_relative_to(self.directory) or not candidate.is_file():
            return None
        return candidate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.feedserver",
        description="Serve feed files from a directory until Ctrl-C.",
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--gzip", action="store_true", help="gzip bodies for clients that ask")
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        parser.error(f"{args.directory} is not a directory")
    server = FeedServer(args.directory, host=args.host, port=args.port, gzip=args.gzip)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())  # `make demo` stops us with TERM
    server.start()
    print(server.base_url, flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
