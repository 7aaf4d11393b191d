"""DuckDB over the lakehouse's Iceberg tables (``tillflow sql``).

Each table is a view named like the warehouse table (``marts.daily_sales_summary``,
``raw.pos_scans``) over the Parquet data files of its current snapshot, read in place (DuckDB
prunes row groups by their statistics); a table in object storage, or one with delete files, is
read through pyiceberg's scan instead. The views add the names the sample queries use:
``sale_date`` beside ``business_date``, ``event_time`` beside ``scanned_at``, and
``raw.pos_transactions`` for the raw scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tillflow.adapters import iceberg
from tillflow.jobs.lakehouse.tables import TABLES, LakeTable

if TYPE_CHECKING:
    import duckdb
    from pyiceberg.catalog.sql import SqlCatalog


class QueryError(Exception):
    """The query failed (DuckDB's message, without a traceback)."""


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def local_path(uri: str) -> str | None:
    """A ``file://`` URI or a plain path as a local path; None for object storage."""
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(uri).path)
    return None if "://" in uri else uri


def source_sql(paths: list[str]) -> str:
    """A relation over Parquet files, their columns matched by name."""
    files = ", ".join(_literal(p) for p in paths)
    return f"read_parquet([{files}], union_by_name = true)"


def view_sql(table: LakeTable, name: str, source: str) -> str:
    """The view ``name`` over ``source`` with the table's extra view columns."""
    extra = "".join(f", {_quote(expr)} as {_quote(alias)}" for alias, expr in table.view_columns)
    schema, _, relation = name.partition(".")
    return f"create or replace view {_quote(schema)}.{_quote(relation)} as select *{extra} from {source}"


def _source(con: duckdb.DuckDBPyConnection, catalog: SqlCatalog, table: LakeTable) -> str:
    """The relation a table's views select from: its local Parquet files in place, else an
    Arrow table registered in ``con`` (pyiceberg's scan; empty with the table's columns when it
    was never exported)."""
    import pyarrow as pa
    from pyiceberg.exceptions import NoSuchTableError

    try:
        lake_table = catalog.load_table(table.identifier)
    except NoSuchTableError:
        lake_table = None
    paths = iceberg.data_file_paths(lake_table) if lake_table is not None else []
    local = [local_path(p) for p in paths or []]
    if local and all(p is not None for p in local):
        return source_sql([p for p in local if p is not None])
    if lake_table is not None and paths != []:
        data = lake_table.scan().to_arrow()
    else:
        columns = [(name, iceberg.arrow_type(kind)) for name, kind in table.columns]
        data = pa.schema(columns).empty_table()
    hidden = f"__lake_{table.namespace}_{table.name}"
    con.register(hidden, data)
    return _quote(hidden)


def connect(
    catalog: SqlCatalog, tables: tuple[LakeTable, ...] = TABLES
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the views of every lakehouse table."""
    import duckdb

    con = duckdb.connect()
    for table in tables:
        source = _source(con, catalog, table)
        for name in (table.identifier, *table.also_named):
            con.execute(f"create schema if not exists {_quote(name.split('.')[0])}")
            con.execute(view_sql(table, name, source))
    return con


def run(con: duckdb.DuckDBPyConnection, query: str) -> Result:
    import duckdb

    try:
        cursor = con.execute(query)
        columns = [d[0] for d in cursor.description or []]
        return Result(columns, cursor.fetchall() if columns else [])
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from None


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def format_table(result: Result, max_rows: int = 100) -> str:
    """The rows as an aligned text table (numbers right-aligned), at most ``max_rows`` of them,
    and a line with the row count."""
    shown = result.rows[:max_rows]
    cells = [[_cell(v) for v in row] for row in shown]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(result.columns)]
    numeric = [
        bool(shown) and all(isinstance(r[i], int | float | Decimal) or r[i] is None for r in shown)
        for i in range(len(result.columns))
    ]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line(result.columns), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    more = f" ({len(result.rows) - max_rows} more not shown)" if len(result.rows) > max_rows else ""
    out.append(f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''}){more}")
    return "\n".join(out)
