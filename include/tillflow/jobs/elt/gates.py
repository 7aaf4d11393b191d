"""Great Expectations (GX Core 1.x) gates on the warehouse: raw before dbt, marts after it.

Each gate validates one data interval with SQL pushed down to PostgreSQL (query assets), stores
its results and data docs in the file context under ``include/gx/`` (or ``TILLFLOW_GX_ROOT``),
and raises :class:`QualityGateError` when any expectation fails, so the Airflow task fails and
everything downstream of it stops.

The expectation specs (:func:`raw_checks`, :func:`mart_checks`) are plain data, unit-testable
without GX; only :func:`run_gate` imports great_expectations.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tillflow import config
from tillflow.adapters.pgurl import sqlalchemy_url

#: The connection string GX keeps in its config is this variable, never the secret itself.
URL_ENV = "TILLFLOW_GX_WAREHOUSE_URL"
DEFAULT_GX_ROOT = config.PROJECT_ROOT / "include" / "gx"
#: A scan more than this far ahead of its ingestion time has a broken clock (timestamp skew).
MAX_FUTURE_SKEW_SECONDS = 300


class QualityGateError(RuntimeError):
    """A gate found data that must not go further."""


@dataclass(frozen=True)
class Expect:
    """One expectation: a GX Core expectation class name and its arguments."""

    kind: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Check:
    """A query (one asset) and the expectations its rows must meet."""

    name: str
    query: str
    expectations: tuple[Expect, ...]


@dataclass
class GateReport:
    gate: str
    interval_start: str
    interval_end: str
    success: bool
    results: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.results if not r["success"]]


def _ts(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"interval bounds must be timezone-aware, got {value!r}")
    return value.isoformat()


def raw_checks(start: datetime, end: datetime, min_scans: int = 1) -> list[Check]:
    """Expectations on the raw rows of [start, end): counts, nulls, ranges, timestamp skew."""
    s, e = _ts(start), _ts(end)
    scans = Check(
        name="raw_pos_scans",
        query=(
            "select scan_id, store_id, checkstand_id, item_id, quantity, scanned_at, ingested_at,"
            " extract(epoch from ingested_at - scanned_at) as ingest_lag_seconds"
            f" from raw.pos_scans where scanned_at >= '{s}' and scanned_at < '{e}'"
        ),
        expectations=(
            Expect("ExpectTableRowCountToBeBetween", {"min_value": min_scans}),
            *(
                Expect("ExpectColumnValuesToNotBeNull", {"column": c})
                for c in ("scan_id", "store_id", "checkstand_id", "item_id", "scanned_at")
            ),
            # 32 lower-case hex digits, as two expectations GX computes in the same pass: PostgreSQL's
            # regex engine takes 47 s for `^[0-9a-f]{32}$` over a day of 39M scans, 10 s for these.
            Expect("ExpectColumnValuesToMatchRegex", {"column": "scan_id", "regex": "^[0-9a-f]+$"}),
            Expect("ExpectColumnValueLengthsToEqual", {"column": "scan_id", "value": 32}),
            Expect("ExpectColumnValuesToBeBetween", {"column": "quantity", "min_value": 0, "max_value": 4}),
            Expect("ExpectColumnValuesToBeBetween", {"column": "checkstand_id", "min_value": 1, "max_value": 10}),
            Expect("ExpectColumnValuesToBeBetween", {"column": "store_id", "min_value": 1}),
            Expect("ExpectColumnValuesToBeBetween", {"column": "item_id", "min_value": 1}),
            # An event must not come from the future of its own ingestion.
            Expect(
                "ExpectColumnValuesToBeBetween",
                {"column": "ingest_lag_seconds", "min_value": -MAX_FUTURE_SKEW_SECONDS},
            ),
        ),
    )  # fmt: skip
    orders = Check(
        name="raw_orders",
        query=(
            "select event_id, event_type, order_id, customer_id, payment_method_id, store_id,"
            f" ordered_at from raw.orders where ordered_at >= '{s}' and ordered_at < '{e}'"
        ),
        expectations=(
            *(
                Expect("ExpectColumnValuesToNotBeNull", {"column": c})
                for c in ("event_id", "order_id", "customer_id", "payment_method_id", "store_id")
            ),
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "event_type", "value_set": ["order_created", "suggestion_added"]},
            ),
        ),
    )
    lines = Check(
        name="raw_order_lines",
        query=(
            "select l.order_id, l.line_no, l.product_id, l.quantity, l.unit_price,"
            " l.discount_type, l.discount_value,"
            " case when l.discount_type = 'percentage' then l.discount_value end as discount_pct"
            " from raw.order_lines l join raw.orders o using (event_id)"
            f" where o.ordered_at >= '{s}' and o.ordered_at < '{e}'"
        ),
        expectations=(
            Expect("ExpectColumnValuesToBeBetween", {"column": "quantity", "min_value": 1, "max_value": 1000}),
            Expect("ExpectColumnValuesToBeBetween", {"column": "unit_price", "min_value": 0.01}),
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "discount_type", "value_set": ["none", "percentage", "fixed_amount"]},
            ),
            Expect("ExpectColumnValuesToBeBetween", {"column": "discount_value", "min_value": 0}),
            Expect("ExpectColumnValuesToBeBetween", {"column": "discount_pct", "min_value": 0, "max_value": 100}),
        ),
    )  # fmt: skip
    return [scans, orders, lines]


def mart_checks(start: datetime, end: datetime, min_rows: int = 1) -> list[Check]:
    """Expectations on the marts after dbt built [start, end)."""
    s, e = _ts(start), _ts(end)
    # The business dates the run recomputed: a day either side of its UTC days.
    days = (
        f"business_date >= cast(timestamptz '{s}' at time zone 'UTC' as date) - 1"
        f" and business_date < cast(timestamptz '{e}' at time zone 'UTC' as date) + 1"
    )
    summary = Check(
        name="marts_daily_sales_summary",
        query=f"select * from marts.daily_sales_summary where {days}",
        expectations=(
            Expect("ExpectTableRowCountToBeBetween", {"min_value": min_rows}),
            *(
                Expect("ExpectColumnValuesToNotBeNull", {"column": c})
                for c in ("store_id", "product_id", "business_date", "total_sales")
            ),
            Expect(
                "ExpectCompoundColumnsToBeUnique",
                {"column_list": ["store_id", "product_id", "business_date"]},
            ),
            Expect("ExpectColumnValuesToBeBetween", {"column": "total_quantity", "min_value": 1}),
            Expect("ExpectColumnValuesToBeBetween", {"column": "total_sales", "min_value": 0}),
        ),
    )
    totals = Check(
        name="marts_total_sales",
        query="select * from marts.total_sales",
        expectations=(
            Expect(
                "ExpectColumnValuesToBeInSet",
                {"column": "channel", "value_set": ["pos", "orders", "all"]},
            ),
            Expect("ExpectColumnValuesToBeUnique", {"column": "channel"}),
            Expect("ExpectColumnValuesToBeBetween", {"column": "total_sales", "min_value": 0}),
        ),
    )
    ranking = Check(
        name="marts_customer_ranking",
        query="select * from marts.customer_ranking",
        expectations=(
            Expect("ExpectColumnValuesToBeUnique", {"column": "customer_id"}),
            Expect("ExpectColumnValuesToBeBetween", {"column": "sales_rank", "min_value": 1}),
        ),
    )
    return [summary, totals, ranking]


def _quiet_gx() -> None:
    logging.getLogger("great_expectations._docs_decorators").setLevel(logging.ERROR)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)


def run_gate(
    gate: str,
    checks: Sequence[Check],
    dsn: str,
    interval: tuple[datetime, datetime],
    *,
    gx_root: Path | None = None,
    raise_on_failure: bool = True,
) -> GateReport:
    """Validate ``checks`` against the warehouse at ``dsn``; store results and data docs.

    Raises :class:`QualityGateError` (after storing the results) if any expectation fails.
    """
    _quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    root = gx_root or Path(os.environ.get("TILLFLOW_GX_ROOT", str(DEFAULT_GX_ROOT)))
    root.mkdir(parents=True, exist_ok=True)
    os.environ[URL_ENV] = sqlalchemy_url(dsn)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_or_update_postgres(
        "warehouse", connection_string="${" + URL_ENV + "}"
    )
    views = _create_views(dsn, gate, checks, interval)
    try:
        return _validate(context, source, gate, checks, views, interval, raise_on_failure)
    finally:
        _drop_views(dsn, views)


#: Where the gates' views live while a gate runs (the dbt role creates it, as dbt does its own).
VIEW_SCHEMA = "gx_gates"


def _create_views(
    dsn: str, gate: str, checks: Sequence[Check], interval: tuple[datetime, datetime]
) -> list[str]:
    """A view per check, named for the gate, the check, the interval and the process (two gates
    never share one). GX reads a view's columns from the catalog; for a query asset
    it runs the whole query once just to learn its columns, and fetches every row: 36 s and
    39M rows in memory for a day of raw scans, before any expectation ran."""
    import psycopg
    from psycopg import sql

    tag = interval[0].astimezone(UTC).strftime("%Y%m%d%H%M")
    # lower case: GX quotes nothing, so PostgreSQL folds the names it sends
    names = [f"{gate}__{check.name}__{tag}_{os.getpid()}".lower()[:63] for check in checks]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(VIEW_SCHEMA)))
        for name, check in zip(names, checks, strict=True):
            conn.execute(
                sql.SQL("create or replace view {}.{} as {}").format(
                    sql.Identifier(VIEW_SCHEMA), sql.Identifier(name), sql.SQL(check.query)
                )
            )
    return names


def _drop_views(dsn: str, names: Sequence[str]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in names:
            conn.execute(
                sql.SQL("drop view if exists {}.{}").format(
                    sql.Identifier(VIEW_SCHEMA), sql.Identifier(name)
                )
            )


def _validate(
    context: Any,
    source: Any,
    gate: str,
    checks: Sequence[Check],
    views: Sequence[str],
    interval: tuple[datetime, datetime],
    raise_on_failure: bool,
) -> GateReport:
    import great_expectations as gx
    import great_expectations.expectations as gxe

    definitions = []
    for check, view in zip(checks, views, strict=True):
        asset_name = f"{gate}__{check.name}"
        if asset_name in source.get_asset_names():
            source.delete_asset(asset_name)
        asset = source.add_table_asset(asset_name, table_name=view, schema_name=VIEW_SCHEMA)
        batch = asset.add_batch_definition_whole_table("interval")
        suite = gx.ExpectationSuite(name=asset_name)
        for spec in check.expectations:
            suite.add_expectation(getattr(gxe, spec.kind)(**spec.kwargs))
        suite = context.suites.add_or_update(suite)
        definitions.append(
            context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=asset_name, data=batch, suite=suite)
            )
        )
    # Verdict first: GX bundles the aggregate metrics of one asset into one SQL statement when
    # it needs no unexpected values (a pass over the interval's rows for all of a check's
    # column expectations, plus its row count). SUMMARY adds a query per expectation to list
    # unexpected values (18 passes over a day of raw scans for its 11 expectations), so it runs
    # only when the verdict is a failure, to say what failed.
    result = _run_checkpoint(context, gate, definitions, "BOOLEAN_ONLY")
    if not result.success:
        result = _run_checkpoint(context, gate, definitions, "SUMMARY")
    report = GateReport(gate, _ts(interval[0]), _ts(interval[1]), bool(result.success))
    for run_result in result.run_results.values():
        suite_name = run_result.suite_name
        for r in run_result.results:
            cfg = r.expectation_config
            report.results.append(
                {
                    "check": suite_name,
                    "expectation": cfg.type if cfg else "?",
                    "column": (cfg.kwargs.get("column") if cfg else None),
                    "success": bool(r.success),
                    "observed": _jsonable(r.result.get("observed_value")),
                    "unexpected_count": r.result.get("unexpected_count"),
                    "error": _exception_message(r.exception_info),
                }
            )
    if raise_on_failure and not report.success:
        lines = [
            f"{f['check']}: {f['expectation']}({f['column'] or ''}) observed={f['observed']}"
            f" unexpected={f['unexpected_count']}" + (f" error={f['error']}" if f["error"] else "")
            for f in report.failures()
        ]
        raise QualityGateError(f"{gate} failed {len(lines)} expectation(s): " + "; ".join(lines))
    return report


def _run_checkpoint(context: Any, gate: str, definitions: list[Any], result_format: str) -> Any:
    from great_expectations.checkpoint import Checkpoint, UpdateDataDocsAction

    checkpoint = context.checkpoints.add_or_update(
        Checkpoint(
            name=gate,
            validation_definitions=definitions,
            actions=[UpdateDataDocsAction(name="update_data_docs")],
            result_format={"result_format": result_format},
        )
    )
    return checkpoint.run()


def _exception_message(info: Any) -> str | None:
    """The first raised exception's message in GX's exception_info (a dict, maybe nested)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))[:300]
    for value in info.values():
        message = _exception_message(value)
        if message:
            return message
    return None


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def data_docs_index(gx_root: Path | None = None) -> Path:
    root = gx_root or Path(os.environ.get("TILLFLOW_GX_ROOT", str(DEFAULT_GX_ROOT)))
    return root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
