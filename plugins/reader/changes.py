"""Whether a database file has changed, and query results kept until it does.

SQLite's `PRAGMA data_version` on a connection of this process's own, which
never writes, changes whenever another connection (the fetcher, `voice
remove`, `voice retag`) commits to the file; reading it costs about 3 µs.
Datasette's own connections cannot be used: each thread has its own, and
each counts from its own start.

`kept_counts(ds)` gives a facet Datasette with `execute` answered from
results kept per SQL and parameters while the file's version holds.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from typing import Any

_connections: dict[str, sqlite3.Connection] = {}
_lock = threading.Lock()


def version(path: str) -> int:
    """A number that differs from the last one whenever `path` has had a commit since."""
    with _lock:  # one connection per file, asked from any thread
        conn = _connections.get(path)
        if conn is None:
            uri = f"file:{path}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            _connections[path] = conn
        value: int = conn.execute("PRAGMA data_version").fetchone()[0]
        return value


KEEP = 512  # facet queries kept, least recently used dropped first
_kept: OrderedDict[tuple[Any, ...], tuple[int, Any]] = OrderedDict()


def _params_key(params: Any) -> tuple[Any, ...]:
    if isinstance(params, dict):
        return tuple(sorted(params.items()))
    return tuple(params or ())


class KeptCounts:
    """Datasette as a facet sees it, with `execute` answered from kept results.

    Everything else (settings, URLs) is Datasette's own.
    """

    def __init__(self, ds: Any) -> None:
        self._ds = ds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ds, name)

    async def execute(self, database: str, sql: str, params: Any = None, **kwargs: Any) -> Any:
        path = self._ds.databases[database].path
        if not path:  # an in-memory database: nothing to check against
            return await self._ds.execute(database, sql, params, **kwargs)
        key = (path, sql, _params_key(params))
        state = version(path)
        hit = _kept.get(key)
        if hit is not None and hit[0] == state:
            _kept.move_to_end(key)
            return hit[1]
        results = await self._ds.execute(database, sql, params, **kwargs)
        _kept[key] = (state, results)  # read before the query: a write meanwhile misses
        _kept.move_to_end(key)
        while len(_kept) > KEEP:
            _kept.popitem(last=False)
        return results


def kept_counts(ds: Any) -> KeptCounts:
    return ds if isinstance(ds, KeptCounts) else KeptCounts(ds)
