"""Voice's site files (metadata.yml, plugins/, templates/, static/, topics.yaml, demo/).

Found, never assumed.

They belong to a Voice installation, the project directory, not to the
Python package, so a non-editable install does not carry them. They are
looked for in $VOICE_HOME when it is set, else in the current directory and
its parents, then in the source checkout the package runs from. When none
has them, the commands that serve say so in one line instead of starting
Datasette without its plugins and metadata.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aggregator.errors import ConfigError
from aggregator.registry.feeds import read_config_text
from aggregator.registry.yamlsafe import YAMLProblem, load_yaml

HOME_VARIABLE = "VOICE_HOME"
CHECKOUT = Path(__file__).resolve().parents[2]
METADATA_DATABASE = "voice"  # the database name metadata.yml is written for


@dataclass(frozen=True)
class Site:
    """One directory holding Voice's site files."""

    root: Path

    @property
    def metadata(self) -> Path:
        return self.root / "metadata.yml"

    @property
    def plugins(self) -> Path:
        return self.root / "plugins"

    @property
    def templates(self) -> Path:
        """Voice's page templates: its own pages and tidied copies of Datasette's."""
        return self.root / "templates"

    @property
    def static(self) -> Path:
        """CSS and scripts, served by Datasette at /voice-static/."""
        return self.root / "static"

    @property
    def topics(self) -> Path:
        return self.root / "topics.yaml"

    @property
    def demo(self) -> Path:
        return self.root / "demo"


def _is_site(directory: Path) -> bool:
    return (directory / "metadata.yml").is_file() and (directory / "plugins").is_dir()


def find_site(cwd: Path | None = None, environ: Mapping[str, str] = os.environ) -> Site:
    """The site directory, or a ConfigError that says where Voice looked and what to do."""
    if environ.get(HOME_VARIABLE):
        home = Path(environ[HOME_VARIABLE])
        if _is_site(home):
            return Site(home.resolve())
        raise ConfigError(
            f"{HOME_VARIABLE}={home} has no metadata.yml and plugins/ (Voice's site files)"
        )
    cwd = (cwd or Path.cwd()).resolve()
    for candidate in (cwd, *cwd.parents, CHECKOUT):
        if _is_site(candidate):
            return Site(candidate)
    raise ConfigError(
        f"cannot find Voice's site files (metadata.yml and plugins/) in {cwd} or its parents: "
        f"run voice from the project directory or set {HOME_VARIABLE}"
    )


def optional_site(cwd: Path | None = None, environ: Mapping[str, str] = os.environ) -> Site | None:
    """The site when there is one: for commands that can do without it (fetch, check)."""
    try:
        return find_site(cwd, environ)
    except ConfigError:
        return None


def metadata_for(site: Site, database: str) -> dict[str, Any]:
    """metadata.yml, with what it says of the `voice` database applied to `database`.

    Datasette names a database after its file, so a database served from
    archive.db would otherwise lose every facet, sort and description.
    """
    try:
        data = load_yaml(read_config_text(site.metadata), "safe") or {}
    except YAMLProblem as exc:
        where = f"{site.metadata}:{exc.line}" if exc.line else str(site.metadata)
        raise ConfigError(f"{where}: {exc.reason}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{site.metadata}: must be a mapping of Datasette metadata")
    databases = data.get("databases") or {}
    if database != METADATA_DATABASE and METADATA_DATABASE in databases:
        databases = dict(databases)
        databases[database] = databases.pop(METADATA_DATABASE)
        data["databases"] = databases
        old, new = f"/{METADATA_DATABASE}/", f"/{database}/"
        for key in ("description_html", "description"):
            if isinstance(data.get(key), str):
                data[key] = data[key].replace(old, new)
    return data
