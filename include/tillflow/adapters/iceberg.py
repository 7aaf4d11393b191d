"""The lakehouse's Iceberg catalog: a pyiceberg SQL catalog whose tables live in a PostgreSQL
database, its data and metadata files under the warehouse location (a local folder, or
S3-compatible storage through the FileIO properties of the settings)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from tillflow.adapters.pgurl import sqlalchemy_url
from tillflow.config import LakehouseSettings, Settings

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table


def catalog_url(dsn: str) -> str:
    """The catalog's SQLAlchemy URL (psycopg 3 driver) of a libpq key/value DSN."""
    return sqlalchemy_url(dsn, "postgresql+psycopg")


def catalog_dsn(settings: Settings) -> str:
    """The catalog database as the warehouse builder's role (outside Airflow)."""
    pg = settings.postgres
    return pg.dsn(settings.lakehouse.catalog_database, pg.dbt)


def ensure_catalog_database(admin_dsn: str, database: str, owner: str) -> None:
    """Create the catalog's database, owned by ``owner``, unless it exists (idempotent)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        found = conn.execute("select 1 from pg_database where datname = %s", (database,))
        if found.fetchone() is None:
            conn.execute(
                sql.SQL("create database {} owner {}").format(
                    sql.Identifier(database), sql.Identifier(owner)
                )
            )


def open_catalog(dsn: str, lake: LakehouseSettings) -> SqlCatalog:
    """The SQL catalog in the database of ``dsn`` (its tables are created on first use)."""
    from pyiceberg.catalog.sql import SqlCatalog

    return SqlCatalog(
        lake.catalog_name,
        uri=catalog_url(dsn),
        warehouse=lake.warehouse_uri,
        **lake.file_io_properties(),
    )


#: A column: its name and Iceberg type (``string``, ``int``, ``long``, ``date``,
#: ``timestamptz``, ``decimal(P,S)``).
Columns = tuple[tuple[str, str], ...]


def decimal_params(kind: str) -> tuple[int, int] | None:
    """``decimal(P,S)`` -> (P, S); None for any other type name."""
    if not (kind.startswith("decimal(") and kind.endswith(")")):
        return None
    precision, _, scale = kind[len("decimal(") : -1].partition(",")
    try:
        return int(precision), int(scale)
    except ValueError:
        return None


def arrow_type(kind: str) -> pa.DataType:
    """The Arrow type an Iceberg column of ``kind`` reads and writes as."""
    import pyarrow as pa

    simple = {
        "string": pa.large_string(),
        "int": pa.int32(),
        "long": pa.int64(),
        "date": pa.date32(),
        "timestamptz": pa.timestamp("us", tz="UTC"),
    }
    if kind in simple:
        return simple[kind]
    if (decimal := decimal_params(kind)) is not None:
        return pa.decimal128(*decimal)
    raise ValueError(f"not a lakehouse column type: {kind!r}")


def _iceberg_type(kind: str) -> Any:
    from pyiceberg import types

    simple = {
        "string": types.StringType(),
        "int": types.IntegerType(),
        "long": types.LongType(),
        "date": types.DateType(),
        "timestamptz": types.TimestamptzType(),
    }
    if kind in simple:
        return simple[kind]
    if (decimal := decimal_params(kind)) is not None:
        return types.DecimalType(*decimal)
    raise ValueError(f"not a lakehouse column type: {kind!r}")


def ensure_table(catalog: SqlCatalog, identifier: str, columns: Columns, day_column: str) -> Table:
    """The table ``namespace.name``, created (identity-partitioned by ``day_column``) unless it
    exists; its namespace too."""
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.transforms import IdentityTransform
    from pyiceberg.types import NestedField

    namespace = identifier.split(".")[0]
    catalog.create_namespace_if_not_exists(namespace)
    try:
        return catalog.load_table(identifier)
    except NoSuchTableError:
        pass
    fields = [
        NestedField(i, name, _iceberg_type(kind), required=False)
        for i, (name, kind) in enumerate(columns, start=1)
    ]
    day_id = next(f.field_id for f in fields if f.name == day_column)
    spec = PartitionSpec(
        PartitionField(
            source_id=day_id, field_id=1000, transform=IdentityTransform(), name=day_column
        )
    )
    return catalog.create_table_if_not_exists(identifier, Schema(*fields), partition_spec=spec)


def snapshot_summaries(table: Table) -> Iterator[dict[str, str]]:
    """The summary properties of the table's current snapshot and its ancestors, newest first."""
    from pyiceberg.table.snapshots import ancestors_of

    current = table.current_snapshot()
    if current is None:
        return
    for snapshot in ancestors_of(current, table.metadata):
        if snapshot.summary is not None:
            yield dict(snapshot.summary.additional_properties)


def snapshot_count(table: Table) -> int:
    return len(table.metadata.snapshots)


def replace_partition(
    table: Table,
    day_column: str,
    day: date,
    chunks: Iterable[pa.Table],
    properties: dict[str, str],
) -> None:
    """Replace the rows of ``day`` with ``chunks`` (each a table of that day only) in one commit:
    a delete of the day's files (no snapshot when there were none) and one append of them all.
    Each chunk is written as it comes, so memory holds one chunk at a time."""
    import itertools
    import warnings

    from pyiceberg.io.pyarrow import _dataframe_to_data_files

    target = table.schema().as_arrow()
    with table.transaction() as tx, warnings.catch_warnings():
        # A day exported for the first time has nothing to delete (and gets no delete snapshot).
        warnings.filterwarnings("ignore", message="Delete operation did not match any records")
        tx.delete(f"{day_column} = '{day.isoformat()}'", snapshot_properties=properties)
        chunk_iter = iter(chunks)
        first = next(chunk_iter, None)
        if first is None:
            return
        # One append snapshot for the whole day, whatever the number of chunks (the public
        # append takes one table, or a stream only on unpartitioned tables).
        with tx.update_snapshot(snapshot_properties=properties).fast_append() as append:
            counter = itertools.count(0)
            for chunk in itertools.chain([first], chunk_iter):
                for data_file in _dataframe_to_data_files(
                    table_metadata=tx.table_metadata,
                    df=chunk.cast(target),
                    io=table.io,
                    write_uuid=append.commit_uuid,
                    counter=counter,
                ):
                    append.append_data_file(data_file)


def data_file_paths(table: Table) -> list[str] | None:
    """The data files of the table's current snapshot; None when some carry delete files (a
    reader must then go through pyiceberg's scan, which applies them)."""
    tasks = list(table.scan().plan_files())
    if any(task.delete_files for task in tasks):
        return None
    return [task.file.file_path for task in tasks]


def settings_catalog(settings: Settings) -> SqlCatalog:
    """The catalog of ``settings`` outside Airflow: its database is created first if missing
    (as the administrator, owned by the warehouse builder's role)."""
    pg = settings.postgres
    ensure_catalog_database(pg.dsn("postgres"), settings.lakehouse.catalog_database, pg.dbt.name)
    return open_catalog(catalog_dsn(settings), settings.lakehouse)


def row_counts(catalog: SqlCatalog, identifiers: Iterable[str]) -> dict[str, int | None]:
    """Rows of each table's current snapshot, from its summary (metadata only); None for a
    table that does not exist."""
    from pyiceberg.exceptions import NoSuchTableError

    counts: dict[str, int | None] = {}
    for identifier in identifiers:
        try:
            snapshot = catalog.load_table(identifier).current_snapshot()
        except NoSuchTableError:
            counts[identifier] = None
            continue
        summary = snapshot.summary if snapshot is not None else None
        total = summary.additional_properties.get("total-records") if summary else None
        counts[identifier] = int(total) if total is not None else 0
    return counts
