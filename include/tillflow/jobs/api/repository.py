"""Orders in PostgreSQL: an order, its lines and its outbox event are written in ONE transaction.

The outbox row (``order_events``) carries the complete order, so CDC publishes the whole order
as one Kafka event: no consumer ever sees half an order, and a failed write leaves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from tillflow.jobs.api.models import (
    Discount,
    DiscountTooLarge,
    FieldError,
    OrderCreate,
    OrderLineOut,
    OrderOut,
    OrderPage,
    PricedLine,
    order_event_payload,
    price_line,
)

if TYPE_CHECKING:
    import psycopg


class OrderRejected(Exception):
    """The body is well-formed but refers to something that does not exist (-> 422)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class StoredOrder:
    order_id: int
    ordered_at: datetime
    created_at: datetime


_FK_FIELDS = {
    "orders_customer_id_fkey": ("customer_id", "customer"),
    "orders_payment_method_id_fkey": ("payment_method_id", "payment method"),
    "orders_store_id_fkey": ("store_id", "store"),
    "order_details_product_id_fkey": ("product_id", "product"),
}
_KEY_VALUE = re.compile(r"\)=\((\d+)\)")


def _fk_error(exc: psycopg.errors.ForeignKeyViolation, lines: Sequence[PricedLine]) -> FieldError:
    """Turn a foreign-key violation (a row deleted since the checks) into a 422 field error."""
    constraint = exc.diag.constraint_name or ""
    column, what = _FK_FIELDS.get(constraint, ("body", "reference"))
    match = _KEY_VALUE.search(exc.diag.message_detail or "")
    value = int(match.group(1)) if match else None
    if column == "product_id":
        index = next((i for i, line in enumerate(lines) if line.product_id == value), 0)
        loc: list[str | int] = ["body", "products", index, "product_id"]
    else:
        loc = ["body", column]
    return FieldError(loc=loc, msg=f"unknown {what} {value}", type="unknown_id", input=value)


def write_order(
    conn: psycopg.Connection[Any],
    *,
    customer_id: int,
    payment_method_id: int,
    store_id: int,
    lines: Sequence[PricedLine],
) -> StoredOrder:
    """Insert the order, its lines and its ``order_created`` outbox event.

    Must run inside the caller's transaction: any failure (e.g. a foreign-key violation on a
    line) rolls back the order and the event with it.
    """
    # One statement, one round trip: the order, its lines and its outbox event. The payload is
    # built here; the server adds the order id and timestamp it assigns.
    template = order_event_payload(
        event_type="order_created",
        order_id=0,
        customer_id=customer_id,
        payment_method_id=payment_method_id,
        store_id=store_id,
        ordered_at=datetime(1970, 1, 1, tzinfo=UTC),
        lines=list(lines),
    )
    del template["order_id"], template["ordered_at"]
    row = conn.execute(
        """
        with new_order as (
            insert into orders (customer_id, payment_method_id, store_id)
            values (%(customer_id)s, %(payment_method_id)s, %(store_id)s)
            returning order_id, ordered_at, created_at
        ), new_lines as (
            insert into order_details (order_id, line_no, product_id, quantity, unit_price,
                discount_type, discount_value, discount_percent, subtotal, is_suggestion)
            select o.order_id, l.*
            from new_order as o,
                unnest(%(line_no)s::smallint[], %(product_id)s::integer[],
                    %(quantity)s::integer[], %(unit_price)s::numeric[], %(discount_type)s::text[],
                    %(discount_value)s::numeric[], %(discount_percent)s::numeric[],
                    %(subtotal)s::numeric[], %(is_suggestion)s::boolean[]) as l
            returning 1
        ), new_event as (
            insert into order_events (order_id, event_type, payload)
            select o.order_id, 'order_created', %(payload)s::jsonb || jsonb_build_object(
                'order_id', o.order_id,
                'ordered_at', to_char(o.ordered_at at time zone 'UTC',
                    'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
            from new_order as o
            returning 1
        )
        select o.order_id, o.ordered_at, o.created_at,
            (select count(*) from new_lines), (select count(*) from new_event)
        from new_order as o
        """,
        {
            "customer_id": customer_id,
            "payment_method_id": payment_method_id,
            "store_id": store_id,
            "line_no": [line.line_no for line in lines],
            "product_id": [line.product_id for line in lines],
            "quantity": [line.quantity for line in lines],
            "unit_price": [line.unit_price for line in lines],
            "discount_type": [line.discount_type for line in lines],
            "discount_value": [line.discount_value for line in lines],
            "discount_percent": [line.discount_percent for line in lines],
            "subtotal": [line.subtotal for line in lines],
            "is_suggestion": [line.is_suggestion for line in lines],
            "payload": Jsonb(template),
        },
    ).fetchone()
    assert row is not None and row[3] == len(lines) and row[4] == 1
    stored = StoredOrder(order_id=row[0], ordered_at=row[1], created_at=row[2])
    return stored


def _check_references(conn: psycopg.Connection[Any], body: OrderCreate) -> dict[int, Decimal]:
    """Unit prices of the ordered products; raise OrderRejected naming every unknown id."""
    ids = [p.product_id for p in body.products]
    row = conn.execute(
        "select exists(select 1 from customers where customer_id = %s),"
        " exists(select 1 from payment_methods where payment_method_id = %s),"
        " exists(select 1 from stores where store_id = %s),"
        " array(select item_id from item_master where item_id = any(%s) order by item_id),"
        " array(select unit_price from item_master where item_id = any(%s) order by item_id)",
        (body.customer_id, body.payment_method_id, body.store_id, ids, ids),
    ).fetchone()
    assert row is not None
    errors: list[FieldError] = []
    for ok, field, what, value in zip(
        row[:3],
        ("customer_id", "payment_method_id", "store_id"),
        ("customer", "payment method", "store"),
        (body.customer_id, body.payment_method_id, body.store_id),
        strict=True,
    ):
        if not ok:
            errors.append(
                FieldError(
                    loc=["body", field],
                    msg=f"unknown {what} {value}",
                    type="unknown_id",
                    input=value,
                )
            )
    prices: dict[int, Decimal] = dict(zip(row[3], row[4], strict=True))
    for index, product in enumerate(body.products):
        if product.product_id not in prices:
            errors.append(
                FieldError(
                    loc=["body", "products", index, "product_id"],
                    msg=f"unknown product {product.product_id}",
                    type="unknown_id",
                    input=product.product_id,
                )
            )
    if errors:
        raise OrderRejected(errors)
    return prices


def price_order(body: OrderCreate, prices: dict[int, Decimal]) -> list[PricedLine]:
    """Price every line at the given unit prices; raise OrderRejected on a too-large discount."""
    lines: list[PricedLine] = []
    errors: list[FieldError] = []
    for index, product in enumerate(body.products):
        try:
            lines.append(
                price_line(
                    index + 1,
                    product.product_id,
                    product.quantity,
                    prices[product.product_id],
                    product.discount,
                )
            )
        except DiscountTooLarge as exc:
            errors.append(
                FieldError(
                    loc=["body", "products", index, "discount", "value"],
                    msg=str(exc),
                    type="discount_too_large",
                    input=str(product.discount.value if product.discount else 0),
                )
            )
    if errors:
        raise OrderRejected(errors)
    return lines


def create_order(conn: psycopg.Connection[Any], body: OrderCreate) -> OrderOut:
    """Check, price and store one order in one transaction; return it as stored."""
    import psycopg

    with conn.transaction():
        prices = _check_references(conn, body)
        lines = price_order(body, prices)
        try:
            stored = write_order(
                conn,
                customer_id=body.customer_id,
                payment_method_id=body.payment_method_id,
                store_id=body.store_id,
                lines=lines,
            )
        except psycopg.errors.ForeignKeyViolation as exc:
            raise OrderRejected([_fk_error(exc, lines)]) from exc
    return OrderOut(
        order_id=stored.order_id,
        customer_id=body.customer_id,
        payment_method_id=body.payment_method_id,
        store_id=body.store_id,
        ordered_at=stored.ordered_at,
        created_at=stored.created_at,
        total=sum((line.subtotal for line in lines), Decimal(0)),
        lines=[OrderLineOut(**line.model_dump()) for line in lines],
    )


def add_suggestion(
    conn: psycopg.Connection[Any], order_id: int, product_id: int, discount: Discount
) -> PricedLine | None:
    """Add one suggested line (``is_suggestion = true``) and its ``suggestion_added`` outbox event
    in one transaction. At most once per order: returns None when the order already has one.
    Raises OrderRejected when the order or product is unknown or the product is already ordered.
    """
    with conn.transaction():
        order = conn.execute(
            "select customer_id, payment_method_id, store_id, ordered_at from orders"
            " where order_id = %s for update",
            (order_id,),
        ).fetchone()
        if order is None:
            raise OrderRejected(
                [FieldError(loc=["order_id"], msg=f"unknown order {order_id}", type="unknown_id")]
            )
        existing = conn.execute(
            "select max(line_no), bool_or(is_suggestion), bool_or(product_id = %s)"
            " from order_details where order_id = %s",
            (product_id, order_id),
        ).fetchone()
        assert existing is not None
        last_line, has_suggestion, has_product = existing
        if has_suggestion:
            return None
        if has_product:
            raise OrderRejected(
                [
                    FieldError(
                        loc=["product_id"],
                        msg=f"product {product_id} is already in order {order_id}",
                        type="duplicate",
                    )
                ]
            )
        price = conn.execute(
            "select unit_price from item_master where item_id = %s", (product_id,)
        ).fetchone()
        if price is None:
            raise OrderRejected(
                [
                    FieldError(
                        loc=["product_id"], msg=f"unknown product {product_id}", type="unknown_id"
                    )
                ]
            )
        line = price_line(
            (last_line or 0) + 1, product_id, 1, price[0], discount, is_suggestion=True
        )
        conn.execute(
            "insert into order_details (order_id, line_no, product_id, quantity, unit_price,"
            " discount_type, discount_value, discount_percent, subtotal, is_suggestion)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, true)",
            (
                order_id,
                line.line_no,
                line.product_id,
                line.quantity,
                line.unit_price,
                line.discount_type,
                line.discount_value,
                line.discount_percent,
                line.subtotal,
            ),
        )
        payload = order_event_payload(
            event_type="suggestion_added",
            order_id=order_id,
            customer_id=order[0],
            payment_method_id=order[1],
            store_id=order[2],
            ordered_at=order[3],
            lines=[line],
        )
        conn.execute(
            "insert into order_events (order_id, event_type, payload) values (%s, %s, %s)",
            (order_id, "suggestion_added", Jsonb(payload)),
        )
    return line


_ORDER_COLUMNS = "order_id, customer_id, payment_method_id, store_id, ordered_at, created_at"
_LINE_COLUMNS = (
    "order_id, line_no, product_id, quantity, unit_price, discount_type, discount_value,"
    " discount_percent, subtotal, is_suggestion"
)


def _assemble(orders: list[tuple[Any, ...]], lines: list[tuple[Any, ...]]) -> list[OrderOut]:
    by_order: dict[int, list[OrderLineOut]] = {}
    for row in lines:
        by_order.setdefault(row[0], []).append(
            OrderLineOut(
                line_no=row[1],
                product_id=row[2],
                quantity=row[3],
                unit_price=row[4],
                discount_type=row[5],
                discount_value=row[6],
                discount_percent=row[7],
                subtotal=row[8],
                is_suggestion=row[9],
            )
        )
    result = []
    for o in orders:
        order_lines = by_order.get(o[0], [])
        result.append(
            OrderOut(
                order_id=o[0],
                customer_id=o[1],
                payment_method_id=o[2],
                store_id=o[3],
                ordered_at=o[4],
                created_at=o[5],
                total=sum((line.subtotal for line in order_lines), Decimal(0)),
                lines=order_lines,
            )
        )
    return result


def _lines_of(conn: psycopg.Connection[Any], order_ids: list[int]) -> list[tuple[Any, ...]]:
    if not order_ids:
        return []
    return conn.execute(
        f"select {_LINE_COLUMNS} from order_details where order_id = any(%s)"
        " order by order_id, line_no",
        (order_ids,),
    ).fetchall()


def get_order(conn: psycopg.Connection[Any], order_id: int) -> OrderOut | None:
    with conn.transaction():
        order = conn.execute(
            f"select {_ORDER_COLUMNS} from orders where order_id = %s", (order_id,)
        ).fetchone()
        if order is None:
            return None
        return _assemble([order], _lines_of(conn, [order_id]))[0]


def list_orders(
    conn: psycopg.Connection[Any], *, limit: int, offset: int, cursor: int | None
) -> OrderPage:
    """Newest first. ``cursor`` (keyset: orders with a smaller order_id) beats ``offset`` on
    deep pages; both may be combined."""
    with conn.transaction():
        total_row = conn.execute("select count(*) from orders").fetchone()
        assert total_row is not None
        if cursor is None:
            orders = conn.execute(
                f"select {_ORDER_COLUMNS} from orders order by order_id desc limit %s offset %s",
                (limit, offset),
            ).fetchall()
        else:
            orders = conn.execute(
                f"select {_ORDER_COLUMNS} from orders where order_id < %s"
                " order by order_id desc limit %s offset %s",
                (cursor, limit, offset),
            ).fetchall()
        lines = _lines_of(conn, [o[0] for o in orders])
    items = _assemble(orders, lines)
    next_cursor = items[-1].order_id if len(items) == limit and items else None
    return OrderPage(
        items=items, total=int(total_row[0]), limit=limit, offset=offset, next_cursor=next_cursor
    )
