"""The OLTP side of a suggestion: add the line, the outbox event and the claim, atomically.

One SQL statement per batch (data-modifying CTEs, so one round trip and one transaction):

1. lock the batch's ``orders`` rows in ``order_id`` order (two writers never deadlock);
2. skip orders that do not exist, already have a suggested line, or already contain the product;
3. claim ``order_suggestions.order_id`` (``on conflict do nothing``): the at-most-once guard;
4. for the claimed orders only, insert the ``order_details`` line (``is_suggestion = true``,
   ``line_no`` = the order's last line + 1) and the ``suggestion_added`` outbox row, whose payload
   is the order event contract v1 with only the added line, so it flows back through CDC.

Redelivery, a restart after SIGKILL, or the Airflow DAG racing the service all find the claim
taken and change nothing. ``published_at`` is set once the broker acknowledged the
``order_suggestion_accepted`` message; suggestions stored but not marked are re-published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tillflow.domain.suggestions.rule import Suggestion

if TYPE_CHECKING:
    import psycopg

_APPLY_SQL = """
with input as (
    select * from unnest(
        %(order_id)s::bigint[], %(customer_id)s::int[], %(payment_method_id)s::int[],
        %(store_id)s::int[], %(ordered_at)s::text[], %(product_id)s::int[],
        %(category_id)s::int[], %(unit_price)s::numeric[], %(discount_value)s::numeric[],
        %(factor)s::numeric[], %(subtotal)s::numeric[], %(seed)s::bigint[]
    ) as t (order_id, customer_id, payment_method_id, store_id, ordered_at, product_id,
            category_id, unit_price, discount_value, factor, subtotal, seed)
),
locked as (
    select o.order_id from orders o
    where o.order_id in (select order_id from input)
    order by o.order_id
    for update
),
eligible as (
    select i.*,
           (select coalesce(max(d.line_no), 0) + 1
              from order_details d where d.order_id = i.order_id)::smallint as line_no
    from input i
    join locked l on l.order_id = i.order_id
    where not exists (
        select 1 from order_details d
        where d.order_id = i.order_id and (d.is_suggestion or d.product_id = i.product_id)
    )
),
claimed as (
    insert into order_suggestions (
        order_id, line_no, product_id, category_id, unit_price, discount_value,
        discount_factor, subtotal, seed, source)
    select order_id, line_no, product_id, category_id, unit_price, discount_value, factor,
           subtotal, seed, %(source)s
    from eligible
    on conflict (order_id) do nothing
    returning order_id, line_no, suggested_at
),
added_lines as (
    insert into order_details (
        order_id, line_no, product_id, quantity, unit_price, discount_type, discount_value,
        discount_percent, subtotal, is_suggestion)
    select e.order_id, e.line_no, e.product_id, 1, e.unit_price, 'percentage',
           e.discount_value, e.discount_value, e.subtotal, true
    from claimed c join eligible e on e.order_id = c.order_id
),
added_events as (
    insert into order_events (order_id, event_type, payload)
    select e.order_id, 'suggestion_added', jsonb_build_object(
        'schema_version', 1,
        'event_type', 'suggestion_added',
        'order_id', e.order_id,
        'customer_id', e.customer_id,
        'payment_method_id', e.payment_method_id,
        'store_id', e.store_id,
        'ordered_at', e.ordered_at,
        'lines', jsonb_build_array(jsonb_build_object(
            'line_no', e.line_no,
            'product_id', e.product_id,
            'quantity', 1,
            'unit_price', to_char(e.unit_price, 'FM9999999990.00'),
            'discount_type', 'percentage',
            'discount_value', trim_scale(e.discount_value)::text,
            'is_suggestion', true)))
    from claimed c join eligible e on e.order_id = c.order_id
)
select order_id, line_no, suggested_at from claimed
"""

#: The same statement under another text: prepared apart, with a plan of its own (``_apply_batch``).
_APPLY_SQL_SMALL = _APPLY_SQL + "-- a small batch\n"
SMALL_BATCH = 8

_UNPUBLISHED_SQL = """
select s.order_id, s.line_no, s.suggested_at, o.customer_id, o.payment_method_id, o.store_id,
       to_char(o.ordered_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       s.product_id, s.category_id, s.unit_price, s.discount_factor, s.seed, s.source
from order_suggestions s join orders o on o.order_id = s.order_id
where s.order_id = any(%s) and s.published_at is null
"""


@dataclass(frozen=True, slots=True)
class Stored:
    """A suggestion stored in OLTP (the line number is the database's)."""

    suggestion: Suggestion
    line_no: int
    suggested_at: str
    source: str


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class SuggestionStore:
    """Writes suggestions to the OLTP database (one autocommit connection)."""

    def __init__(self, dsn: str, source: str = "service") -> None:
        self.dsn = dsn
        self.source = source
        self._conn: psycopg.Connection[Any] | None = None
        self._plan_mode = ""  # the session's plan_cache_mode as last set (see _apply_batch)

    def _connection(self) -> psycopg.Connection[Any]:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, autocommit=True)
            self._plan_mode = ""
            self._conn.execute("set application_name = 'tillflow-suggestions'")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def ready(self) -> bool:
        """True once the tables this store writes exist (the OLTP migrations ran)."""
        row = self._connection().execute("select to_regclass('order_suggestions')").fetchone()
        return row is not None and row[0] is not None

    def apply(self, suggestions: Sequence[Suggestion]) -> list[Stored]:
        """Store the suggestions not stored yet (committed when this returns); return those this
        call stored, plus the stored ones never published (their earlier publish may have been
        lost to a crash)."""
        if not suggestions:
            return []
        import psycopg

        conn = self._connection()
        by_order = {s.order_id: s for s in suggestions}
        try:
            # One statement on an autocommit connection: atomic, and one round trip (a
            # BEGIN ... COMMIT block would add two).
            rows = self._apply_batch(conn, list(by_order.values()))
            return self._stored(by_order, rows)
        except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected):
            # Another writer added a line to one of these orders between our snapshot and our
            # lock: redo each order on its own (each one sees the other writer's commit).
            rows = []
            for s in by_order.values():
                try:
                    rows.extend(self._apply_batch(conn, [s]))
                except psycopg.errors.UniqueViolation:
                    continue
        return self._stored(by_order, rows)

    def _stored(
        self, by_order: dict[int, Suggestion], rows: Sequence[tuple[Any, ...]]
    ) -> list[Stored]:
        stored = [
            Stored(by_order[order_id], int(line_no), iso(at), self.source)
            for order_id, line_no, at in rows
        ]
        missing = set(by_order) - {s.suggestion.order_id for s in stored}
        if missing:
            stored.extend(self.unpublished(sorted(missing)))
        return stored

    def _apply_batch(
        self, conn: psycopg.Connection[Any], batch: list[Suggestion]
    ) -> list[tuple[Any, ...]]:
        params = {
            "order_id": [s.order_id for s in batch],
            "customer_id": [s.customer_id for s in batch],
            "payment_method_id": [s.payment_method_id for s in batch],
            "store_id": [s.store_id for s in batch],
            "ordered_at": [s.ordered_at for s in batch],
            "product_id": [s.product_id for s in batch],
            "category_id": [s.category_id for s in batch],
            "unit_price": [s.unit_price for s in batch],
            "discount_value": [s.discount_value for s in batch],
            "factor": [s.factor for s in batch],
            "subtotal": [s.subtotal for s in batch],
            "seed": [s.seed for s in batch],
            "source": self.source,
        }
        # The lone orders of normal traffic run a generic plan, planned once: in PostgreSQL's
        # auto mode each one was re-planned (0.9 ms of its 2 ms) because the big batches made a
        # custom plan look worth it. A big batch (a backlog) gets a custom plan: the generic one
        # is 1.5-3x slower for a thousand orders. The session's mode changes only when the size
        # class does, and each class has a prepared statement of its own.
        small = len(batch) <= SMALL_BATCH
        mode = "force_generic_plan" if small else "force_custom_plan"
        if self._plan_mode != mode:
            conn.execute(f"set plan_cache_mode = {mode}")
            self._plan_mode = mode
        sql = _APPLY_SQL_SMALL if small else _APPLY_SQL
        return conn.execute(sql, params, prepare=True).fetchall()

    def unpublished(self, order_ids: Sequence[int]) -> list[Stored]:
        """Stored suggestions of these orders whose publication was never acknowledged."""
        rows = self._connection().execute(_UNPUBLISHED_SQL, (list(order_ids),)).fetchall()
        result: list[Stored] = []
        for (
            order_id,
            line_no,
            suggested_at,
            customer_id,
            payment_method_id,
            store_id,
            ordered_at,
            product_id,
            category_id,
            unit_price,
            factor,
            seed,
            source,
        ) in rows:
            suggestion = Suggestion(
                order_id=int(order_id),
                customer_id=int(customer_id),
                payment_method_id=int(payment_method_id),
                store_id=int(store_id),
                ordered_at=str(ordered_at),
                product_id=int(product_id),
                category_id=int(category_id),
                unit_price=Decimal(unit_price),
                factor=Decimal(factor),
                seed=int(seed),
            )
            result.append(Stored(suggestion, int(line_no), iso(suggested_at), str(source)))
        return result

    def mark_published(self, order_ids: Sequence[int]) -> None:
        if not order_ids:
            return
        self._connection().execute(
            "update order_suggestions set published_at = clock_timestamp()"
            " where order_id = any(%s) and published_at is null",
            (list(order_ids),),
            prepare=True,
        )
