"""Validation, pricing and the outbox payload of the orders API (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from tillflow.jobs.api.models import (
    Discount,
    DiscountTooLarge,
    OrderCreate,
    order_event_payload,
    price_line,
)

pytestmark = pytest.mark.unit

VALID: dict[str, Any] = {
    "customer_id": 7,
    "payment_method_id": 3,
    "store_id": 42,
    "products": [
        {"product_id": 555, "quantity": 2},
        {"product_id": 556, "quantity": 1, "discount": {"type": "percentage", "value": 10}},
    ],
}


def _with(**changes: Any) -> dict[str, Any]:
    return {**VALID, **changes}


def _line(**changes: Any) -> dict[str, Any]:
    return _with(products=[{"product_id": 555, "quantity": 1, **changes}])


def test_a_valid_body_parses() -> None:
    # Given a complete body / When it is validated
    order = OrderCreate.model_validate(VALID)
    # Then every line is kept, the discount typed
    assert [p.product_id for p in order.products] == [555, 556]
    assert order.products[1].discount == Discount(type="percentage", value=Decimal(10))


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (_with(extra=1), ("extra",)),
        (_with(customer_id="7"), ("customer_id",)),
        (_with(customer_id=7.0), ("customer_id",)),
        (_with(customer_id=True), ("customer_id",)),
        (_with(customer_id=0), ("customer_id",)),
        (_with(store_id=2**31), ("store_id",)),
        (_with(payment_method_id=None), ("payment_method_id",)),
        ({k: v for k, v in VALID.items() if k != "store_id"}, ("store_id",)),
        (_with(products=[]), ("products",)),
        (_with(products="555"), ("products",)),
        (_with(products=[{"product_id": 1, "quantity": 1}] * 2), ("products",)),
        (_line(quantity=0), ("products", 0, "quantity")),
        (_line(quantity=-3), ("products", 0, "quantity")),
        (_line(quantity="2"), ("products", 0, "quantity")),
        (_line(quantity=10_001), ("products", 0, "quantity")),
        (_line(price=1), ("products", 0, "price")),
        (_line(discount={"type": "bogus", "value": 1}), ("products", 0, "discount", "type")),
        (_line(discount={"type": "percentage", "value": 0}), ("products", 0, "discount")),
        (_line(discount={"type": "percentage", "value": 101}), ("products", 0, "discount")),
        (_line(discount={"type": "none", "value": 5}), ("products", 0, "discount")),
        (
            _line(discount={"type": "fixed_amount", "value": -1}),
            ("products", 0, "discount", "value"),
        ),
        (
            _line(discount={"type": "percentage", "value": "x"}),
            ("products", 0, "discount", "value"),
        ),
    ],
)
def test_an_invalid_body_is_rejected_naming_the_field(
    body: dict[str, Any], loc: tuple[str | int, ...]
) -> None:
    # Given an invalid body / When it is validated
    with pytest.raises(ValidationError) as caught:
        OrderCreate.model_validate(body)
    # Then one of the errors points at exactly that field
    assert loc in [tuple(e["loc"]) for e in caught.value.errors()]


@pytest.mark.parametrize(
    ("price", "qty", "discount", "percent", "subtotal"),
    [
        ("10.00", 2, None, "0.00", "20.00"),
        ("2.50", 1, Discount(type="percentage", value=Decimal(10)), "10.00", "2.25"),
        ("3.33", 3, Discount(type="percentage", value=Decimal("33.3")), "33.30", "6.66"),
        # docs/business-rules.md: fixed amount = value x 1000 per unit
        ("99.99", 1, Discount(type="fixed_amount", value=Decimal("0.005")), "5.00", "94.99"),
        ("5.00", 4, Discount(type="fixed_amount", value=Decimal("0.005")), "100.00", "0.00"),
    ],
)
def test_a_line_is_priced_per_the_discount_rules(
    price: str, qty: int, discount: Discount | None, percent: str, subtotal: str
) -> None:
    # Given a unit price, a quantity and a discount / When the line is priced
    line = price_line(1, 555, qty, Decimal(price), discount)
    # Then subtotal = qty x (price - per-unit discount) and the percent is the discount's share
    assert (line.discount_percent, line.subtotal) == (Decimal(percent), Decimal(subtotal))


def test_a_discount_above_the_price_is_refused() -> None:
    # Given a fixed discount of 1000 on a 0.40 item / When priced / Then it is refused
    with pytest.raises(DiscountTooLarge):
        price_line(1, 555, 1, Decimal("0.40"), Discount(type="fixed_amount", value=Decimal(1)))


def test_the_outbox_payload_follows_the_contract() -> None:
    # Given two priced lines
    lines = [
        price_line(1, 555, 2, Decimal("12.34"), None),
        price_line(2, 556, 1, Decimal("1.00"), Discount(type="percentage", value=Decimal("5.5"))),
    ]
    # When the payload is built
    payload = order_event_payload(
        event_type="order_created",
        order_id=123,
        customer_id=7,
        payment_method_id=3,
        store_id=42,
        ordered_at=datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC),
        lines=lines,
    )
    # Then numerics are strings and the timestamp is UTC with milliseconds
    assert payload["schema_version"] == 1
    assert payload["ordered_at"] == "2026-11-21T10:00:00.123Z"
    assert payload["lines"][0] == {
        "line_no": 1,
        "product_id": 555,
        "quantity": 2,
        "unit_price": "12.34",
        "discount_type": "none",
        "discount_value": "0",
        "is_suggestion": False,
    }
    assert payload["lines"][1]["discount_value"] == "5.5"
