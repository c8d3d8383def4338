"""`voice demo`: Voice working with no internet, on the bundled demo feeds.

The demo feeds are served from 127.0.0.1 by a small file server, so the
demo registry needs the private-hosts switch, as an intranet would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aggregator import service
from aggregator.demo_server import DemoFeedServer
from aggregator.errors import ConfigError
from aggregator.registry.feeds import load_registry
from aggregator.registry.topics import topics_for_registry
from aggregator.update import update_feeds

DEMO_DIR = service.PROJECT_ROOT / "demo"


def write_demo_registry(base_url: str, target: Path, template: Path | None = None) -> Path:
    """The demo registry with `{base}` replaced by the live server's address."""
    text = (template or DEMO_DIR / "feeds.yaml").read_text(encoding="utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text.replace("{base}", base_url), encoding="utf-8")
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
    """Serve the demo feeds on a fixed port, so feed URLs stay the same between runs."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = DemoFeedServer(DEMO_DIR / "feeds", port=feeds_port)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve the demo feeds on 127.0.0.1:{feeds_port} ({exc.strerror}); "
            "pass --feeds-port"
        ) from exc
    with server:
        config = write_demo_registry(server.base_url, db_path.parent / "feeds.yaml", template)
        echo(f"demo feeds served at {server.base_url}/")
        if once:
            result = update_feeds(
                load_registry(config),
                db_path,
                allow_private_hosts=True,
                vocabulary=topics_for_registry(config),
            )
            echo(result.summary())
            return 0
        return service.run(
            config,
            db_path,
            allow_private_hosts=True,
            port=port,
            on_ready=lambda: echo(
                f"open http://127.0.0.1:{port}/{db_path.stem}/posts (Ctrl-C to stop)"
            ),
        )
