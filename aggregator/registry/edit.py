"""Edit feeds.yaml in place: safely, atomically, keeping what members wrote.

Used by `voice redirects --apply`, `voice remove URL`, `voice add` and
moderation (`add_feed`, `update_feed`). Every edit goes through
`edit_registry`, which

1. takes an exclusive lock on a sibling file `.feeds.yaml.lock` (`atomic`),
2. reads the file and loads it round-trip (ruamel `typ="rt"`, quotes kept,
   indentation detected from the file itself),
3. applies the change and dumps the document back to text,
4. validates that text with `config.parse_registry`: an edit that would leave
   an invalid registry is refused and nothing is written,
5. writes it atomically: temp file in the same directory with the original's
   permission bits, write, flush, fsync, `os.replace`, fsync the directory.

Killing the process at any moment leaves either the old or the new file.

Comments and blank lines stay where members put them (`yamlcomments`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from aggregator.errors import ConfigError
from aggregator.registry.atomic import locked, remove_stale_temp_files, write_atomic
from aggregator.registry.feeds import (
    FEED_KEYS,
    ConfigErrors,
    normalise_feed_url,
    parse_registry,
    read_config_text,
)
from aggregator.registry.sameblog import NO_REDIRECTS, find_entry
from aggregator.registry.yamlcomments import (
    blank_between,
    move_trailing,
    remove_entry,
    set_trailing,
    split_gap,
    trailing_slot,
    trailing_token,
)
from aggregator.registry.yamlsafe import YAMLProblem, check_shape, show

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
        remove_entry(doc, feeds, index)
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


def add_feed(
    path: Path, entry: Mapping[str, Any], *, redirects: Mapping[str, str] = NO_REDIRECTS
) -> None:
    """Append one feed entry, its keys in FEED_KEYS order, laid out like the rest.

    Raises ConfigError, naming the entry already there, when the same blog is
    registered under any address (`sameblog`: feed or home page, `www.`,
    scheme, a known redirect), and when the result would not validate.
    """
    unknown = [key for key in entry if key not in FEED_KEYS]
    if unknown:
        raise ConfigError(f"{path}: unknown key {show(unknown[0])} for a feed entry")
    new = CommentedMap(
        (key, _yaml_value(entry[key]))
        for key in FEED_KEYS
        if entry.get(key) not in (None, "", [], ())
    )

    def change(doc: CommentedMap) -> bool:
        feeds = _feeds(doc, create=True)
        addresses = [
            (e.get("url"), e.get("site_url")) if isinstance(e, dict) else () for e in feeds
        ]
        wanted = [entry.get("url"), entry.get("site_url")]
        index = find_entry(addresses, *(u for u in wanted if u), redirects=redirects)
        if index is not None:
            raise ConfigError(
                f"{path}: this blog is already registered as feeds[{index}]"
                f" ({show(feeds[index].get('url'), quotes=False)})"
            )
        if feeds and blank_between(feeds):
            eol, after = split_gap(trailing_token(feeds[-1]))
            set_trailing(feeds[-1], (eol or "\n") + "".join(after) + "\n")
        feeds.append(new)
        return True

    edit_registry(path, change)


def update_feed(path: Path, url: str, changes: Mapping[str, Any | None]) -> bool:
    """Set keys of the entry registered as `url` (a None value deletes the key).

    A new key goes in its FEED_KEYS place; a text value keeps the quoting the
    member used. False (file untouched) when every value is already so.
    Raises ConfigError when `url` is not registered or the result is invalid.
    """
    unknown = [key for key in changes if key not in FEED_KEYS]
    if unknown:
        raise ConfigError(f"{path}: unknown key {show(unknown[0])} for a feed entry")

    def change(doc: CommentedMap) -> bool:
        feeds = _feeds(doc)
        index = _find(feeds, url)
        if index is None:
            raise ConfigError(f"{path}: {url} is not registered")
        item = feeds[index]
        last = list(item)[-1]
        slot = trailing_slot(item)
        changed = False
        for key, value in changes.items():
            changed = _set_key(item, key, value) or changed
        if changed and list(item)[-1] != last and slot is not None and slot[0][slot[1]]:
            move_trailing(item, slot, last)
        return changed

    return edit_registry(path, change)


def edit_registry(path: Path, change: Change) -> bool:
    """Apply `change` to the round-trip document of feeds.yaml, under a lock.

    `change` mutates the document and returns whether it changed anything;
    it may raise ConfigError to refuse. Returns False (no write at all, the
    file keeps its bytes and mtime) when nothing changed.
    """
    path = path.resolve()
    with locked(path):
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
        remove_stale_temp_files(path)
        write_atomic(path, new_text)
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


def _feeds(doc: CommentedMap, create: bool = False) -> CommentedSeq:
    feeds = doc.get("feeds")
    if create and (feeds is None or isinstance(feeds, CommentedSeq) and not feeds):
        feeds = CommentedSeq()  # `feeds:` or `feeds: []`: a block list from now on
        doc["feeds"] = feeds
    if not isinstance(feeds, CommentedSeq):
        raise ConfigError("feeds.yaml: 'feeds:' must be a list")
    return feeds


# --- adding and changing entries ------------------------------------------------


def _yaml_value(value: Any) -> Any:
    """A value as feeds.yaml writes it: topics as a flow list `[a, b]`."""
    if isinstance(value, list | tuple):
        seq = CommentedSeq(value)
        seq.fa.set_flow_style()
        return seq
    return value


def _set_key(item: CommentedMap, key: str, value: Any) -> bool:
    """Set (None: delete) one key of an entry; whether that changed anything."""
    if value is None:
        if key not in item:
            return False
        del item[key]
        return True
    old = item.get(key)
    if isinstance(value, list | tuple):
        if isinstance(old, CommentedSeq):
            if list(old) == list(value):
                return False
            old[:] = list(value)  # the list keeps its style: flow or block
            return True
    elif key in item and old == value and isinstance(old, bool) == isinstance(value, bool):
        return False  # (1 == True, but `paused: 1` is not `paused: true`)
    new = type(old)(value) if isinstance(old, str) and isinstance(value, str) else value
    if key in item:
        item[key] = _yaml_value(new)
    else:
        order = FEED_KEYS.index(key)
        before = [k for k in item if k in FEED_KEYS and FEED_KEYS.index(k) < order]
        position = list(item).index(before[-1]) + 1 if before else 0
        item.insert(position, key, _yaml_value(new))
    return True


def _find(feeds: CommentedSeq, url: str) -> int | None:
    key = normalise_feed_url(url)
    for index, entry in enumerate(feeds):
        value = entry.get("url") if isinstance(entry, dict) else None
        if isinstance(value, str) and normalise_feed_url(value) == key:
            return index
    return None
