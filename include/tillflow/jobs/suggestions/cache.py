"""Redis caches of what the rule needs, one Lua call per order, and their upkeep.

Keys (all under a prefix, ``tillflow:sugg`` by default, so tests and the bench use their own):

===========================  ======  ==========================================================
``<p>:products``             hash    item_id -> ``"<category_id>|<unit_price>"``
``<p>:popular:<category>``   zset    item_id scored by ``item_master.frequency``
``<p>:popular:all``          zset    every item_id scored by frequency (the fallback list)
``<p>:diamond``              set     customer ids of diamond tier
``<p>:acb``                  set     payment method ids that are bank transfers with bank ACB
``<p>:known:customers``      bitmap  bit id = 1: the customer's tier is cached (else: a miss)
``<p>:known:payment_methods`` bitmap  likewise for payment methods
``<p>:loaded``               string  set when a full load from the database completed
===========================  ======  ==========================================================

A set alone cannot tell "not diamond" from "not cached", hence the ``known`` bitmaps: a customer
or payment method whose bit is 0, a product missing from the hash, or a missing ``loaded`` key
is a *miss*: it is read from the OLTP database and the cache is repaired before deciding.

The whole lookup of one order is one Lua script (one round trip; docs/environment.md: p50 113 us):
it returns early when the order does not qualify, else the anchor product's category and only
the *eligible* candidates with their prices: the first ``PICK_AMONG`` products of the category's
top-k that are not in the order (the order's product ids are passed in) and have a price, or,
when there are none, those of the catalogue's top-k. The rule's ``choose_product`` picks among
them exactly as among the unfiltered lists, and replies stay a few elements long. The script builds the
``popular:<category>`` key name itself, so it needs a single Redis node (not Redis Cluster).

CDC upkeep: ``apply_changes`` applies Debezium changes of item_master, customers and
payment_methods (upserts and deletes; a category change moves the item between popularity sets).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tillflow.domain.suggestions.events import Change, decimal_of
from tillflow.domain.suggestions.rule import (
    NOT_QUALIFYING,
    PICK_AMONG,
    Candidate,
    Facts,
    Order,
    anchor_line,
    is_acb_bank_transfer,
    is_diamond,
)

if TYPE_CHECKING:
    import psycopg
    import redis

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "tillflow:sugg"
#: Tables whose CDC topics keep the cache fresh.
CDC_TABLES = ("item_master", "customers", "payment_methods")

_LOOKUP_LUA = """
-- KEYS: 1 loaded, 2 known customers, 3 known payment methods, 4 diamond, 5 acb, 6 products,
--       7 popular:all
-- ARGV: 1 customer_id, 2 payment_method_id, 3 anchor item_id, 4 depth, 5 popular key prefix,
--       6 pick among, 7.. the order's product ids
-- Returns {status, category, n, id, 'cat|price', ...}: the first `pick among` eligible products
-- (not in the order, price > 0) of the top `depth` of the anchor's category (n of them), and,
-- only when there are none, those of the top `depth` of the catalogue.
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local kc = redis.call('GETBIT', KEYS[2], ARGV[1])
local kp = redis.call('GETBIT', KEYS[3], ARGV[2])
if kc == 0 or kp == 0 then return {-2, kc, kp} end
if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0 then return {0} end
if redis.call('SISMEMBER', KEYS[5], ARGV[2]) == 0 then return {0} end
local depth = tonumber(ARGV[4])
local pick = tonumber(ARGV[6])
local taken = {}
for i = 7, #ARGV do taken[ARGV[i]] = true end
local out = {1, '', 0}
local function eligible(ids)
  local n = 0
  for _, id in ipairs(ids) do
    if not taken[id] then
      local v = redis.call('HGET', KEYS[6], id)
      if v then
        local sep = string.find(v, '|', 1, true)
        local price = tonumber(string.sub(v, sep + 1))
        if price and price > 0 then
          out[#out + 1] = id; out[#out + 1] = v; n = n + 1
          if n == pick then break end
        end
      end
    end
  end
  return n
end
local anchor = redis.call('HGET', KEYS[6], ARGV[3])
if anchor then
  local sep = string.find(anchor, '|', 1, true)
  out[2] = string.sub(anchor, 1, sep - 1)
  out[3] = eligible(redis.call('ZREVRANGE', ARGV[5] .. out[2], 0, depth - 1))
end
if out[3] == 0 then eligible(redis.call('ZREVRANGE', KEYS[7], 0, depth - 1)) end
return out
"""

_UPSERT_PRODUCT_LUA = """
-- KEYS: 1 products, 2 popular:all; ARGV: 1 id, 2 category, 3 price, 4 frequency, 5 prefix
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local cat = string.sub(old, 1, string.find(old, '|', 1, true) - 1)
  if cat ~= ARGV[2] then redis.call('ZREM', ARGV[5] .. cat, ARGV[1]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
redis.call('ZADD', ARGV[5] .. ARGV[2], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
"""

_DELETE_PRODUCT_LUA = """
-- KEYS: 1 products, 2 popular:all; ARGV: 1 id, 2 prefix
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local cat = string.sub(old, 1, string.find(old, '|', 1, true) - 1)
  redis.call('ZREM', ARGV[2] .. cat, ARGV[1])
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class Keys:
    prefix: str = DEFAULT_PREFIX

    @property
    def products(self) -> str:
        return f"{self.prefix}:products"

    @property
    def popular_prefix(self) -> str:
        return f"{self.prefix}:popular:"

    def popular(self, category_id: int | str) -> str:
        return f"{self.popular_prefix}{category_id}"

    @property
    def popular_all(self) -> str:
        return f"{self.prefix}:popular:all"

    @property
    def diamond(self) -> str:
        return f"{self.prefix}:diamond"

    @property
    def acb(self) -> str:
        return f"{self.prefix}:acb"

    @property
    def known_customers(self) -> str:
        return f"{self.prefix}:known:customers"

    @property
    def known_payment_methods(self) -> str:
        return f"{self.prefix}:known:payment_methods"

    @property
    def loaded(self) -> str:
        return f"{self.prefix}:loaded"

    @property
    def load_lock(self) -> str:
        return f"{self.prefix}:load-lock"


@dataclass(frozen=True)
class LoadStats:
    products: int
    customers: int
    diamond: int
    payment_methods: int
    acb: int
    seconds: float


def _bitmap(ids: Iterable[int]) -> bytes:
    """A Redis bitmap (bit 0 = the most significant bit of byte 0) with the given bits set."""
    ids = list(ids)
    if not ids:
        return b""
    data = bytearray(max(ids) // 8 + 1)
    for i in ids:
        data[i >> 3] |= 0x80 >> (i & 7)
    return bytes(data)


def _candidates(flat: Sequence[Any]) -> tuple[Candidate, ...]:
    out: list[Candidate] = []
    for i in range(0, len(flat) - 1, 2):
        product_id = int(flat[i])
        category, _, price = _text(flat[i + 1]).partition("|")
        out.append(Candidate(product_id, int(category), Decimal(price)))
    return tuple(out)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SuggestionCache:
    """The caches in Redis, with the OLTP database behind them for loads and misses."""

    def __init__(self, client: redis.Redis, oltp_dsn: str, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.oltp_dsn = oltp_dsn
        self.keys = Keys(prefix)
        self._lookup = client.register_script(_LOOKUP_LUA)
        self._upsert = client.register_script(_UPSERT_PRODUCT_LUA)
        self._delete = client.register_script(_DELETE_PRODUCT_LUA)
        self._conn: psycopg.Connection[Any] | None = None
        #: counters for the service's log line
        self.misses = 0
        self.loads = 0

    @classmethod
    def connect(
        cls, host: str, port: int, oltp_dsn: str, prefix: str = DEFAULT_PREFIX
    ) -> SuggestionCache:
        import redis

        return cls(redis.Redis(host=host, port=port), oltp_dsn, prefix)

    # --- database side ------------------------------------------------------------------------
    def _db(self) -> psycopg.Connection[Any]:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.oltp_dsn, autocommit=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- full load ----------------------------------------------------------------------------
    def is_loaded(self) -> bool:
        return bool(self.client.exists(self.keys.loaded))

    def ensure_loaded(self, timeout: float = 120.0) -> LoadStats | None:
        """Load from the database unless loaded; one loader at a time (others wait)."""
        deadline = time.monotonic() + timeout
        while not self.is_loaded():
            if self.client.set(self.keys.load_lock, "1", nx=True, ex=int(timeout)):
                try:
                    return self.load()
                finally:
                    self.client.delete(self.keys.load_lock)
            if time.monotonic() > deadline:
                raise TimeoutError("another process holds the cache load lock for too long")
            time.sleep(0.1)
        return None

    def load(self) -> LoadStats:
        """Replace the caches by the database's current state, atomically (one MULTI/EXEC)."""
        t0 = time.monotonic()
        db = self._db()
        with db.transaction():  # one snapshot for the three tables
            db.execute("set transaction isolation level repeatable read")
            items = db.execute(
                "select item_id, category_id, unit_price, frequency from item_master"
            ).fetchall()
            customers = db.execute("select customer_id, tier from customers").fetchall()
            methods = db.execute(
                "select payment_method_id, method, bank from payment_methods"
            ).fetchall()
        k = self.keys
        stale = list(self.client.scan_iter(match=f"{k.popular_prefix}*", count=1000))
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(
            k.products, k.popular_all, k.diamond, k.acb, k.known_customers,
            k.known_payment_methods, *stale,
        )  # fmt: skip
        by_category: dict[int, dict[str, float]] = {}
        products: dict[str, str] = {}
        popularity: dict[str, float] = {}
        for item_id, category_id, price, frequency in items:
            products[str(item_id)] = f"{category_id}|{price}"
            popularity[str(item_id)] = float(frequency)
            by_category.setdefault(int(category_id), {})[str(item_id)] = float(frequency)
        for chunk in _chunks(list(products.items()), 5000):
            pipe.hset(k.products, mapping=dict(chunk))
        for chunk in _chunks(list(popularity.items()), 5000):
            pipe.zadd(k.popular_all, dict(chunk))
        for category_id, members in by_category.items():
            pipe.zadd(k.popular(category_id), members)
        diamond = [int(cid) for cid, tier in customers if is_diamond(tier)]
        for chunk in _chunks(diamond, 5000):
            pipe.sadd(k.diamond, *chunk)
        acb = [int(pid) for pid, method, bank in methods if is_acb_bank_transfer(method, bank)]
        for chunk in _chunks(acb, 5000):
            pipe.sadd(k.acb, *chunk)
        pipe.set(k.known_customers, _bitmap(int(c[0]) for c in customers))
        pipe.set(k.known_payment_methods, _bitmap(int(m[0]) for m in methods))
        pipe.set(k.loaded, str(time.time()))
        pipe.execute()
        self.loads += 1
        stats = LoadStats(
            products=len(items),
            customers=len(customers),
            diamond=len(diamond),
            payment_methods=len(methods),
            acb=len(acb),
            seconds=time.monotonic() - t0,
        )
        log.info("cache loaded from OLTP: %s", stats)
        return stats

    # --- lookups ------------------------------------------------------------------------------
    def _lookup_args(self, order: Order) -> tuple[list[str], list[Any]] | None:
        anchor = anchor_line(order)
        if anchor is None:
            return None
        k = self.keys
        keys = [
            k.loaded, k.known_customers, k.known_payment_methods, k.diamond, k.acb,
            k.products, k.popular_all,
        ]  # fmt: skip
        depth = len(order.lines) + PICK_AMONG
        args = [order.customer_id, order.payment_method_id, anchor.product_id, depth]
        return keys, [*args, k.popular_prefix, PICK_AMONG, *sorted(order.product_ids)]

    def facts_many(self, orders: Sequence[Order]) -> list[Facts]:
        """The facts of each order: one pipelined round trip for the whole batch (plus one per
        batch with misses, after repairing the cache from the database)."""
        results: list[Facts | None] = [None] * len(orders)
        pending = list(range(len(orders)))
        anchor_repaired: set[int] = set()
        for attempt in range(3):
            if not pending:
                break
            pipe = self.client.pipeline(transaction=False)
            asked: list[int] = []
            for i in pending:
                call = self._lookup_args(orders[i])
                if call is None:
                    results[i] = NOT_QUALIFYING
                    continue
                self._lookup(keys=call[0], args=call[1], client=pipe)
                asked.append(i)
            replies = pipe.execute() if asked else []
            pending = []
            misses: list[tuple[int, list[Any]]] = []
            for i, reply in zip(asked, replies, strict=True):
                status = int(reply[0])
                # A qualifying order whose anchor product is not cached (reply[1] == '') is a
                # miss once; if the database does not know the product either, the fallback
                # list alone is used.
                anchor_missing = status == 1 and _text(reply[1]) == ""
                if status < 0 or (anchor_missing and i not in anchor_repaired):
                    if anchor_missing:
                        anchor_repaired.add(i)
                    misses.append((i, reply))
                else:
                    results[i] = self._facts(reply)
            if misses:
                if attempt == 2:
                    raise RuntimeError(f"cache still missing after repair: {misses[:3]}")
                self._repair([orders[i] for i, _ in misses], [r for _, r in misses])
                pending = [i for i, _ in misses]
        return [r if r is not None else NOT_QUALIFYING for r in results]

    def facts(self, order: Order) -> Facts:
        return self.facts_many([order])[0]

    @staticmethod
    def _facts(reply: Sequence[Any]) -> Facts:
        if int(reply[0]) == 0:
            return NOT_QUALIFYING
        n = int(reply[2])
        flat = reply[3:]
        return Facts(
            customer_is_diamond=True,
            payment_is_acb_transfer=True,
            category_candidates=_candidates(flat[: 2 * n]),
            fallback_candidates=_candidates(flat[2 * n :]),
        )

    def _repair(self, orders: Sequence[Order], replies: Sequence[Sequence[Any]]) -> None:
        """Read what the cache missed from the database and write it to the cache."""
        self.misses += len(orders)
        if any(int(r[0]) == -1 for r in replies):
            self.ensure_loaded()
            return
        customers: set[int] = set()
        methods: set[int] = set()
        products: set[int] = set()
        for order, reply in zip(orders, replies, strict=True):
            if int(reply[0]) == 1:
                anchor = anchor_line(order)
                if anchor is not None:
                    products.add(anchor.product_id)
                continue
            if int(reply[1]) == 0:
                customers.add(order.customer_id)
            if int(reply[2]) == 0:
                methods.add(order.payment_method_id)
        if products:
            self.repair_products(sorted(products))
        db = self._db()
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        if customers:
            found = dict(
                db.execute(
                    "select customer_id, tier from customers where customer_id = any(%s)",
                    (sorted(customers),),
                ).fetchall()
            )
            for cid in customers:  # a customer absent from the database is cached as "not"
                (pipe.sadd if is_diamond(found.get(cid)) else pipe.srem)(k.diamond, cid)
                pipe.setbit(k.known_customers, cid, 1)
        if methods:
            rows = db.execute(
                "select payment_method_id, method, bank from payment_methods"
                " where payment_method_id = any(%s)",
                (sorted(methods),),
            ).fetchall()
            acb = {int(r[0]) for r in rows if is_acb_bank_transfer(r[1], r[2])}
            for pid in methods:
                (pipe.sadd if pid in acb else pipe.srem)(k.acb, pid)
                pipe.setbit(k.known_payment_methods, pid, 1)
        pipe.execute()

    def repair_products(self, product_ids: Sequence[int]) -> int:
        """Cache these products from the database (a product missing from the hash)."""
        rows = (
            self._db()
            .execute(
                "select item_id, category_id, unit_price, frequency from item_master"
                " where item_id = any(%s)",
                (list(product_ids),),
            )
            .fetchall()
        )
        pipe = self.client.pipeline(transaction=False)
        for item_id, category_id, price, frequency in rows:
            self._upsert(
                keys=[self.keys.products, self.keys.popular_all],
                args=[item_id, category_id, str(price), float(frequency), self.keys.popular_prefix],
                client=pipe,
            )
        pipe.execute()
        return len(rows)

    # --- CDC upkeep ---------------------------------------------------------------------------
    def apply_changes(self, changes: Iterable[tuple[str, Change]]) -> int:
        """Apply (table, change) pairs in one pipeline; return how many were applied."""
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        applied = 0
        for table, change in changes:
            row: Mapping[str, Any] | None = change.after
            old = change.before
            if table == "item_master":
                if row is not None:
                    self._upsert(
                        keys=[k.products, k.popular_all],
                        args=[
                            int(row["item_id"]),
                            int(row["category_id"]),
                            format(decimal_of(row["unit_price"]), "f"),
                            float(row["frequency"]),
                            k.popular_prefix,
                        ],
                        client=pipe,
                    )
                elif old is not None:
                    self._delete(
                        keys=[k.products, k.popular_all],
                        args=[int(old["item_id"]), k.popular_prefix],
                        client=pipe,
                    )
                else:
                    continue
            elif table == "customers":
                if row is not None:
                    cid = int(row["customer_id"])
                    (pipe.sadd if is_diamond(row.get("tier")) else pipe.srem)(k.diamond, cid)
                    pipe.setbit(k.known_customers, cid, 1)
                elif old is not None:
                    pipe.srem(k.diamond, int(old["customer_id"]))
                else:
                    continue
            elif table == "payment_methods":
                if row is not None:
                    pid = int(row["payment_method_id"])
                    acb = is_acb_bank_transfer(row.get("method"), row.get("bank"))
                    (pipe.sadd if acb else pipe.srem)(k.acb, pid)
                    pipe.setbit(k.known_payment_methods, pid, 1)
                elif old is not None:
                    pipe.srem(k.acb, int(old["payment_method_id"]))
                else:
                    continue
            else:
                continue
            applied += 1
        if applied:
            pipe.execute()
        return applied

    def drop(self) -> None:
        """Delete every key under the prefix (tests and the bench use their own prefix)."""
        keys = list(self.client.scan_iter(match=f"{self.keys.prefix}:*", count=1000))
        if keys:
            self.client.delete(*keys)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
