"""What every `voice` command shares: the common options and one-line errors.

Exit codes: 0 success (individual feeds may have failed: they are recorded),
1 configuration problem, 3 database problem, 2 usage error (click),
4 the blog cannot be connected as it stands (`voice try`, `voice add`),
5 a research release could not be written (`voice release`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from aggregator.errors import ConfigError, ReleaseError, StoreError

EXIT_CONFIG = 1
EXIT_STORE = 3
EXIT_NOT_CONNECTABLE = 4
EXIT_RELEASE = 5

config_option = click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("feeds.yaml"),
    show_default=True,
    help="The member registry.",
)
db_option = click.option(
    "--db",
    "db",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("db/voice.db"),
    show_default=True,
    help="The SQLite database.",
)
private_option = click.option(
    "--allow-private-hosts",
    is_flag=True,
    default=None,
    help="Allow feeds on loopback and private addresses (tests, demos, intranets).",
)


def one_line_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Expected errors end the command with one line and an exit code, never a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)
        except StoreError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_STORE)
        except ReleaseError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_RELEASE)

    return wrapper




def existing_db(db: Path) -> Path:
    """A command that reads the archive refuses a missing database instead of creating one."""
    if not db.exists():
        raise StoreError(f"{db}: no database yet; run `voice fetch` first (or pass --db PATH)")
    return db
