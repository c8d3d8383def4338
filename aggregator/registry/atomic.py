"""Write feeds.yaml atomically under a lock, so edits never lose each other.

Why a sibling lock file rather than locking feeds.yaml itself: `os.replace`
puts a new inode at the path, so a lock on the old inode protects nothing. A
process that opened feeds.yaml while another was editing it would get the
lock on the replaced inode after the edit, read the stale text and overwrite
the first edit. The lock file is never replaced or deleted (deleting it would
reopen the same race), so it stays beside feeds.yaml; git can ignore it.

Stray temp files: a writer killed between creating its temp file and
`os.replace` leaves `.feeds.yaml.*.tmp` behind. Temp files only exist while
their writer holds the lock, so whoever holds the lock next deletes any it
finds before writing its own. At most one stray file exists at a time, and
none after the next successful edit.
"""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aggregator.errors import ConfigError


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock on `path`'s sibling lock file."""
    lock_path = path.with_name(f".{path.name}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError(f"{lock_path}: cannot create lock file: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_temp_files(path: Path) -> None:
    """Delete temp files left by a killed writer (only safe under the lock)."""
    for stale in path.parent.glob(f"{_temp_prefix(path)}*.tmp"):
        stale.unlink(missing_ok=True)


def write_atomic(path: Path, text: str) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o644
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            os.fchmod(out.fileno(), mode)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ConfigError(f"{path}: cannot write: {exc}") from exc
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
