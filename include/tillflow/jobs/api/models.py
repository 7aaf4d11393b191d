"""Request and response models of the orders API, and the pure pricing and event logic.

Every request model forbids extra fields and is strict about JSON types (``"5"`` is not an
integer), so each invalid body is rejected with a 422 whose ``loc`` names the field. Ids are
bounded to PostgreSQL ``integer`` so no value can overflow a column (which would be a 5xx).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

INT4_MAX = 2_147_483_647
INT8_MAX = 9_223_372_036_854_775_807
MAX_LINES = 100
MAX_QUANTITY = 10_000
#: docs/business-rules.md: "fixed-amount discount = value x 1000" (the per-unit discount in currency units).
FIXED_AMOUNT_FACTOR = Decimal(1000)
EVENT_SCHEMA_VERSION = 1
CENT = Decimal("0.01")

DiscountType = Literal["none", "percentage", "fixed_amount"]
Id = Annotated[int, Field(ge=1, le=INT4_MAX)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Discount(_Strict):
    """A per-unit discount: ``percentage`` of the unit price, or a ``fixed_amount`` (x 1000)."""

    type: DiscountType
    # Numbers or numeric strings; at most 4 decimals.
    value: Annotated[
        Decimal,
        Field(
            default=Decimal(0), ge=0, le=1_000_000, max_digits=12, decimal_places=4, strict=False
        ),
    ]

    @model_validator(mode="after")
    def _value_fits_type(self) -> Discount:
        if self.type == "none" and self.value != 0:
            raise ValueError("a discount of type 'none' must have value 0")
        if self.type == "percentage" and not (0 < self.value <= 100):
            raise ValueError("a percentage discount needs 0 < value <= 100")
        if self.type == "fixed_amount" and self.value <= 0:
            raise ValueError("a fixed_amount discount needs value > 0")
        return self


NO_DISCOUNT = Discount(type="none", value=Decimal(0))


class OrderProduct(_Strict):
    product_id: Id
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
    discount: Discount | None = None


class OrderCreate(_Strict):
    """The body of ``POST /api/v1/orders``."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "customer_id": 7,
                    "payment_method_id": 3,
                    "store_id": 42,
                    "products": [
                        {"product_id": 555, "quantity": 2},
                        {
                            "product_id": 556,
                            "quantity": 1,
                            "discount": {"type": "percentage", "value": 10},
                        },
                    ],
                }
            ]
        },
    )

    customer_id: Id
    payment_method_id: Id
    store_id: Id
    products: Annotated[list[OrderProduct], Field(min_length=1, max_length=MAX_LINES)]

    @field_validator("products")
    @classmethod
    def _no_duplicate_products(cls, products: list[OrderProduct]) -> list[OrderProduct]:
        seen: dict[int, int] = {}
        for index, line in enumerate(products):
            if line.product_id in seen:
                raise ValueError(
                    f"duplicate product_id {line.product_id} at products[{seen[line.product_id]}] "
                    f"and products[{index}]: give one line per product with its total quantity"
                )
            seen[line.product_id] = index
        return products


class PricedLine(BaseModel):
    """One order line priced at order time (money as Decimal, rounded to cents)."""

    model_config = ConfigDict(frozen=True)

    line_no: int
    product_id: int
    quantity: int
    unit_price: Decimal
    discount_type: DiscountType
    discount_value: Decimal
    discount_percent: Decimal
    subtotal: Decimal
    is_suggestion: bool = False


class DiscountTooLarge(ValueError):
    """The per-unit discount exceeds the unit price."""


def unit_discount(unit_price: Decimal, discount: Discount) -> Decimal:
    """The per-unit discount amount (docs/business-rules.md: percentage = price x pct / 100;
    fixed amount = value x 1000)."""
    if discount.type == "percentage":
        return unit_price * discount.value / 100
    if discount.type == "fixed_amount":
        return discount.value * FIXED_AMOUNT_FACTOR
    return Decimal(0)


def price_line(
    line_no: int,
    product_id: int,
    quantity: int,
    unit_price: Decimal,
    discount: Discount | None,
    *,
    is_suggestion: bool = False,
) -> PricedLine:
    """Price one line: ``subtotal = quantity x (unit_price - per-unit discount)``, to the cent."""
    discount = discount or NO_DISCOUNT
    amount = unit_discount(unit_price, discount)
    if amount > unit_price:
        raise DiscountTooLarge(
            f"discount {amount.quantize(CENT)} per unit exceeds the unit price {unit_price}"
        )
    percent = (amount / unit_price * 100) if unit_price > 0 else Decimal(0)
    subtotal = (quantity * (unit_price - amount)).quantize(CENT, rounding=ROUND_HALF_UP)
    return PricedLine(
        line_no=line_no,
        product_id=product_id,
        quantity=quantity,
        unit_price=unit_price,
        discount_type=discount.type,
        discount_value=discount.value,
        discount_percent=percent.quantize(CENT, rounding=ROUND_HALF_UP),
        subtotal=subtotal,
        is_suggestion=is_suggestion,
    )


def iso_millis(ts: datetime) -> str:
    """``2026-11-21T10:00:00.123Z`` (UTC, milliseconds), the contract's timestamp format."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _money(value: Decimal) -> str:
    return format(value.quantize(CENT), "f")


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def order_event_payload(
    *,
    event_type: Literal["order_created", "suggestion_added"],
    order_id: int,
    customer_id: int,
    payment_method_id: int,
    store_id: int,
    ordered_at: datetime,
    lines: list[PricedLine],
) -> dict[str, Any]:
    """The outbox payload (order event contract v1; numerics as strings)."""
    return {
        "schema_version": EVENT_SCHEMA_VERSION,
        "event_type": event_type,
        "order_id": order_id,
        "customer_id": customer_id,
        "payment_method_id": payment_method_id,
        "store_id": store_id,
        "ordered_at": iso_millis(ordered_at),
        "lines": [
            {
                "line_no": line.line_no,
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price": _money(line.unit_price),
                "discount_type": line.discount_type,
                "discount_value": _number(line.discount_value),
                "is_suggestion": line.is_suggestion,
            }
            for line in lines
        ],
    }


# --- responses ----------------------------------------------------------------------------
class OrderLineOut(BaseModel):
    line_no: int
    product_id: int
    quantity: int
    unit_price: Decimal
    discount_type: DiscountType
    discount_value: Decimal
    discount_percent: Decimal
    subtotal: Decimal
    is_suggestion: bool

    @field_serializer("discount_value")
    def _plain_number(self, value: Decimal) -> str:
        return _number(value)


class OrderOut(BaseModel):
    order_id: int
    customer_id: int
    payment_method_id: int
    store_id: int
    ordered_at: datetime
    created_at: datetime
    total: Decimal
    lines: list[OrderLineOut]


class OrderPage(BaseModel):
    items: list[OrderOut]
    total: int = Field(description="orders in the database")
    limit: int
    offset: int
    next_cursor: int | None = Field(
        description="pass as `cursor` for the next page (orders with a smaller order_id)"
    )


class ServiceInfo(BaseModel):
    service: str
    version: str
    openapi: str
    docs: str
    endpoints: list[str]


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    input: Any = None


class ErrorBody(BaseModel):
    detail: list[FieldError] | str
