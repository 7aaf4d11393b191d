"""The order generator's planning (pure: no API, no database) and its CLI registration."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

import pytest

from tillflow.entrypoints.commands import CommandTree
from tillflow.entrypoints.commands.orders import register
from tillflow.jobs.api.models import OrderCreate
from tillflow.jobs.api.order_generator import OrderPlanner, ReferenceMix, qualifies

pytestmark = pytest.mark.unit

MIX = ReferenceMix(
    customers=[(1, "regular"), (2, "silver"), (3, "gold"), (4, "diamond"), (5, "regular")],
    payment_methods=[
        (1, "cash", None),
        (2, "credit_card", None),
        (3, "e_wallet", None),
        (4, "bank_transfer", "ACB"),
        (5, "bank_transfer", "VCB"),
    ],
    stores=[10, 11, 12],
    items=[(100 + i, 1.0 + i, 1.0 + (i % 7)) for i in range(40)],
)


def _orders(n: int, seed: int = 1, share: float = 0.1) -> list[tuple[dict[str, Any], bool]]:
    planner = OrderPlanner(MIX, seed=seed, qualify_share=share)
    return [planner.next_order() for _ in range(n)]


def test_every_planned_order_is_a_valid_api_body() -> None:
    # Given 500 planned orders / Then each passes the API's own validation, 1-8 lines
    for body, _ in _orders(500):
        order = OrderCreate.model_validate(body)
        assert 1 <= len(order.products) <= 8


def test_some_orders_qualify_for_a_suggestion_and_most_do_not() -> None:
    # Given 2000 orders with a 10% steered share
    orders = _orders(2000)
    share = sum(qualifies(body, MIX) for body, _ in orders) / len(orders)
    # Then every steered order qualifies, and qualifying ones are a minority
    assert all(qualifies(body, MIX) for body, steered in orders if steered)
    assert 0.05 < share < 0.30


def test_small_baskets_are_the_most_common() -> None:
    sizes = Counter(len(body["products"]) for body, _ in _orders(2000))
    assert sizes[1] > sizes[4] > sizes[8] > 0


def test_the_same_seed_plans_the_same_orders() -> None:
    assert _orders(50, seed=7) == _orders(50, seed=7)
    assert _orders(50, seed=7) != _orders(50, seed=8)


def test_an_empty_reference_table_is_named() -> None:
    empty = ReferenceMix(customers=[], payment_methods=MIX.payment_methods, stores=[1], items=[])
    with pytest.raises(ValueError, match=r"customers.*item_master"):
        OrderPlanner(empty)


@pytest.mark.parametrize("other_first", [True, False])
def test_generate_orders_coexists_with_other_generate_commands(other_first: bool) -> None:
    # Given another module's `generate scans`, registered before or after ours
    parser = argparse.ArgumentParser()
    tree = CommandTree(parser.add_subparsers(dest="command"))

    def other() -> None:
        tree.group("generate", "generators").add_parser("scans")

    if other_first:
        other()
    register(tree)
    if not other_first:
        other()
    # Then both parse
    assert parser.parse_args(["generate", "orders", "--count", "3"]).count == 3
    assert parser.parse_args(["generate", "scans"]).what == "scans"
