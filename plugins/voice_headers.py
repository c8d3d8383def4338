"""Security headers on every response: pages, JSON, CSV, errors and static files.

- Content-Security-Policy. Scripts only from this site, plus the few inline
  scripts Datasette's own templates write, each allowed by its hash (read
  from the installed templates and from the template folder Datasette was
  given with --template-dir, so Voice's copies of Datasette's templates
  cannot silently break a page), so a script that gets into a page cannot
  run and Datasette's menus and SQL editor still work. Styles may be inline:
  Datasette's templates and voice_render use style attributes, and the
  sanitiser keeps none in posts. Images from any web address, since posts
  show their blogs' images and the sanitiser decides which are kept; images
  run no code. No plugins, no <base>, no framing; forms submit only here.
- X-Content-Type-Options: nosniff, so a CSV or JSON answer is never run as
  script or HTML; X-Frame-Options: DENY for browsers without frame-ancestors.
- Referrer-Policy: strict-origin-when-cross-origin: a member's blog sees
  that a reader came from Voice, never the page, search or SQL they came from.
  A private answer (Cache-Control: no-store) that asks for no-referrer keeps
  it: a member's status page (plugins/voice_connect.py) never leaks its
  address. Datasette's own no-referrer on its data pages is replaced.

Reads nothing from the aggregator package.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import datasette
from datasette import hookimpl

Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


DATASETTE_TEMPLATES = Path(datasette.__file__).parent / "templates"


def datasette_inline_scripts(*folders: Path) -> set[str]:
    """The text of each inline <script> the templates write, as rendered.

    Datasette's own templates, then those in `folders` (subfolders included).
    """
    scripts = set()
    templates = [*DATASETTE_TEMPLATES.glob("*.html")]
    for folder in folders:
        templates += folder.rglob("*.html")
    for template in templates:
        text = template.read_text(encoding="utf-8")
        for body in re.findall(r"<script>(.*?)</script>", text, re.DOTALL):
            for allow in ("true", "false"):  # the table page's one template value
                script = body.replace("{{ datasette_allow_facet }}", allow)
                if "{{" not in script and "{%" not in script:
                    scripts.add(script)
    return scripts


def _hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def policy(*template_folders: Path) -> str:
    scripts = datasette_inline_scripts(*template_folders)
    return "; ".join(
        [
            "default-src 'self'",
            " ".join(["script-src 'self'", *sorted(map(_hash, scripts))]),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' https: http: data:",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ]
    )


def headers(*template_folders: Path) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", policy(*template_folders).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
    ]


NAMES = {name for name, _ in headers()}
STRICTER = (b"referrer-policy", b"no-referrer")  # kept over the default on private answers
PRIVATE = (b"cache-control", b"no-store")


@hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[ASGIApp], ASGIApp]:
    folder = getattr(datasette, "template_dir", None)
    added = headers(*([Path(folder)] if folder else []))

    def wrap(app: ASGIApp) -> ASGIApp:
        async def with_headers(
            scope: Message,
            receive: Callable[[], Awaitable[Message]],
            send: Callable[[Message], Awaitable[None]],
        ) -> None:
            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    own = [(k.lower(), v.strip().lower()) for k, v in message.get("headers", [])]
                    stricter = STRICTER in own and PRIVATE in own
                    kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in NAMES]
                    ours = [h for h in added if not (stricter and h[0] == STRICTER[0])]
                    ours += [STRICTER] if stricter else []
                    message = {**message, "headers": kept + ours}
                await send(message)

            await app(scope, receive, send_with_headers if scope["type"] == "http" else send)

        return with_headers

    return wrap
