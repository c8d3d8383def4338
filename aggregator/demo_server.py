"""The demo's feed server: the bundled feed files over HTTP on 127.0.0.1.

The standard library's file handler already answers If-Modified-Since with
304, so `voice demo` shows conditional GET at work; the hostile behaviours
the tests need live in tests/support/feedserver.py, outside the package.
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from types import TracebackType

CONTENT_TYPES = {
    ".atom": "application/atom+xml",
    ".rss": "application/rss+xml",
    ".rdf": "application/rdf+xml",
    ".xml": "application/xml",
    ".json": "application/feed+json",
}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **CONTENT_TYPES}

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """The demo prints its own summary; a line per request would bury it."""


class DemoFeedServer:
    """Serve `directory` on 127.0.0.1:`port` from a background thread."""

    def __init__(self, directory: Path, port: int) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        # Binding here, not in start(), so a taken port is known before anything else runs.
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> DemoFeedServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
