"""Each release table as Parquet (pyarrow) and as gzipped JSON Lines, byte for byte
the same from the same data.

Rows are read from the release's own SQLite file in key order. JSON Lines keep
the database's text (times as ISO 8601 with `Z`); JSON-array columns become
real arrays in both formats, and Parquet stores times as UTC timestamps.
Nothing that varies between runs is written: gzip gets no file name and a zero
time, Parquet no time at all.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from aggregator.errors import ReleaseError
from aggregator.releasing.tables import Table

BATCH = 1_000  # rows per Parquet row group and per read: memory stays flat
_ARROW = {
    "integer": pa.int64(),
    "number": pa.float64(),
    "string": pa.string(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "array": pa.list_(pa.string()),
}


def arrow_schema(table: Table) -> pa.Schema:
    return pa.schema(
        [pa.field(c.name, _ARROW[c.type], nullable=not c.required) for c in table.columns]
    )


def _batches(db: sqlite3.Connection, table: Table) -> Iterator[list[dict[str, Any]]]:
    arrays = [c.name for c in table.columns if c.type == "array"]
    cursor = db.execute(
        f"SELECT {', '.join(table.names)} FROM {table.name} ORDER BY {', '.join(table.key)}"
    )
    while rows := cursor.fetchmany(BATCH):
        batch = [dict(zip(table.names, row, strict=True)) for row in rows]
        for record in batch:
            for name in arrays:
                if record[name] is not None:
                    record[name] = json.loads(record[name])
        yield batch


def export_table(db: sqlite3.Connection, table: Table, parquet: Path, jsonl: Path) -> None:
    """Write `table` to `parquet` and to `jsonl` (gzipped JSON Lines)."""
    try:
        _export(db, table, parquet, jsonl)
    except pa.ArrowException as exc:  # a stored value that does not fit its column's type
        raise ReleaseError(f"{table.name}: cannot write it as Parquet ({exc})") from exc


def _export(db: sqlite3.Connection, table: Table, parquet: Path, jsonl: Path) -> None:
    schema = arrow_schema(table)
    times = [c.name for c in table.columns if c.type == "datetime"]
    with (
        pq.ParquetWriter(parquet, schema, compression="zstd") as writer,
        open(jsonl, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as lines,
    ):
        for batch in _batches(db, table):
            for record in batch:
                lines.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
            columns: dict[str, list[Any]] = {name: [r[name] for r in batch] for name in table.names}
            for name in times:
                columns[name] = [_timestamp(v) for v in columns[name]]
            writer.write_table(pa.table(columns, schema=schema), row_group_size=BATCH)


def _timestamp(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
