"""Bound what one SQL function call can cost, so a query cannot outlive the time limit.

Datasette's time limit is checked between SQLite instructions, so a single
function call runs to its end however long it takes: a LIKE with a 45,000
character pattern ran for 80 s, printf() built a 1 GB string, and SQLite's
instr(), replace(), two-argument trim() and json_patch() compare every
character (or key) of one argument with every one of the other, minutes for
a few hundred KB. Every connection Datasette opens therefore gets:

- limits on strings, LIKE patterns and statement shape (LIMITS below);
- instr(), replace() and two-argument trim(), ltrim() and rtrim() done by
  Python's string methods, which are linear, with SQLite's own results;
- "string or blob too big" for a printf() or format() width or %c count
  past the length limit (SQLite's own goes on counting: 8 s to return
  NULL), and for json_patch() when the sizes of its arguments multiplied
  pass JSON_PATCH_WORK; below that SQLite computes json_patch(), but its
  result is plain text, not JSON, to an enclosing JSON function.

A statement made of many such calls can still take longer than the limit;
docs/design.md ("Serving safely") has the numbers. Reads nothing from the
aggregator package.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from typing import Any

from datasette import hookimpl

LENGTH = 8_000_000  # bytes in one string, BLOB or row
LIMITS = {
    # A stored post is up to ~11 MB (1 MB entries grow when escaped: "&" -> "&amp;"),
    # but a single column is at most ~5 MB: only sorting such a whole row fails.
    sqlite3.SQLITE_LIMIT_LENGTH: LENGTH,
    # Cost is pattern x string: 100 x 8 MB is about a second. Datasette's own FTS
    # detection uses 36 + the table name.
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 100,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 100,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 20,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 32,  # json_object() with 16 keys
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,  # no --crossdb here
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 5_000,  # _labels on 1,000 rows needs 1,000
    sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH: 10,  # Datasette never writes to Voice's database
    sqlite3.SQLITE_LIMIT_WORKER_THREADS: 0,
}
JSON_PATCH_WORK = 10**9  # bytes x bytes: two 30 KB objects, well under 0.1 s


@hookimpl
def prepare_connection(conn: sqlite3.Connection) -> None:
    for limit, value in LIMITS.items():
        conn.setlimit(limit, value)
    linear = LinearFunctions(conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH))
    conn.create_function("instr", 2, linear.instr, deterministic=True)
    conn.create_function("replace", 3, linear.replace, deterministic=True)
    for name, left, right in (("trim", True, True), ("ltrim", True, False), ("rtrim", False, True)):
        conn.create_function(name, 2, linear.trimmer(left, right), deterministic=True)
    conn.create_function("json_patch", 2, linear.json_patch, deterministic=True)
    for name in ("printf", "format"):
        conn.create_function(name, -1, linear.printf, deterministic=True)


class LinearFunctions:
    """SQLite's semantics (NULLs, numbers as text, BLOBs) at a bounded cost.

    Numbers become text exactly as SQLite writes them, through a private
    in-memory connection, which also computes printf() and json_patch() once
    their arguments are known to be affordable.
    """

    def __init__(self, length: int) -> None:
        self._sqlite = sqlite3.connect(":memory:", check_same_thread=False)
        self._sqlite.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, length)
        self._length = length

    def too_big(self) -> bytes:
        """A value SQLite refuses with "string or blob too big", as its own functions do."""
        return bytes(self._length + 1)

    def text(self, value: Any) -> str:
        """A value that is not NULL as SQLite reads it as text."""
        if isinstance(value, str):
            return value
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")  # as Datasette reads text
        return str(self._sqlite.execute("SELECT CAST(? AS TEXT)", (value,)).fetchone()[0])

    def instr(self, haystack: Any, needle: Any) -> int | None:
        if haystack is None or needle is None:
            return None
        if isinstance(haystack, bytes) and isinstance(needle, bytes):
            return haystack.find(needle) + 1  # byte positions, as SQLite for two BLOBs
        return self.text(haystack).find(self.text(needle)) + 1

    def replace(self, value: Any, old: Any, new: Any) -> Any:
        if value is None or old is None:
            return None
        text, pattern = self.text(value), self.text(old)
        if not pattern or pattern[0] == "\0":
            return value  # SQLite gives back the first argument itself
        if new is None:
            return None
        replacement = self.text(new)
        growth = len(replacement) - len(pattern)
        if growth > 0 and len(text) + text.count(pattern) * growth > self._length:
            return self.too_big()
        return text.replace(pattern, replacement)

    def trimmer(self, left: bool, right: bool) -> Callable[[Any, Any], str | None]:
        def trim(value: Any, characters: Any) -> str | None:
            if value is None or characters is None:
                return None
            chars = self.text(characters).split("\0", 1)[0]  # SQLite stops at a NUL
            return _strip(self.text(value), chars, left, right)

        return trim

    def json_patch(self, target: Any, patch: Any) -> Any:
        if _size(target) * _size(patch) > JSON_PATCH_WORK:
            return self.too_big()
        return self._sqlite.execute("SELECT json_patch(?, ?)", (target, patch)).fetchone()[0]

    def printf(self, *args: Any) -> Any:
        """printf() and format(), refusing a width or a %c repeat count past the length limit.

        SQLite stops writing at the limit but goes on counting: printf('%.*c',
        999999999, 'x') took 8 s to return NULL.
        """
        if args and isinstance(args[0], str) and _widest(args[0], args[1:]) > self._length:
            return self.too_big()
        marks = ", ".join("?" * len(args))
        return self._sqlite.execute(f"SELECT printf({marks})", args).fetchone()[0]


# A printf conversion: flags, width, precision, length and type (SQLite's printf.c).
_CONVERSION = re.compile(r"%[-+ 0#!,]*(\*|\d*)(?:\.(\*|\d*))?l{0,2}(.)", re.DOTALL)
_LEADING_INT = re.compile(r"\s*([-+]?\d+)")


def _widest(form: str, args: tuple[Any, ...]) -> int:
    """The largest width, or precision of a %c (its repeat count), that form asks for."""
    widest, taken = 0, iter(args)
    for width, precision, kind in _CONVERSION.findall(form):
        if kind == "%":
            continue
        wide = _int(next(taken, 0)) if width == "*" else int(width[:12] or 0)
        repeat = _int(next(taken, 0)) if precision == "*" else int(precision[:12] or 0)
        next(taken, None)  # the value converted
        widest = max(widest, abs(wide), abs(repeat) if kind == "c" else 0)
    return widest


def _int(value: Any) -> int:
    """A width given as an argument, read as SQLite reads an integer from any value."""
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if abs(value) < 2**62 else 2**62  # SQLite clamps, and so do we
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")
    match = _LEADING_INT.match(text)
    return int(match[1][:12]) if match else 0


def _strip(text: str, chars: str, left: bool, right: bool) -> str:
    """text without the given characters at its ends, each character looked at once."""
    distinct = "".join(dict.fromkeys(chars))
    if len(distinct) <= 16:  # str.strip compares each character with every one given
        text = text.lstrip(distinct) if left else text
        return text.rstrip(distinct) if right else text
    members = set(distinct)
    start, end = 0, len(text)
    while left and start < end and text[start] in members:
        start += 1
    while right and end > start and text[end - 1] in members:
        end -= 1
    return text[start:end]


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes) else 32
