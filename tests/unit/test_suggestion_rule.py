"""The suggestion rule (include/tillflow/domain/suggestions/rule.py) and its wire formats."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest

from tillflow.domain.suggestions import events
from tillflow.domain.suggestions.rule import (
    FACTOR_MAX,
    FACTOR_MIN,
    PICK_AMONG,
    Candidate,
    Facts,
    Order,
    OrderLine,
    anchor_line,
    choose_product,
    decide,
    discount_factor,
    is_acb_bank_transfer,
    is_diamond,
    seed_for,
)

pytestmark = pytest.mark.unit

CATEGORY = 7
OTHER_CATEGORY = 8


def line(line_no: int, product_id: int, quantity: int = 1, price: str = "10.00") -> OrderLine:
    return OrderLine(line_no, product_id, quantity, Decimal(price))


def order(*lines: OrderLine, order_id: int = 1001) -> Order:
    return Order(order_id, 7, 3, 42, "2026-11-21T10:00:00.123Z", tuple(lines))


def candidates(*ids: int, category: int = CATEGORY, price: str = "5.00") -> tuple[Candidate, ...]:
    return tuple(Candidate(i, category, Decimal(price)) for i in ids)


POPULAR = candidates(101, 102, 103, 104, 105, 106, 107)
FALLBACK = candidates(901, 902, category=OTHER_CATEGORY)
QUALIFYING = Facts(True, True, POPULAR, FALLBACK)
ORDER = order(line(1, 555, 2, "12.34"), line(2, 556, 1, "3.00"))


@pytest.mark.parametrize(
    ("diamond", "acb", "expected"),
    [(True, True, True), (True, False, False), (False, True, False), (False, False, False)],
)
def test_an_order_qualifies_iff_diamond_customer_and_acb_bank_transfer(
    diamond: bool, acb: bool, expected: bool
) -> None:
    # Given an order and what the caches know about its customer and payment method
    facts = Facts(diamond, acb, POPULAR, FALLBACK)
    # When the rule decides
    suggestion = decide(ORDER, facts)
    # Then there is a suggestion exactly when both halves hold
    assert (suggestion is not None) is expected


@pytest.mark.parametrize(
    ("tier", "expected"),
    [("diamond", True), ("gold", False), ("silver", False), ("regular", False), (None, False)],
)
def test_only_the_diamond_tier_counts(tier: str | None, expected: bool) -> None:
    assert is_diamond(tier) is expected


@pytest.mark.parametrize(
    ("method", "bank", "expected"),
    [
        ("bank_transfer", "ACB", True),
        ("bank_transfer", " acb ", True),
        ("bank_transfer", "VCB", False),
        ("bank_transfer", None, False),
        ("credit_card", "ACB", False),
        ("cash", None, False),
    ],
)
def test_only_acb_bank_transfers_count(method: str, bank: str | None, expected: bool) -> None:
    assert is_acb_bank_transfer(method, bank) is expected


@pytest.mark.parametrize(
    "the_order",
    [
        order(),  # no lines: not a complete order
        order(OrderLine(1, 555, 1, Decimal("1.00"), is_suggestion=True)),  # already suggested
    ],
)
def test_an_order_without_lines_or_already_suggested_gets_nothing(the_order: Order) -> None:
    assert decide(the_order, QUALIFYING) is None


@pytest.mark.parametrize(
    ("lines", "anchor_product"),
    [
        ((line(1, 1, 1, "5.00"), line(2, 2, 3, "2.00")), 2),  # 6.00 beats 5.00
        ((line(1, 1, 2, "3.00"), line(2, 2, 1, "6.00")), 1),  # a tie: the lowest line_no
        ((line(1, 1, 1, "9.99"),), 1),
    ],
)
def test_the_anchor_is_the_biggest_line_by_value(
    lines: tuple[OrderLine, ...], anchor_product: int
) -> None:
    anchor = anchor_line(order(*lines))
    assert anchor is not None and anchor.product_id == anchor_product


@pytest.mark.parametrize("order_id", range(1, 400, 7))
def test_the_suggested_product_is_never_already_in_the_order(order_id: int) -> None:
    # Given an order that already holds the most popular products of its category
    the_order = order(line(1, 101), line(2, 102), line(3, 104), order_id=order_id)
    # When the rule decides
    suggestion = decide(the_order, QUALIFYING)
    # Then the suggested product is popular, of the category, and not in the order
    assert suggestion is not None
    assert suggestion.product_id not in the_order.product_ids
    eligible = [c.product_id for c in POPULAR if c.product_id not in the_order.product_ids]
    assert suggestion.product_id in eligible[:PICK_AMONG]
    assert suggestion.category_id == CATEGORY


def test_the_fallback_list_is_used_when_the_category_has_nothing_left() -> None:
    the_order = order(line(1, 101), line(2, 102))
    suggestion = decide(the_order, Facts(True, True, candidates(101, 102), FALLBACK))
    assert suggestion is not None and suggestion.product_id in {901, 902}


def test_no_suggestion_when_no_product_is_eligible_at_all() -> None:
    the_order = order(line(1, 101), line(2, 901))
    assert choose_product(the_order, candidates(101), candidates(901), seed=3) is None


@pytest.mark.parametrize("order_id", [1, 2, 3, 10**6, 8_600_123, 2**40 + 5, *range(500, 560)])
def test_the_discount_factor_is_within_bounds_and_encoded_as_a_percentage(order_id: int) -> None:
    suggestion = decide(order(line(1, 555, 1, "19.99"), order_id=order_id), QUALIFYING)
    assert suggestion is not None
    assert FACTOR_MIN <= suggestion.factor <= FACTOR_MAX
    assert suggestion.discount_type == "percentage"
    assert suggestion.discount_value == (1 - suggestion.factor) * 100
    assert Decimal(20) <= suggestion.discount_value <= Decimal(50)
    assert suggestion.quantity == 1
    # the net price the customer pays is factor x unit price (to the cent)
    assert suggestion.subtotal == (suggestion.unit_price * suggestion.factor).quantize(
        Decimal("0.01")
    )


def test_the_factor_covers_the_whole_range_over_many_orders() -> None:
    factors = {discount_factor(seed_for(i)) for i in range(3000)}
    assert min(factors) == FACTOR_MIN and max(factors) == FACTOR_MAX
    assert len(factors) == 31


@pytest.mark.parametrize("order_id", [1, 42, 8_600_000, 2**62])
def test_the_suggestion_is_reproducible_from_the_order(order_id: int) -> None:
    # Given the same order decided twice (as after a redelivery)
    the_order = order(line(1, 555, 2, "12.34"), order_id=order_id)
    # Then the suggestion is identical, and the seed is a fixed function of the order id
    assert decide(the_order, QUALIFYING) == decide(the_order, QUALIFYING)
    assert seed_for(order_id) == seed_for(order_id) < 2**63


def test_the_seed_is_stable_across_processes() -> None:
    # a pinned value (BLAKE2b-64 >> 1), not Python's per-process salted hash()
    digest = hashlib.blake2b(b"tillflow-suggestion:v1:1", digest_size=8).digest()
    assert seed_for(1) == int.from_bytes(digest, "big") >> 1 == 6111557689452506432


def test_different_orders_get_different_products_and_discounts() -> None:
    results = {decide(order(line(1, 555), order_id=i), QUALIFYING) for i in range(200)}
    assert len({s.product_id for s in results if s}) == PICK_AMONG
    assert len({s.factor for s in results if s}) > 20


# --- wire formats ------------------------------------------------------------------------------
def test_an_outbox_envelope_round_trips_to_the_same_order() -> None:
    # Given an order published by CDC (payload as a JSON string inside the envelope)
    raw = json.dumps(events.outbox_envelope(ORDER, event_id=5)).encode()
    # When it is parsed
    parsed = events.parse_order_event(raw)
    # Then it is the same order, as an order_created event
    assert parsed == ("order_created", ORDER)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),  # tombstone
        (json.dumps({"before": {"event_id": 1}, "after": None, "op": "d"}), None),  # delete
    ],
)
def test_deletes_and_tombstones_carry_no_order(value: str | None, expected: None) -> None:
    assert events.parse_order_event(value) is expected


def test_a_snapshot_read_of_the_outbox_carries_no_order_to_decide() -> None:
    # Given an outbox row CDC publishes again in a re-snapshot
    snapshot = events.outbox_envelope(ORDER, event_id=5)
    snapshot["op"] = "r"
    # Then it is no order event (an insert of the same row is one)
    assert events.parse_order_event(json.dumps(snapshot)) is None
    assert events.parse_order_event(json.dumps({**snapshot, "op": "c"})) == ("order_created", ORDER)


@pytest.mark.parametrize(
    "value",
    ["not json", json.dumps({"after": {"payload": "[1]"}}), json.dumps({"after": {"payload": {}}})],
)
def test_malformed_order_events_are_rejected(value: str) -> None:
    with pytest.raises(events.BadEvent):
        events.parse_order_event(value)


def test_a_schema_wrapped_envelope_is_accepted_too() -> None:
    inner = events.outbox_envelope(ORDER, event_id=5)
    wrapped = json.dumps({"schema": {"type": "struct"}, "payload": inner})
    assert events.parse_order_event(wrapped) == ("order_created", ORDER)


@pytest.mark.parametrize(
    ("value", "op"),
    [
        (events.cdc_envelope("customers", "u", {"tier": "gold"}, {"tier": "diamond"}), "u"),
        (events.cdc_envelope("item_master", "d", {"item_id": 1}, None), "d"),
        (events.cdc_envelope("item_master", "r", None, {"item_id": 1}), "r"),
    ],
)
def test_cdc_changes_are_parsed(value: dict[str, object], op: str) -> None:
    change = events.parse_change(json.dumps(value))
    assert change is not None and change.op == op


def test_the_suggestion_message_carries_the_line_in_the_contract_shape() -> None:
    suggestion = decide(ORDER, QUALIFYING)
    assert suggestion is not None
    message = events.suggestion_message(suggestion, 3, "2026-11-21T10:00:00.200Z", "service")
    assert message["order_id"] == ORDER.order_id
    assert message["line"] == {
        "line_no": 3,
        "product_id": suggestion.product_id,
        "quantity": 1,
        "unit_price": "5.00",
        "discount_type": "percentage",
        "discount_value": format(suggestion.discount_value.normalize(), "f"),
        "is_suggestion": True,
    }
    assert Decimal(message["discount_factor"]) == suggestion.factor
