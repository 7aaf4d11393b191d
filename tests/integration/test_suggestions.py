"""The suggestion service on the real stack: PostgreSQL (OLTP), the Kafka broker and Redis.

Each test uses its own topics (``e.test.<uuid>.*``), Redis prefix, consumer group and OLTP rows
(ids in [8,600,000, 9,000,000)); the order events are produced by the tests in the contract
format (see suggestions_support.py).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from tests.integration import suggestions_support as sup
from tillflow.config import Settings
from tillflow.domain.suggestions.events import cdc_envelope, outbox_envelope
from tillflow.domain.suggestions.rule import Order, OrderLine
from tillflow.jobs.suggestions.cache import SuggestionCache

pytestmark = pytest.mark.integration


@pytest.fixture
def topics(stack: Settings) -> sup.TestTopics:
    return sup.new_topics()


@pytest.fixture
def catalogue(stack: Settings) -> sup.Catalogue:
    return sup.create_catalogue()


@pytest.fixture
def service(topics: sup.TestTopics, tmp_path: Path) -> Any:
    proc = sup.ServiceProcess(topics, tmp_path)
    proc.start()
    yield proc
    proc.stop()
    proc.drop_cache()


def check_invariants(
    cat: sup.Catalogue,
    orders: list[Order],
    messages: list[dict[str, Any]],
    qualifying: set[int] | None = None,
) -> dict[int, dict[str, Any]]:
    """The acceptance invariants over the data (topic and OLTP), not over the function.
    ``qualifying``: the orders that qualify (default: by the catalogue's tiers at creation)."""
    if qualifying is None:
        qualifying = {o.order_id for o in orders if sup.qualifies(cat, o)}
    by_id = {o.order_id: o for o in orders}
    ids = set(by_id)
    # the topic: exactly the qualifying orders; a redelivered order's messages are identical
    published: dict[int, dict[str, Any]] = {}
    for m in messages:
        if m["order_id"] not in ids:
            continue
        first = published.setdefault(m["order_id"], m)
        assert m == first, f"two different suggestions for order {m['order_id']}"
    assert set(published) == qualifying
    # OLTP: one suggested line per qualifying order, none elsewhere, matching the message
    lines = sup.suggested_lines(sorted(ids))
    per_order: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in lines:
        per_order[row[0]].append(row)
    assert {k: len(v) for k, v in per_order.items()} == dict.fromkeys(qualifying, 1)
    for order_id, [(_, line_no, product_id, price, dtype, dvalue)] in per_order.items():
        order = by_id[order_id]
        assert product_id not in order.product_ids
        assert line_no == max(ln.line_no for ln in order.lines) + 1
        assert price == cat.products[product_id][1]
        assert dtype == "percentage" and Decimal(20) <= dvalue <= Decimal(50)
        factor = Decimal(published[order_id]["discount_factor"])
        assert Decimal("0.50") <= factor <= Decimal("0.80") and dvalue == (1 - factor) * 100
        assert published[order_id]["line"]["product_id"] == product_id
    # the outbox: one suggestion_added event per suggestion, in the contract's shape
    events = sup.outbox_rows(sorted(ids))
    assert sorted(e[0] for e in events) == sorted(qualifying)
    for order_id, payload in events:
        assert payload["event_type"] == "suggestion_added"
        assert [ln["is_suggestion"] for ln in payload["lines"]] == [True]
        assert payload["lines"][0]["product_id"] == per_order[order_id][0][2]
    return published


def wait_processed(
    cat: sup.Catalogue,
    orders: list[Order],
    timeout: float = 60,
    service: sup.ServiceProcess | None = None,
) -> None:
    qualifying = sorted(o.order_id for o in orders if sup.qualifies(cat, o))
    try:
        sup.wait_for(
            lambda: len(sup.suggested_lines(qualifying)) >= len(qualifying),
            timeout,
            f"{len(qualifying)} suggestions",
        )
    except AssertionError as exc:
        done = len(sup.suggested_lines(qualifying))
        tail = service.log_tail() if service is not None else ""
        raise AssertionError(f"{exc}; {done} stored. Service log:\n{tail}") from None


def test_every_qualifying_order_is_suggested_exactly_once(
    catalogue: sup.Catalogue, topics: sup.TestTopics, service: sup.ServiceProcess
) -> None:
    # Given 300 orders, about a third of which qualify
    orders = sup.random_orders(catalogue, 300, random.Random(6))
    assert 50 < sum(sup.qualifies(catalogue, o) for o in orders) < 200
    # When their events arrive at 300 orders/s
    sup.produce_orders(topics.orders, orders, rate=300)
    wait_processed(catalogue, orders, service=service)
    # Then every invariant holds over the topic and the OLTP data
    first = check_invariants(catalogue, orders, sup.read_topic(topics.suggestions))
    # When the same events are redelivered, with the suggestion_added events CDC would echo back
    sup.produce_orders(topics.orders, orders)
    producer_topic = topics.orders
    for order_id, payload in sup.outbox_rows([o.order_id for o in orders])[:20]:
        echo = cdc_envelope(
            "order_events", "c", None,
            {"event_id": order_id, "order_id": order_id, "event_type": "suggestion_added",
             "payload": json.dumps(payload)},
        )  # fmt: skip
        sup.produce_json(producer_topic, str(order_id), echo)
    time.sleep(3)
    # Then nothing changes: no second line, no second (different) message
    again = check_invariants(catalogue, orders, sup.read_topic(topics.suggestions))
    assert again == first


def test_the_invariants_hold_after_the_service_is_killed_mid_stream(
    catalogue: sup.Catalogue, topics: sup.TestTopics, service: sup.ServiceProcess
) -> None:
    # Given a stream of 1,500 orders at 500/s
    orders = sup.random_orders(catalogue, 1500, random.Random(66))
    qualifying = sorted(o.order_id for o in orders if sup.qualifies(catalogue, o))
    producer = threading.Thread(target=sup.produce_orders, args=(topics.orders, orders, 500))
    producer.start()
    # When the service is SIGKILLed while it is processing them
    sup.wait_for(lambda: len(sup.suggested_lines(qualifying)) >= 50, 30, "the first suggestions")
    service.kill()
    done_at_kill = len(sup.suggested_lines(qualifying))
    assert 0 < done_at_kill < len(qualifying), "the kill did not happen mid-stream"
    producer.join()
    # And restarted
    service.start()
    wait_processed(catalogue, orders, service=service)
    time.sleep(2)  # let a late duplicate, if any, arrive
    # Then every invariant still holds
    check_invariants(catalogue, orders, sup.read_topic(topics.suggestions))


def test_the_invariants_hold_when_the_database_connection_is_lost_mid_stream(
    catalogue: sup.Catalogue, topics: sup.TestTopics, service: sup.ServiceProcess
) -> None:
    # Given a stream of 3,000 orders at 500/s, and the moment the service connected
    started = service.started_at
    orders = sup.random_orders(catalogue, 3000, random.Random(67))
    qualifying = sorted(o.order_id for o in orders if sup.qualifies(catalogue, o))
    producer = threading.Thread(target=sup.produce_orders, args=(topics.orders, orders, 500))
    producer.start()
    # When its database connections are terminated three times while it works
    sup.wait_for(lambda: len(sup.suggested_lines(qualifying)) >= 30, 30, "the first suggestions")
    killed = 0
    for _ in range(3):
        with psycopg.connect(sup.admin_dsn(), autocommit=True) as conn:
            killed += len(conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity"
                " where application_name = 'tillflow-suggestions' and backend_start >= %s",
                (started,),
            ).fetchall())  # fmt: skip
        time.sleep(1.5)  # the service pauses 1 s after a failure, then reconnects
    producer.join()
    assert killed >= 2, "the service's connection was not terminated mid-stream"
    # Then it rewinds, retries and ends with every invariant holding
    wait_processed(catalogue, orders, service=service)
    time.sleep(2)
    check_invariants(catalogue, orders, sup.read_topic(topics.suggestions))
    assert "rewound" in service.log_tail(200_000)


def test_a_customer_promoted_to_diamond_gets_a_suggestion_on_the_next_qualifying_order(
    catalogue: sup.Catalogue, topics: sup.TestTopics, service: sup.ServiceProcess
) -> None:
    customer = catalogue.regular[0]
    product = sorted(catalogue.products)[0]
    price = catalogue.products[product][1]

    def new_order() -> Order:
        with psycopg.connect(sup.admin_dsn()) as conn, conn.transaction():
            (order_id,) = sup.allocate(conn, "orders", "order_id", 1)
            order = Order(order_id, customer, catalogue.acb, catalogue.store_id,
                          "2026-11-21T10:00:00.000Z", (OrderLine(1, product, 1, price),))  # fmt: skip
            sup.insert_orders(conn, [order])
        return order

    # Given a gold customer's order paid by ACB transfer: no suggestion
    first = new_order()
    sup.produce_orders(topics.orders, [first])
    sup.wait_for(lambda: _heartbeat(service).get("orders", 0) >= 1, 20, "the first order")
    assert sup.suggested_lines([first.order_id]) == []
    # When the customer is promoted to diamond; then the cache sees its CDC event within seconds
    _promote(topics, service, customer)
    # And the next qualifying order gets a suggestion
    second = new_order()
    sup.produce_orders(topics.orders, [second])
    catalogue.diamond.append(customer)
    wait_processed(catalogue, [second], timeout=20)
    check_invariants(
        catalogue, [first, second], sup.read_topic(topics.suggestions), {second.order_id}
    )


def test_an_old_order_republished_by_a_cdc_snapshot_is_not_decided_again(
    catalogue: sup.Catalogue, topics: sup.TestTopics, service: sup.ServiceProcess
) -> None:
    """A broker that lost its topics makes CDC snapshot the outbox again (``op=r``): every old
    order comes back. One that did not qualify when it was placed and qualifies now (its
    customer was promoted since) must not get a suggestion today."""
    customer = catalogue.regular[1]
    product = sorted(catalogue.products)[0]
    price = catalogue.products[product][1]
    with psycopg.connect(sup.admin_dsn()) as conn, conn.transaction():
        order_ids = sup.allocate(conn, "orders", "order_id", 2)
        old, new = (
            Order(order_id, customer, catalogue.acb, catalogue.store_id,
                  "2026-11-21T10:00:00.000Z", (OrderLine(1, product, 1, price),))
            for order_id in order_ids
        )  # fmt: skip
        sup.insert_orders(conn, [old, new])
    # Given a gold customer's order paid by ACB transfer, decided: no suggestion
    sup.produce_orders(topics.orders, [old])
    sup.wait_for(lambda: _heartbeat(service).get("orders", 0) >= 1, 20, "the old order")
    assert sup.suggested_lines([old.order_id]) == []
    # And the customer promoted to diamond since
    _promote(topics, service, customer)
    # When a re-snapshot publishes the old order's outbox row again (a snapshot read), followed
    # by a new qualifying order of the same customer as a live insert
    snapshot_read = outbox_envelope(old, event_id=old.order_id)
    snapshot_read["op"] = "r"
    sup.produce_json(topics.orders, str(old.order_id), snapshot_read)
    sup.produce_orders(topics.orders, [new])
    # Then the new order is suggested (the service decided everything before it)
    catalogue.diamond.append(customer)
    wait_processed(catalogue, [new], timeout=20, service=service)
    # And the old one is not: it was decided once, when it was placed
    assert sup.suggested_lines([old.order_id]) == []
    check_invariants(catalogue, [old, new], sup.read_topic(topics.suggestions), {new.order_id})


def test_a_parked_service_wakes_on_a_cdc_change_and_an_order_and_loses_neither(
    catalogue: sup.Catalogue, topics: sup.TestTopics, tmp_path: Path
) -> None:
    service = sup.ServiceProcess(topics, tmp_path, park_after=1.0)
    service.start()
    try:
        # Given orders processed, then a quiet spell: both consumers park on the long wait
        orders = sup.random_orders(catalogue, 40, random.Random(12))
        sup.produce_orders(topics.orders, orders[:20], rate=200)
        wait_processed(catalogue, orders[:20], service=service)
        sup.wait_for(
            lambda: (_heartbeat(service).get("orders_fetch"),
                     _heartbeat(service).get("cache_feed_fetch")) == ("parked", "parked"),
            15, "both consumers parked",
        )  # fmt: skip
        # When a customer (one with no order here) becomes diamond while the cache feed is parked
        with psycopg.connect(sup.admin_dsn()) as conn, conn.transaction():
            (customer,) = sup.allocate(conn, "customers", "customer_id", 1)
        row = {"customer_id": customer, "name": "x", "email": "x@example.com", "tier": "gold"}
        # Then the cache sees its CDC event
        _promote_through_cdc(topics, service, row)
        # When more orders arrive while the order consumer is parked
        sup.produce_orders(topics.orders, orders[20:], rate=200)
        wait_processed(catalogue, orders[20:], service=service)
        # Then every order is decided once, and the consumer woke (and may park again later)
        check_invariants(catalogue, orders, sup.read_topic(topics.suggestions))
        sup.wait_for(lambda: _heartbeat(service).get("orders") == len(orders), 5, "the counters")
        assert _heartbeat(service)["orders_parks"] >= 1
        # And what was read while parked and after is committed, so a restart repeats nothing
        sup.wait_for(
            lambda: _committed(service.group, topics.orders) == len(orders), 10, "order commits"
        )
        sup.wait_for(
            lambda: _committed(f"{service.group}-cache", topics.cdc("customers")) == 1,
            10, "the cache feed's commit",
        )  # fmt: skip
    finally:
        service.stop()
        service.drop_cache()


def _promote(topics: sup.TestTopics, service: sup.ServiceProcess, customer: int) -> None:
    """Make ``customer`` diamond: in the database, then its CDC event; wait until the cache has
    it."""
    with psycopg.connect(sup.admin_dsn(), autocommit=True) as conn:
        before = conn.execute(
            "select customer_id, name, email, tier from customers where customer_id = %s",
            (customer,),
        ).fetchone()
        assert before is not None
        conn.execute("update customers set tier = 'diamond' where customer_id = %s", (customer,))
    _promote_through_cdc(
        topics, service, dict(zip(("customer_id", "name", "email", "tier"), before, strict=True))
    )


def _promote_through_cdc(
    topics: sup.TestTopics, service: sup.ServiceProcess, row: dict[str, Any]
) -> None:
    """Produce the CDC event of ``row``'s customer becoming diamond; wait until the cache has it."""
    customer = row["customer_id"]
    event = cdc_envelope("customers", "u", row, {**row, "tier": "diamond"})
    sup.produce_json(topics.cdc("customers"), json.dumps({"customer_id": customer}), event)
    s = Settings.from_env()
    client = redis.Redis(s.redis.host, s.redis.port)
    sup.wait_for(
        lambda: client.sismember(f"{service.prefix}:diamond", customer), 10, "the CDC update"
    )


def _committed(group: str, topic: str) -> int:
    """The sum over ``topic``'s partitions of ``group``'s committed offsets (0 where none)."""
    from confluent_kafka import TopicPartition

    from tillflow.adapters import kafka

    consumer = kafka.consumer(Settings.from_env().kafka.connection, group)
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        got = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return sum(max(tp.offset, 0) for tp in got)
    finally:
        consumer.close()


def _heartbeat(service: sup.ServiceProcess) -> dict[str, Any]:
    try:
        body: dict[str, Any] = json.loads(service.heartbeat.read_text())
    except (OSError, ValueError):
        return {}
    return body


# --- the caches on their own -------------------------------------------------------------------
@pytest.fixture
def cache(stack: Settings) -> Any:
    prefix = f"tillflow:test:cache:{random.getrandbits(40):x}"
    c = SuggestionCache.connect(stack.redis.host, stack.redis.port, sup.api_dsn(), prefix)
    yield c
    c.drop()
    c.close()


def test_a_cache_miss_falls_back_to_the_database_and_repairs_the_cache(
    catalogue: sup.Catalogue, cache: SuggestionCache
) -> None:
    # Given caches loaded before a new diamond customer and a new product existed
    cache.load()
    with psycopg.connect(sup.admin_dsn()) as conn, conn.transaction():
        (customer,) = sup.allocate(conn, "customers", "customer_id", 1)
        conn.execute(
            "insert into customers values (%s, 'late', 'late@example.com', 'diamond')",
            (customer,),
        )
        (product,) = sup.allocate(conn, "item_master", "item_id", 1)
        conn.execute(
            "insert into item_master (item_id, upc, name, category_id, unit_price, frequency)"
            " values (%s, %s, 'late item', %s, 4.50, 1000)",
            (product, f"E{product}", catalogue.categories[0]),
        )
    order = Order(1, customer, catalogue.acb, catalogue.store_id, "",
                  (OrderLine(1, product, 1, Decimal("4.50")),))  # fmt: skip
    # When the rule asks for the order's facts (no CDC event ever told the cache)
    facts = cache.facts(order)
    # Then they come from the database, and the cache is repaired
    assert facts.customer_is_diamond and facts.payment_is_acb_transfer
    assert facts.category_candidates[0].category_id == catalogue.categories[0]
    # the most popular one of its category now, but in the order: never a candidate
    assert product not in {c.product_id for c in facts.category_candidates}
    assert cache.client.sismember(cache.keys.diamond, customer)
    assert cache.client.hget(cache.keys.products, product) == (
        f"{catalogue.categories[0]}|4.50".encode()
    )
    assert cache.misses == 2
    # And a cold cache (e.g. Redis restarted) is reloaded on the next lookup
    cache.drop()
    assert cache.facts(order).customer_is_diamond
    assert cache.is_loaded()


def test_the_lookup_returns_only_products_not_in_the_order(
    catalogue: sup.Catalogue, cache: SuggestionCache
) -> None:
    cache.load()
    category = catalogue.categories[0]
    ranked = sorted(catalogue.by_category(category), key=lambda p: -catalogue.products[p][2])
    customer = catalogue.diamond[0]

    def order_of(products: list[int]) -> Order:
        lines = tuple(
            OrderLine(n, p, 1, catalogue.products[p][1]) for n, p in enumerate(products, 1)
        )
        return Order(1, customer, catalogue.acb, catalogue.store_id, "", lines)

    # Given an order holding all but the least popular product of its category
    facts = cache.facts(order_of(ranked[:-1]))
    # Then the category's only eligible candidate is that product, and no fallback is sent
    assert [c.product_id for c in facts.category_candidates] == ranked[-1:]
    assert facts.fallback_candidates == ()
    # Given an order holding the whole category  Then the fallback has no product of the order
    facts = cache.facts(order_of(ranked))
    assert facts.category_candidates == ()
    fallback = [c.product_id for c in facts.fallback_candidates]
    assert fallback and not set(fallback) & set(ranked)


def test_cdc_changes_update_prices_categories_tiers_and_payment_methods(
    catalogue: sup.Catalogue, cache: SuggestionCache
) -> None:
    cache.load()
    product = catalogue.by_category(catalogue.categories[0])[0]
    other = catalogue.categories[1]
    row = {"item_id": product, "upc": f"E{product}", "name": "x",
           "category_id": catalogue.categories[0], "unit_price": "10.00", "frequency": 5.0}  # fmt: skip
    moved = {**row, "category_id": other, "unit_price": "11.00", "frequency": 1e9}
    method = {"payment_method_id": catalogue.other_bank, "method": "bank_transfer", "bank": "VCB"}
    customer = {"customer_id": catalogue.diamond[0], "tier": "diamond"}
    # When CDC reports a price change with a category move, a bank change and a demotion
    applied = cache.apply_changes(
        [
            ("item_master", _change("u", row, moved)),
            ("payment_methods", _change("u", method, {**method, "bank": "ACB"})),
            ("customers", _change("u", customer, {**customer, "tier": "gold"})),
        ]
    )
    assert applied == 3
    k = cache.keys
    assert cache.client.hget(k.products, product) == f"{other}|11.00".encode()
    assert cache.client.zscore(k.popular(catalogue.categories[0]), product) is None
    assert cache.client.zrevrange(k.popular(other), 0, 0) == [str(product).encode()]
    assert cache.client.sismember(k.acb, catalogue.other_bank)
    assert not cache.client.sismember(k.diamond, catalogue.diamond[0])
    # When the product is deleted, it is no candidate anymore
    cache.apply_changes([("item_master", _change("d", moved, None))])
    assert cache.client.hget(k.products, product) is None
    assert cache.client.zscore(k.popular_all, product) is None


def _change(op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> Any:
    from tillflow.domain.suggestions.events import parse_change

    return parse_change(json.dumps(cdc_envelope("x", op, before, after)))


def test_events_for_unknown_orders_change_nothing(
    catalogue: sup.Catalogue, topics: sup.TestTopics, service: sup.ServiceProcess
) -> None:
    # Given a qualifying order event whose order was never written to OLTP
    ghost = Order(sup.ID_MAX - 1, catalogue.diamond[0], catalogue.acb, catalogue.store_id, "",
                  (OrderLine(1, sorted(catalogue.products)[0], 1, Decimal("1.00")),))  # fmt: skip
    sup.produce_json(topics.orders, "ghost", outbox_envelope(ghost, event_id=1))
    real = sup.random_orders(catalogue, 20, random.Random(3))
    sup.produce_orders(topics.orders, real)
    wait_processed(catalogue, real)
    # Then the service went on, and nothing was written or published for the ghost
    assert sup.suggested_lines([ghost.order_id]) == []
    assert all(m["order_id"] != ghost.order_id for m in sup.read_topic(topics.suggestions))
