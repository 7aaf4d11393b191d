"""The orders API against the real OLTP database, served by uvicorn in a subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.orders_support import ApiProcess, Refs, admin_dsn, api_dsn, ensure_reference
from tillflow.jobs.api import repository
from tillflow.jobs.api.models import price_line

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def refs() -> Refs:
    return ensure_reference()


@pytest.fixture(scope="module")
def client(refs: Refs) -> Iterator[httpx.Client]:
    api = ApiProcess()
    api.start()
    try:
        with httpx.Client(base_url=api.base_url, timeout=10) as client:
            yield client
    finally:
        api.stop()


def _body(refs: Refs, **changes: Any) -> dict[str, Any]:
    items = list(refs.item_prices)
    return {
        "customer_id": refs.customer_id,
        "payment_method_id": refs.payment_method_id,
        "store_id": refs.store_id,
        "products": [
            {"product_id": items[0], "quantity": 3},
            {
                "product_id": items[1],
                "quantity": 1,
                "discount": {"type": "percentage", "value": 20},
            },
        ],
        **changes,
    }


def test_an_order_round_trips_with_its_lines_and_one_outbox_event(
    client: httpx.Client, refs: Refs
) -> None:
    # Given a valid body / When it is posted
    created = client.post("/api/v1/orders", json=_body(refs))
    # Then it is stored at the item master's prices
    assert created.status_code == 201, created.text
    order = created.json()
    items = list(refs.item_prices)
    assert [(ln["product_id"], Decimal(ln["unit_price"])) for ln in order["lines"]] == [
        (items[0], refs.item_prices[items[0]]),
        (items[1], refs.item_prices[items[1]]),
    ]
    expected_total = 3 * refs.item_prices[items[0]] + refs.item_prices[items[1]] * Decimal("0.8")
    assert Decimal(order["total"]) == expected_total.quantize(Decimal("0.01"))
    # And GET returns the same order, and the list contains it
    fetched = client.get(f"/api/v1/orders/{order['order_id']}")
    assert fetched.status_code == 200
    assert fetched.json() == order
    # (other writers may hold larger ids: look from just above this one)
    listed = client.get("/api/v1/orders", params={"limit": 1, "cursor": order["order_id"] + 1})
    assert listed.json()["items"] == [order]
    # And exactly one outbox event carries the complete order (the stack's suggestion service
    # may already have reacted to it with a suggestion_added event of its own)
    with psycopg.connect(admin_dsn()) as conn:
        events = conn.execute(
            "select event_type, payload from order_events where order_id = %s order by event_id",
            (order["order_id"],),
        ).fetchall()
    assert [t for t, _ in events if t != "suggestion_added"] == ["order_created"]
    payload = events[0][1]
    assert [ln["product_id"] for ln in payload["lines"]] == items[:2]
    assert payload["lines"][1]["discount_type"] == "percentage"


def _unknown(refs: Refs) -> list[tuple[str, dict[str, Any], list[Any]]]:
    items = list(refs.item_prices)
    return [
        ("unknown customer", _body(refs, customer_id=2_000_000_001), ["body", "customer_id"]),
        (
            "unknown payment method",
            _body(refs, payment_method_id=2_000_000_001),
            ["body", "payment_method_id"],
        ),
        ("unknown store", _body(refs, store_id=2_000_000_001), ["body", "store_id"]),
        (
            "unknown product",
            _body(
                refs,
                products=[
                    {"product_id": items[0], "quantity": 1},
                    {"product_id": 2_000_000_001, "quantity": 1},
                ],
            ),
            ["body", "products", 1, "product_id"],
        ),
        (
            "quantity 0",
            _body(refs, products=[{"product_id": items[0], "quantity": 0}]),
            ["body", "products", 0, "quantity"],
        ),
        (
            "negative quantity",
            _body(refs, products=[{"product_id": items[0], "quantity": -1}]),
            ["body", "products", 0, "quantity"],
        ),
        ("empty products", _body(refs, products=[]), ["body", "products"]),
        (
            "duplicate products",
            _body(refs, products=[{"product_id": items[0], "quantity": 1}] * 2),
            ["body", "products"],
        ),
        ("wrong type", _body(refs, customer_id="abc"), ["body", "customer_id"]),
        ("numeric string", _body(refs, store_id=str(refs.store_id)), ["body", "store_id"]),
        ("extra field", _body(refs, coupon="FREE"), ["body", "coupon"]),
        (
            "discount above price",
            _body(
                refs,
                products=[
                    {
                        "product_id": items[3],
                        "quantity": 1,
                        "discount": {"type": "fixed_amount", "value": 1},
                    }
                ],
            ),
            ["body", "products", 0, "discount", "value"],
        ),
    ]


@pytest.mark.parametrize("case", range(12))
def test_every_invalid_body_gets_a_4xx_naming_the_field(
    client: httpx.Client, refs: Refs, case: int
) -> None:
    # Given one kind of invalid body
    name, body, loc = _unknown(refs)[case]
    # When it is posted
    response = client.post("/api/v1/orders", json=body)
    # Then it is refused with a 4xx whose detail names the field
    assert 400 <= response.status_code < 500, f"{name}: {response.status_code}"
    assert loc in [e["loc"] for e in response.json()["detail"]], f"{name}: {response.text}"


def test_malformed_json_is_a_4xx(client: httpx.Client) -> None:
    response = client.post(
        "/api/v1/orders",
        content=b'{"customer_id": 1,',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422


def test_an_absent_order_is_404(client: httpx.Client) -> None:
    assert client.get("/api/v1/orders/9223372036854775807").status_code == 404


def test_pages_by_offset_and_cursor_agree(client: httpx.Client, refs: Refs) -> None:
    # Given at least three orders
    for _ in range(3):
        assert client.post("/api/v1/orders", json=_body(refs)).status_code == 201
    # When the newest three are read as one page, and as pages of one by cursor
    whole = client.get("/api/v1/orders", params={"limit": 3}).json()
    first = client.get("/api/v1/orders", params={"limit": 1}).json()
    second = client.get(
        "/api/v1/orders", params={"limit": 1, "cursor": first["next_cursor"]}
    ).json()
    by_offset = client.get("/api/v1/orders", params={"limit": 1, "offset": 2}).json()
    ids = [o["order_id"] for o in whole["items"]]
    # Then the pages line up, newest first, with the total count
    assert ids == sorted(ids, reverse=True)
    assert whole["total"] >= 3
    assert second["items"][0]["order_id"] <= ids[1]
    assert by_offset["items"][0]["order_id"] <= ids[2]


def test_a_failed_insert_leaves_no_partial_order_and_no_outbox_row(refs: Refs) -> None:
    # Given priced lines whose second product does not exist (FK violation after the order row)
    items = list(refs.item_prices)
    lines = [
        price_line(1, items[0], 1, refs.item_prices[items[0]], None),
        price_line(2, 2_000_000_002, 1, Decimal("1.00"), None),
    ]
    with psycopg.connect(api_dsn()) as conn:
        # When the order is written in one transaction
        with pytest.raises(psycopg.errors.ForeignKeyViolation), conn.transaction():
            repository.write_order(
                conn,
                customer_id=refs.customer_id,
                payment_method_id=refs.payment_method_id,
                store_id=refs.store_id,
                lines=lines,
            )
        # Then the order id it had taken has no order, no line and no outbox event
        order_id = conn.execute("select currval('orders_order_id_seq')").fetchone()[0]  # type: ignore[index]
        counts = conn.execute(
            "select (select count(*) from orders where order_id = %(id)s),"
            " (select count(*) from order_details where order_id = %(id)s),"
            " (select count(*) from order_events where order_id = %(id)s)",
            {"id": order_id},
        ).fetchone()
    assert counts == (0, 0, 0)


def test_a_product_deleted_after_the_checks_is_a_422_and_leaves_nothing(refs: Refs) -> None:
    # Given a product that exists during the checks but is gone when the lines are inserted
    from tillflow.jobs.api.models import OrderCreate

    ghost = 9_000_090
    with psycopg.connect(admin_dsn(), autocommit=True) as admin:
        admin.execute(
            "insert into item_master (item_id, upc, name, category_id, unit_price, frequency)"
            " values (%s, %s, 'ghost', %s, 1.00, 1) on conflict do nothing",
            (ghost, f"TEST{ghost}", refs.category_id),
        )
    body = OrderCreate.model_validate(_body(refs, products=[{"product_id": ghost, "quantity": 1}]))
    with psycopg.connect(api_dsn()) as conn:
        original = repository._check_references

        def check_then_delete(c: psycopg.Connection[Any], b: OrderCreate) -> dict[int, Decimal]:
            prices = original(c, b)
            with psycopg.connect(admin_dsn(), autocommit=True) as admin:
                admin.execute("delete from item_master where item_id = %s", (ghost,))
            return prices

        repository._check_references = check_then_delete  # type: ignore[assignment]
        try:
            # When the order is created / Then it is rejected naming the product line
            with pytest.raises(repository.OrderRejected) as caught:
                repository.create_order(conn, body)
        finally:
            repository._check_references = original  # type: ignore[assignment]
        order_id = conn.execute("select currval('orders_order_id_seq')").fetchone()[0]  # type: ignore[index]
        left = conn.execute(
            "select count(*) from order_events where order_id = %s", (order_id,)
        ).fetchone()
    assert caught.value.errors[0].loc == ["body", "products", 0, "product_id"]
    assert left == (0,)
