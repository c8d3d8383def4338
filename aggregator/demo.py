"""`voice demo`: Voice working with no internet, on bundled demo feeds.

A demo registry is a feeds.yaml whose URLs start with the placeholder
`{base}`; its feed files sit in a `feeds/` folder beside it and are served
from 127.0.0.1 by a small file server, so the demo needs the private-hosts
switch, as an intranet would. The default is the site's demo/ folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aggregator import service
from aggregator.errors import ConfigError
from aggregator.registry.feeds import fill_base, load_registry, read_config_text
from aggregator.registry.site import find_site
from aggregator.registry.topics import topics_for_registry
from aggregator.update import update_feeds


def write_demo_registry(base_url: str, target: Path, template: Path) -> Path:
    """The demo registry with `{base}` replaced by the live server's address."""
    text = fill_base(read_config_text(template), base_url)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def run_demo(
    db_path: Path,
    template: Path | None = None,
    *,
    port: int,
    feeds_port: int,
    once: bool,
    echo: Callable[[str], None],
) -> int:
    """Serve the demo feeds on a fixed port, so feed URLs stay the same between runs.

    Every port is checked before anything is fetched, so a demo that cannot
    serve stops at once with one line instead of after a cycle.
    """
    from aggregator.demo_server import DemoFeedServer

    site = find_site()
    template = template or site.demo / "feeds.yaml"
    feeds = template.parent / "feeds"
    if not feeds.is_dir():
        raise ConfigError(f"{feeds}: no folder of feed files beside {template} to serve")
    if not once:
        service.ensure_port_free("127.0.0.1", port)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = DemoFeedServer(feeds, port=feeds_port)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve the demo feeds on 127.0.0.1:{feeds_port} ({exc.strerror}); "
            "pass --feeds-port"
        ) from exc
    with server:
        config = write_demo_registry(server.base_url, db_path.parent / "feeds.yaml", template)
        echo(f"demo feeds from {feeds} served at {server.base_url}/")
        if once:
            result = update_feeds(
                load_registry(config),
                db_path,
                allow_private_hosts=True,
                vocabulary=topics_for_registry(template, site),
            )
            echo(result.summary())
            return 0
        return service.run(
            config,
            db_path,
            allow_private_hosts=True,
            port=port,
            on_ready=lambda: echo(
                f"open http://127.0.0.1:{port}/ for the latest posts; the data for "
                f"researchers is at /{db_path.stem}; to try Connect your blog, give "
                f"http://127.0.0.1:{port}/connect the address {server.base_url}/new-blog/ "
                "(Ctrl-C to stop)"
            ),
        )
