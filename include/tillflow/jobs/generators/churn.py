"""Item-master churn and customer tier changes, written to the OLTP database (CDC captures them).

One run stands for one UTC hour (its *slot*) and is deterministic per (seed, slot): a price
change of +10 % or -10 % on every item of one category, a few new items, a few deletions, and
some customers moving one tier up or down. Each slot is applied at most once: the run records
itself in ``generator_runs`` in the same transaction as its changes, so a retry or a re-run of the
same slot changes nothing.

Deletions take clearance items first (seeded items that the scan generator never scans), then the
oldest items that churn inserted, and never an item an order line refers to. So no generated scan
ever names a deleted item, and a regenerated history stays consistent with the item master.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from tillflow.domain.generation import DEFAULT_SEED
from tillflow.domain.generation.catalog_words import CATEGORIES
from tillflow.domain.generation.reference import (
    REFERENCE_VALID_FROM,
    TIERS,
    _faker,
    item_names,
    item_numbers,
    make_upcs,
    rng,
)

#: Items inserted by churn get ids from here on: slot number x INSERTS_PER_RUN + k.
CHURN_ITEM_ID_BASE: Final = 1_000_000
INSERTS_PER_RUN: Final = 5
DELETES_PER_RUN: Final = 3
TIER_CHANGES_PER_RUN: Final = 20
PRICE_FACTORS: Final = (0.90, 1.10)


def slot_of(at: datetime) -> datetime:
    """The UTC hour a churn run at ``at`` stands for."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def slot_number(slot: datetime) -> int:
    hours = int((slot - REFERENCE_VALID_FROM) / timedelta(hours=1))
    if hours < 0:
        raise ValueError(f"churn slots start at {REFERENCE_VALID_FROM.isoformat()}")
    return hours


@dataclass(frozen=True)
class NewItem:
    item_id: int
    upc: str
    name: str
    category_id: int
    unit_price: str
    frequency: float


@dataclass(frozen=True)
class ItemChurnPlan:
    slot: datetime
    category_id: int
    factor: float
    new_items: tuple[NewItem, ...]
    deletes: int


def plan_item_churn(seed: int, at: datetime) -> ItemChurnPlan:
    """What the run of ``at``'s slot does to the item master (pure)."""
    import numpy as np

    slot = slot_of(at)
    number = slot_number(slot)
    r = rng(seed, "churn.items", number)
    category = int(r.integers(1, len(CATEGORIES) + 1))
    factor = float(PRICE_FACTORS[int(r.integers(0, len(PRICE_FACTORS)))])
    cats = r.integers(1, len(CATEGORIES) + 1, INSERTS_PER_RUN).astype(np.int32)
    medians = np.array([c[1] for c in CATEGORIES])[cats - 1]
    cents = np.maximum(np.round(medians * r.lognormal(0, 0.45, cats.size) * 2) * 50 - 1, 29)
    freq = r.lognormal(0.0, 1.0, cats.size)
    names = item_names(_faker(seed ^ number, "churn.items"), r, cats)
    upcs = make_upcs(r, cats.size)
    first_id = CHURN_ITEM_ID_BASE + number * INSERTS_PER_RUN
    new = tuple(
        NewItem(
            first_id + k, upcs[k], names[k], int(cats[k]), f"{cents[k] / 100:.2f}", float(freq[k])
        )
        for k in range(cats.size)
    )
    return ItemChurnPlan(slot, category, factor, new, DELETES_PER_RUN)


@dataclass(frozen=True)
class ChurnResult:
    kind: str
    slot: str
    applied: bool  # False: this slot had been applied before, nothing changed
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _claim(conn: Any, kind: str, slot: datetime, details: dict[str, Any]) -> bool:
    row = conn.execute(
        "insert into generator_runs (kind, slot, details) values (%s, %s, %s)"
        " on conflict do nothing returning kind",
        (kind, slot, json.dumps(details)),
    ).fetchone()
    return row is not None


def apply_item_churn(dsn: str, at: datetime, seed: int = DEFAULT_SEED) -> ChurnResult:
    """Apply the slot's price change, inserts and deletes in one transaction (once per slot)."""
    import psycopg

    plan = plan_item_churn(seed, at)
    clearance = item_numbers(seed)
    clearance_ids = clearance.item_id[clearance.clearance].tolist()
    change_time = at if at.tzinfo else at.replace(tzinfo=UTC)
    with psycopg.connect(dsn) as conn, conn.transaction():
        details: dict[str, Any] = {"category_id": plan.category_id, "factor": plan.factor}
        if not _claim(conn, "item_churn", plan.slot, details):
            return ChurnResult("item_churn", plan.slot.isoformat(), False, {})
        updated = conn.execute(
            "update item_master set unit_price = greatest(round(unit_price * %s::numeric, 2), 0.01),"
            " updated_at = %s where category_id = %s",
            (plan.factor, change_time, plan.category_id),
        ).rowcount
        inserted = 0
        for item in plan.new_items:
            inserted += conn.execute(
                "insert into item_master"
                " (item_id, upc, name, category_id, unit_price, frequency, updated_at)"
                " values (%s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
                (
                    item.item_id,
                    item.upc,
                    item.name,
                    item.category_id,
                    item.unit_price,
                    item.frequency,
                    change_time,
                ),
            ).rowcount
        has_orders = conn.execute("select to_regclass('order_details') is not null").fetchone()
        referenced = (
            " and not exists (select 1 from order_details d where d.product_id = im.item_id)"
            if has_orders and has_orders[0]
            else ""
        )
        deleted = [
            r[0]
            for r in conn.execute(
                "delete from item_master where item_id in ("
                " select item_id from item_master im"
                " where (item_id = any(%s) or item_id >= %s) and item_id <> all(%s)"
                f"{referenced}"
                " order by (item_id >= %s), item_id limit %s)"
                " returning item_id",
                (
                    clearance_ids,
                    CHURN_ITEM_ID_BASE,
                    [i.item_id for i in plan.new_items],
                    CHURN_ITEM_ID_BASE,
                    plan.deletes,
                ),
            ).fetchall()
        ]
        details |= {"updated": updated, "inserted": inserted, "deleted": sorted(deleted)}
        conn.execute(
            "update generator_runs set details = %s where kind = 'item_churn' and slot = %s",
            (json.dumps(details), plan.slot),
        )
    return ChurnResult("item_churn", plan.slot.isoformat(), True, details)


def plan_tier_changes(
    seed: int, at: datetime, customers: list[tuple[int, str]]
) -> list[tuple[int, str]]:
    """(customer_id, new tier) for the slot: customers chosen from ``customers`` (id, tier),
    each moving one tier up (60 %) or down, staying within regular..diamond (pure)."""
    if not customers:
        return []
    slot = slot_of(at)
    r = rng(seed, "churn.tiers", slot_number(slot))
    ordered = sorted(customers)
    k = min(TIER_CHANGES_PER_RUN, len(ordered))
    picks = r.choice(len(ordered), size=k, replace=False)
    up = r.random(k) < 0.6
    changes = []
    for p, go_up in zip(picks.tolist(), up.tolist(), strict=True):
        cid, tier = ordered[p]
        level = TIERS.index(tier) + (1 if go_up else -1)
        if not 0 <= level < len(TIERS):
            level = TIERS.index(tier) + (-1 if go_up else 1)
        changes.append((cid, TIERS[level]))
    return changes


def apply_tier_changes(dsn: str, at: datetime, seed: int = DEFAULT_SEED) -> ChurnResult:
    """Apply the slot's tier changes in one transaction (once per slot)."""
    import psycopg

    slot = slot_of(at)
    change_time = at if at.tzinfo else at.replace(tzinfo=UTC)
    with psycopg.connect(dsn) as conn, conn.transaction():
        if not _claim(conn, "tier_changes", slot, {}):
            return ChurnResult("tier_changes", slot.isoformat(), False, {})
        customers = [
            (int(r[0]), str(r[1]))
            for r in conn.execute("select customer_id, tier from customers").fetchall()
        ]
        changes = plan_tier_changes(seed, at, customers)
        before = dict(customers)
        with conn.cursor() as cur:
            cur.executemany(
                "update customers set tier = %s, updated_at = %s where customer_id = %s",
                [(tier, change_time, cid) for cid, tier in changes],
            )
        # Who moved, from and to which tier: a customer's tier at any earlier moment follows
        # (the soak drill judges each order by the tier its customer had when it was posted).
        details = {
            "changed": len(changes),
            "to_diamond": sum(t == "diamond" for _, t in changes),
            "changes": [[cid, before[cid], tier] for cid, tier in changes],
        }
        conn.execute(
            "update generator_runs set details = %s where kind = 'tier_changes' and slot = %s",
            (json.dumps(details), slot),
        )
    return ChurnResult("tier_changes", slot.isoformat(), True, details)


def churn(dsn: str, at: datetime, seed: int = DEFAULT_SEED) -> list[ChurnResult]:
    """Item-master churn and tier changes for ``at``'s slot."""
    return [apply_item_churn(dsn, at, seed), apply_tier_changes(dsn, at, seed)]
