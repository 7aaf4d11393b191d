"""Realistic orders posted through the orders API (so they take the real path: API -> outbox -> CDC).

Baskets of 1-8 lines (small baskets most common), items weighted by their sales frequency,
customers and payment methods drawn from the OLTP reference tables. A share of orders (10% by
default) is steered to a diamond customer paying by bank transfer with bank ACB, the suggestion
rule's condition; the rest are drawn naturally (some of which may qualify too).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BASKET_SIZES = (1, 2, 3, 4, 5, 6, 7, 8)
BASKET_WEIGHTS = (0.25, 0.22, 0.17, 0.12, 0.09, 0.07, 0.05, 0.03)
METHOD_WEIGHTS = {"cash": 0.30, "credit_card": 0.40, "e_wallet": 0.18, "bank_transfer": 0.12}
PERCENT_DISCOUNTS = (5, 10, 15, 20, 25)
SUGGESTION_BANK = "ACB"


@dataclass(frozen=True)
class ReferenceMix:
    """What orders are drawn from: ids of the OLTP reference tables."""

    customers: list[tuple[int, str]]  # (customer_id, tier)
    payment_methods: list[tuple[int, str, str | None]]  # (id, method, bank)
    stores: list[int]
    items: list[tuple[int, float, float]]  # (item_id, unit_price, frequency)

    def problems(self) -> list[str]:
        empty = [
            name
            for name, rows in (
                ("customers", self.customers),
                ("payment_methods", self.payment_methods),
                ("stores", self.stores),
                ("item_master", self.items),
            )
            if not rows
        ]
        return [f"table {t} is empty: seed the reference data first" for t in empty]


def load_mix(dsn: str) -> ReferenceMix:
    import psycopg

    with psycopg.connect(dsn) as conn:
        customers = [
            (int(r[0]), str(r[1]))
            for r in conn.execute("select customer_id, tier from customers order by 1")
        ]
        methods = [
            (int(r[0]), str(r[1]), r[2])
            for r in conn.execute(
                "select payment_method_id, method, bank from payment_methods order by 1"
            )
        ]
        stores = [int(r[0]) for r in conn.execute("select store_id from stores order by 1")]
        items = [
            (int(r[0]), float(r[1]), float(r[2]))
            for r in conn.execute(
                "select item_id, unit_price, frequency from item_master order by 1"
            )
        ]
    return ReferenceMix(customers, methods, stores, items)


class OrderPlanner:
    """Draws order bodies from a ReferenceMix; deterministic for a seed."""

    def __init__(self, mix: ReferenceMix, seed: int = 0, qualify_share: float = 0.10) -> None:
        import numpy as np

        problems = mix.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.mix = mix
        self.rng = np.random.default_rng(seed)
        self.qualify_share = qualify_share
        self.item_ids = np.array([i[0] for i in mix.items], dtype=np.int64)
        self.item_prices = np.array([i[1] for i in mix.items])
        weights = np.array([i[2] for i in mix.items], dtype=np.float64)
        self.item_p = weights / weights.sum()
        self.customer_ids = [c for c, _ in mix.customers]
        self.diamond = [c for c, tier in mix.customers if tier == "diamond"]
        self.acb = [
            p
            for p, method, bank in mix.payment_methods
            if method == "bank_transfer" and bank == SUGGESTION_BANK
        ]
        by_method: dict[str, list[int]] = {}
        for pid, method, _ in mix.payment_methods:
            by_method.setdefault(method, []).append(pid)
        self.methods = [m for m in METHOD_WEIGHTS if m in by_method]
        self.by_method = by_method
        mw = np.array([METHOD_WEIGHTS[m] for m in self.methods])
        self.method_p = mw / mw.sum()

    def _pick(self, values: list[int]) -> int:
        return int(values[int(self.rng.integers(len(values)))])

    def _discount(self, price: float) -> dict[str, Any] | None:
        draw = self.rng.random()
        if draw < 0.85:
            return None
        if draw < 0.97:
            return {"type": "percentage", "value": int(self.rng.choice(PERCENT_DISCOUNTS))}
        value = round(float(self.rng.uniform(0.0005, 0.003)), 4)  # x1000 -> 0.50-3.00 off
        return {"type": "fixed_amount", "value": value} if value * 1000 < price else None

    def next_order(self) -> tuple[dict[str, Any], bool]:
        """One order body, and whether it was steered to qualify for a suggestion."""
        steer = bool(self.diamond and self.acb and self.rng.random() < self.qualify_share)
        if steer:
            customer, payment = self._pick(self.diamond), self._pick(self.acb)
        else:
            customer = self._pick(self.customer_ids)
            method = self.methods[int(self.rng.choice(len(self.methods), p=self.method_p))]
            payment = self._pick(self.by_method[method])
        size = min(int(self.rng.choice(BASKET_SIZES, p=BASKET_WEIGHTS)), len(self.item_ids))
        picks = self.rng.choice(len(self.item_ids), size=size, replace=False, p=self.item_p)
        products = []
        for index in picks:
            quantity = 1 if self.rng.random() < 0.8 else int(self.rng.integers(2, 5))
            line: dict[str, Any] = {"product_id": int(self.item_ids[index]), "quantity": quantity}
            discount = self._discount(float(self.item_prices[index]))
            if discount:
                line["discount"] = discount
            products.append(line)
        body = {
            "customer_id": customer,
            "payment_method_id": payment,
            "store_id": self._pick(self.mix.stores),
            "products": products,
        }
        return body, steer


def qualifies(body: dict[str, Any], mix: ReferenceMix) -> bool:
    """The suggestion rule's condition (diamond customer, bank transfer with ACB)."""
    tiers = dict(mix.customers)
    methods = {p: (m, b) for p, m, b in mix.payment_methods}
    return tiers.get(body["customer_id"]) == "diamond" and methods.get(
        body["payment_method_id"]
    ) == ("bank_transfer", SUGGESTION_BANK)


@dataclass
class GenerateResult:
    posted: int = 0
    rejected: int = 0
    failed: int = 0
    qualifying: int = 0
    lines: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    order_ids: list[int] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        return {
            "posted": self.posted,
            "rejected": self.rejected,
            "failed": self.failed,
            "qualifying": self.qualifying,
            "lines": self.lines,
            "seconds": round(self.seconds, 2),
            "rate_per_s": round(self.posted / self.seconds, 1) if self.seconds else 0.0,
            "post_p50_ms": round(self.percentile(50), 2),
            "post_p99_ms": round(self.percentile(99), 2),
        }


Progress = Callable[[GenerateResult, int], None]


def print_progress(result: GenerateResult, total: int) -> None:
    done = result.posted + result.rejected + result.failed
    rate = result.posted / result.seconds if result.seconds else 0.0
    sys.stderr.write(
        f"\r  orders {done}/{total}  {rate:6.1f}/s  qualifying {result.qualifying}"
        f"  rejected {result.rejected}  failed {result.failed}   "
    )
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def generate(
    api_url: str,
    mix: ReferenceMix,
    *,
    count: int,
    rate: float,
    seed: int = 0,
    qualify_share: float = 0.10,
    progress: Progress | None = None,
) -> GenerateResult:
    """POST ``count`` orders at most ``rate`` per second (0 = as fast as one client can)."""
    import httpx

    planner = OrderPlanner(mix, seed=seed, qualify_share=qualify_share)
    result = GenerateResult()
    start = time.perf_counter()
    last_report = 0.0
    with httpx.Client(base_url=api_url, timeout=10) as client:
        for i in range(count):
            if rate > 0:
                wait = start + i / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            body, _ = planner.next_order()
            t0 = time.perf_counter()
            try:
                response = client.post("/api/v1/orders", json=body)
            except httpx.HTTPError:
                result.failed += 1
                continue
            result.latencies_ms.append((time.perf_counter() - t0) * 1000)
            if response.status_code == 201:
                result.posted += 1
                result.lines += len(body["products"])
                result.order_ids.append(int(response.json()["order_id"]))
                result.qualifying += qualifies(body, mix)
            elif 400 <= response.status_code < 500:
                result.rejected += 1  # e.g. an item deleted by churn since the mix was loaded
            else:
                result.failed += 1
            result.seconds = time.perf_counter() - start
            if progress and (result.seconds - last_report > 0.5 or i == count - 1):
                progress(result, count)
                last_report = result.seconds
    result.seconds = time.perf_counter() - start
    return result
