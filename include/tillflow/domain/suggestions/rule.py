"""The suggestion rule (docs/business-rules.md, "Suggestions"), as pure functions: no I/O, unit-tested.

**Qualifies** iff the order's payment method is a bank transfer with bank ACB and its customer is
diamond tier. It is judged on the ``order_created`` event, which carries all the order's lines
(the outbox row is written in the same transaction as the order), so "all lines are known".

**Product** ("a popular product of the same category as the order's biggest line"):

1. the *anchor* line is the order's biggest line by value, ``quantity x unit_price``
   (ties: the lowest ``line_no``);
2. candidates are the anchor category's products ranked by ``item_master.frequency`` (the
   generators' sales weight), most popular first; if none is eligible, the catalogue's most
   popular products are the fallback;
3. products already in the order are never eligible;
4. the pick is ``seed % n`` among the first ``PICK_AMONG`` eligible candidates.

**Line**: quantity 1 at the product's current ``unit_price``; discount factor
``f = 0.50 + (seed' mod 31) / 100`` in {0.50, 0.51, ..., 0.80}, encoded as the contract's
``discount_type = 'percentage'`` with ``discount_value = (1 - f) x 100`` (an integer percent
20..50), so the net unit price is exactly ``unit_price x f`` (docs/business-rules.md: percentage discount =
price x pct / 100).

**Seed**: the first 8 bytes of BLAKE2b over ``tillflow-suggestion:v1:<order_id>`` (63 bits) -- the
same in every process and on every machine (Python's ``hash()`` is salted per process). Given the
same order and the same catalogue, the suggestion is the same, which also makes a redelivered
event recompute an identical suggestion.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

#: Bounds of the discount factor (share of the unit price the customer pays).
FACTOR_MIN = Decimal("0.50")
FACTOR_MAX = Decimal("0.80")
_FACTOR_STEPS = 31  # 0.50, 0.51, ..., 0.80
#: The pick is made among this many eligible candidates (the most popular ones).
PICK_AMONG = 5
DISCOUNT_TYPE = "percentage"
CENT = Decimal("0.01")
SEED_VERSION = "v1"
DIAMOND = "diamond"
BANK_TRANSFER = "bank_transfer"
ACB = "ACB"


def is_diamond(tier: str | None) -> bool:
    """The customer-tier half of the rule (``customers.tier``)."""
    return tier == DIAMOND


def is_acb_bank_transfer(method: str | None, bank: str | None) -> bool:
    """The payment half of the rule (``payment_methods.method`` and ``.bank``)."""
    return method == BANK_TRANSFER and (bank or "").strip().upper() == ACB


@dataclass(frozen=True, slots=True)
class OrderLine:
    line_no: int
    product_id: int
    quantity: int
    unit_price: Decimal
    discount_type: str = "none"
    discount_value: Decimal = Decimal(0)
    is_suggestion: bool = False

    @property
    def value(self) -> Decimal:
        return self.quantity * self.unit_price


@dataclass(frozen=True, slots=True)
class Order:
    """An order as carried by an order event (contract v1)."""

    order_id: int
    customer_id: int
    payment_method_id: int
    store_id: int
    ordered_at: str
    lines: tuple[OrderLine, ...]

    @property
    def product_ids(self) -> frozenset[int]:
        return frozenset(line.product_id for line in self.lines)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A product that may be suggested, at its current price."""

    product_id: int
    category_id: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rule needs to know beyond the order itself (read from the caches)."""

    customer_is_diamond: bool
    payment_is_acb_transfer: bool
    #: the anchor category's products, most popular first (empty when unknown)
    category_candidates: tuple[Candidate, ...] = ()
    #: the catalogue's most popular products, the fallback
    fallback_candidates: tuple[Candidate, ...] = ()


NOT_QUALIFYING = Facts(customer_is_diamond=False, payment_is_acb_transfer=False)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """The accepted suggestion for one order: one line, quantity 1, percentage discount."""

    order_id: int
    customer_id: int
    payment_method_id: int
    store_id: int
    ordered_at: str
    product_id: int
    category_id: int
    unit_price: Decimal
    factor: Decimal
    seed: int

    quantity: int = 1
    discount_type: str = DISCOUNT_TYPE

    @property
    def discount_value(self) -> Decimal:
        """The contract's percentage: ``(1 - factor) x 100``."""
        return discount_percent(self.factor)

    @property
    def subtotal(self) -> Decimal:
        """``quantity x (unit_price - unit_price x pct / 100)``, to the cent (as the API does)."""
        net = self.unit_price - self.unit_price * self.discount_value / 100
        return (self.quantity * net).quantize(CENT, rounding=ROUND_HALF_UP)

    def line(self, line_no: int) -> dict[str, Any]:
        """The line in the order event contract's shape (numerics as strings)."""
        return {
            "line_no": line_no,
            "product_id": self.product_id,
            "quantity": self.quantity,
            "unit_price": format(self.unit_price.quantize(CENT), "f"),
            "discount_type": self.discount_type,
            "discount_value": format(self.discount_value.normalize(), "f"),
            "is_suggestion": True,
        }


def seed_for(order_id: int) -> int:
    """A 63-bit seed from the order id, stable across processes and machines."""
    digest = hashlib.blake2b(
        f"tillflow-suggestion:{SEED_VERSION}:{order_id}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") >> 1


def discount_factor(seed: int) -> Decimal:
    """The factor in [0.50, 0.80] (steps of 0.01), from bits of the seed the pick does not use."""
    return FACTOR_MIN + Decimal((seed >> 32) % _FACTOR_STEPS) / 100


def discount_percent(factor: Decimal) -> Decimal:
    return (1 - factor) * 100


def qualifies(order: Order, facts: Facts) -> bool:
    """The rule's condition, judged on a complete order (one that has lines)."""
    if not order.lines or any(line.is_suggestion for line in order.lines):
        return False
    return facts.customer_is_diamond and facts.payment_is_acb_transfer


def anchor_line(order: Order) -> OrderLine | None:
    """The order's biggest line by value (ties: lowest line_no); None for an empty order."""
    lines = [line for line in order.lines if not line.is_suggestion]
    if not lines:
        return None
    return min(lines, key=lambda line: (-line.value, line.line_no))


def choose_product(
    order: Order,
    category_candidates: Sequence[Candidate],
    fallback_candidates: Sequence[Candidate],
    seed: int,
) -> Candidate | None:
    """A popular product not already in the order (None when no candidate is eligible)."""
    taken = order.product_ids
    for candidates in (category_candidates, fallback_candidates):
        eligible: list[Candidate] = []
        for candidate in candidates:
            if candidate.product_id not in taken and candidate.unit_price > 0:
                eligible.append(candidate)
                if len(eligible) == PICK_AMONG:
                    break
        if eligible:
            return eligible[seed % len(eligible)]
    return None


def decide(order: Order, facts: Facts) -> Suggestion | None:
    """The suggestion for ``order``, or None when it does not qualify (or nothing is eligible)."""
    if not qualifies(order, facts):
        return None
    seed = seed_for(order.order_id)
    product = choose_product(order, facts.category_candidates, facts.fallback_candidates, seed)
    if product is None:
        return None
    return Suggestion(
        order_id=order.order_id,
        customer_id=order.customer_id,
        payment_method_id=order.payment_method_id,
        store_id=order.store_id,
        ordered_at=order.ordered_at,
        product_id=product.product_id,
        category_id=product.category_id,
        unit_price=product.unit_price,
        factor=discount_factor(seed),
        seed=seed,
    )
