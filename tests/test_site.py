"""Finding Voice's site files, and serving metadata.yml for any database name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aggregator.errors import ConfigError
from aggregator.registry.site import Site, find_site, metadata_for

from .conftest import ROOT


def make_site(root: Path) -> Site:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "metadata.yml", root / "metadata.yml")
    (root / "plugins").mkdir()
    return Site(root)


def test_voice_home_names_the_site(tmp_path: Path) -> None:
    site = make_site(tmp_path / "voice")
    assert find_site(tmp_path, {"VOICE_HOME": str(site.root)}) == Site(site.root.resolve())


def test_a_voice_home_without_site_files_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        find_site(tmp_path, {"VOICE_HOME": str(tmp_path)})
    assert "VOICE_HOME" in str(caught.value) and "\n" not in str(caught.value)


def test_the_site_is_found_from_a_folder_inside_it(tmp_path: Path) -> None:
    site = make_site(tmp_path / "voice")
    inside = site.root / "db" / "demo"
    inside.mkdir(parents=True)
    assert find_site(inside, {}) == Site(site.root.resolve())


def test_the_checkout_is_the_last_place_looked(tmp_path: Path) -> None:
    assert find_site(tmp_path, {}).root == ROOT.resolve()


def test_metadata_follows_the_database_name() -> None:
    """metadata.yml speaks of `voice`; served as archive.db, its settings still apply."""
    metadata = metadata_for(Site(ROOT), "archive")
    assert "voice" not in metadata["databases"]
    assert metadata["databases"]["archive"]["tables"]["posts"]["fts_table"] == "posts_fts"
    assert "/voice/" not in metadata["description_html"]
    assert metadata_for(Site(ROOT), "voice")["databases"]["voice"]["tables"]["posts"]
