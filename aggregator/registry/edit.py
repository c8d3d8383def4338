"""Edit feeds.yaml in place: safely, atomically, keeping what members wrote.

Used by `voice redirects --apply` and `voice remove URL`. Every edit goes
through `edit_registry`, which

1. takes an exclusive lock on a sibling file `.feeds.yaml.lock` (see below),
2. reads the file and loads it round-trip (ruamel `typ="rt"`, quotes kept,
   indentation detected from the file itself),
3. applies the change and dumps the document back to text,
4. validates that text with `config.parse_registry`: an edit that would leave
   an invalid registry is refused and nothing is written,
5. writes it atomically: temp file in the same directory with the original's
   permission bits, write, flush, fsync, `os.replace`, fsync the directory.

Killing the process at any moment leaves either the old or the new file.

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

Comments between entries: ruamel attaches the blank lines and comments
between two entries to the *last value of the entry above*, so deleting an
entry from the list would also delete the comment introducing the next
entry. `remove_feed` moves them instead: comment lines directly above the
removed entry (no blank line between) go with it; every other comment, such
as a section heading, stays where it was.
"""

from __future__ import annotations

import fcntl
import io
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken

from aggregator.errors import ConfigError
from aggregator.registry.feeds import (
    ConfigErrors,
    normalise_feed_url,
    parse_registry,
    read_config_text,
)
from aggregator.registry.yamlsafe import YAMLProblem, check_shape

Change = Callable[[CommentedMap], bool]

# (mapping, sequence, offset) layouts tried when the file's own is not obvious.
_INDENTS = [(2, 4, 2), (2, 2, 0), (4, 4, 0), (4, 4, 2), (2, 4, 0), (4, 2, 0), (4, 6, 4)]


def remove_feed(path: Path, url: str) -> bool:
    """Remove the feed registered as `url`; False (file untouched) if absent."""

    def change(doc: CommentedMap) -> bool:
        feeds = _feeds(doc)
        index = _find(feeds, url)
        if index is None:
            return False
        _remove_entry(doc, feeds, index)
        return True

    return edit_registry(path, change)


def replace_feed_url(path: Path, old_url: str, new_url: str) -> bool:
    """Point the feed registered as `old_url` at `new_url` (a confirmed move).

    False (file untouched) if `old_url` is not registered or already reads
    `new_url`. Raises ConfigError if `new_url` is another entry's feed.
    """

    def change(doc: CommentedMap) -> bool:
        feeds = _feeds(doc)
        index = _find(feeds, old_url)
        if index is None:
            return False
        other = _find(feeds, new_url)
        if other is not None and other != index:
            raise ConfigError(f"{path}: {new_url} is already registered (feeds[{other}])")
        entry = feeds[index]
        old = entry["url"]
        if old == new_url:
            return False
        # Keep the quoting the member used: a quoted url stays quoted.
        entry["url"] = type(old)(new_url) if isinstance(old, str) else new_url
        return True

    return edit_registry(path, change)


def edit_registry(path: Path, change: Change) -> bool:
    """Apply `change` to the round-trip document of feeds.yaml, under a lock.

    `change` mutates the document and returns whether it changed anything;
    it may raise ConfigError to refuse. Returns False (no write at all, the
    file keeps its bytes and mtime) when nothing changed.
    """
    path = path.resolve()
    with _locked(path):
        text = read_config_text(path, " (pass --config PATH)")
        try:  # the same shape limits as every read: no alias bomb, no deep nesting
            check_shape(text, "rt")
        except YAMLProblem as exc:
            where = f"{path}:{exc.line}" if exc.line else str(path)
            raise ConfigError(f"{where}: {exc.reason}, not editing it") from exc
        yaml = _make_yaml(text)
        try:
            doc = yaml.load(text)
        except YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML, not editing it") from exc
        if not isinstance(doc, CommentedMap):
            raise ConfigError(f"{path}: must be a mapping with a 'feeds:' list")
        _match_layout(yaml, doc, text)
        if not change(doc):
            return False
        new_text = _dump(yaml, doc)
        try:
            parse_registry(new_text, path)
        except ConfigErrors as exc:
            raise ConfigError(
                f"{path}: edit refused, the result would be invalid: {exc.problems[0]}"
            ) from exc
        _remove_stale_temp_files(path)
        _write_atomic(path, new_text)
        return True


# --- round-trip loading -----------------------------------------------------


def _make_yaml(text: str) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-fold a long title or URL
    yaml.explicit_start = text.lstrip().startswith("---")
    return yaml


def _match_layout(yaml: YAML, doc: CommentedMap, text: str) -> None:
    """Set the indentation under which dumping the untouched `doc` gives `text`.

    ruamel has one indentation setting per document, not per node, and does
    not record the one it read, so try the usual layouts (the committed
    feeds.yaml style first). If none reproduces the file (mixed indentation),
    the committed style is used and the edit re-indents the whole file
    consistently; the result is still validated.
    """
    for mapping, sequence, offset in _INDENTS:
        yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        if _dump(yaml, doc) == text:
            return
    yaml.indent(mapping=2, sequence=4, offset=2)


def _dump(yaml: YAML, doc: Any) -> str:
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _feeds(doc: CommentedMap) -> CommentedSeq:
    feeds = doc.get("feeds")
    if not isinstance(feeds, CommentedSeq):
        raise ConfigError("feeds.yaml: 'feeds:' must be a list")
    return feeds


def _find(feeds: CommentedSeq, url: str) -> int | None:
    key = normalise_feed_url(url)
    for index, entry in enumerate(feeds):
        value = entry.get("url") if isinstance(entry, dict) else None
        if isinstance(value, str) and normalise_feed_url(value) == key:
            return index
    return None


# --- moving comments when an entry goes ---------------------------------------


def _remove_entry(doc: CommentedMap, feeds: CommentedSeq, index: int) -> None:
    """Delete feeds[index], keeping the comments that belong to its neighbours."""
    after_eol, after = _split_gap(_trailing_token(feeds[index]))
    if index > 0:
        before_token = _trailing_token(feeds[index - 1])
        before_eol, before = _split_gap(before_token)
    else:
        before_eol, before = "", _seq_start_lines(feeds)
    kept = _drop_own_comments(before) + after
    del feeds[index]
    if index > 0:
        _set_trailing(feeds[index - 1], (before_eol or "\n") + "".join(kept))
    else:
        _set_seq_start(doc, feeds, kept)


def _drop_own_comments(lines: list[str]) -> list[str]:
    """Lines of the gap above an entry minus the comment block touching it."""
    kept = list(lines)
    while kept and kept[-1].strip():
        kept.pop()  # comment lines directly above the entry: they go with it
    while kept and not kept[-1].strip():
        kept.pop()  # the blank lines are the next entry's to bring
    return kept


def _split_gap(token: CommentToken | None) -> tuple[str, list[str]]:
    """A trailing comment token as (end of its value line, following lines)."""
    if token is None:
        return "", []
    eol, _, rest = token.value.partition("\n")
    return eol + "\n", rest.splitlines(keepends=True)


def _trailing_slot(node: Any) -> tuple[list[Any], int] | None:
    """Where ruamel keeps the comment after a node: (comment list, position)."""
    if not node:
        return None
    if isinstance(node, CommentedMap):
        key = list(node.keys())[-1]
        value, position = node[key], 2
    elif isinstance(node, CommentedSeq):
        key = len(node) - 1
        value, position = node[key], 0
    else:
        return None
    if isinstance(value, CommentedMap | CommentedSeq) and value and not value.fa.flow_style():
        return _trailing_slot(value)
    slot = node.ca.items.setdefault(key, [None, None, None, None])
    return slot, position


def _trailing_token(node: Any) -> CommentToken | None:
    found = _trailing_slot(node)
    return found[0][found[1]] if found else None


def _set_trailing(node: Any, value: str) -> None:
    found = _trailing_slot(node)
    if found is None:
        return
    slot, position = found
    if value == "\n":
        slot[position] = None
    elif slot[position] is not None:
        slot[position].value = value
    else:
        slot[position] = CommentToken(value, CommentMark(0))


def _seq_start_lines(feeds: CommentedSeq) -> list[str]:
    """Comment lines between `feeds:` and the first entry."""
    tokens = (feeds.ca.comment[1] if feeds.ca.comment else None) or []
    # Each token is one comment line (indent kept as its column) plus blank lines.
    text = "".join(" " * t.start_mark.column + t.value for t in tokens)
    return text.splitlines(keepends=True)


def _set_seq_start(doc: CommentedMap, feeds: CommentedSeq, lines: list[str]) -> None:
    """Put `lines` between `feeds:` and the first entry, as ruamel stores them:
    one token per comment line, carrying the blank lines that follow it."""
    tokens: list[CommentToken] = []
    for line in lines:
        text = line.lstrip(" ")
        if text.strip():
            tokens.append(CommentToken(text, CommentMark(len(line) - len(text))))
        elif tokens:
            tokens[-1].value += "\n"
    if feeds.ca.comment and feeds.ca.comment[1] is not None:
        feeds.ca.comment[1][:] = tokens  # the same list is also held by the `feeds` key
    elif tokens:
        feeds.ca.comment = [None, tokens]
        doc.ca.items.setdefault("feeds", [None, None, None, None])[3] = tokens


# --- locking and writing ------------------------------------------------------


@contextmanager
def _locked(path: Path) -> Iterator[None]:
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


def _remove_stale_temp_files(path: Path) -> None:
    """Delete temp files left by a killed writer (only safe under the lock)."""
    for stale in path.parent.glob(f"{_temp_prefix(path)}*.tmp"):
        stale.unlink(missing_ok=True)


def _write_atomic(path: Path, text: str) -> None:
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
