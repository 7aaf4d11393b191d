"""Deterministic reference data for the OLTP database, and its idempotent load.

Everything comes from one base seed: the numeric attributes from numpy generators (one stream per
table, so adding a column to one table does not move another), names and street addresses from
Faker seeded the same way. Faker is used only here, for a few thousand rows, never per scan.

The columns are exactly those of ``sql/oltp/001_reference.sql``. Every seeded row carries
``updated_at = REFERENCE_VALID_FROM``, a fixed instant long before any generated scan, so the
first version of each row is valid for all of history (the warehouse's SCD2 starts there).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from tillflow.domain.generation import DEFAULT_SEED
from tillflow.domain.generation.catalog_words import ADJECTIVES, CATEGORIES, SIZES
from tillflow.domain.generation.places import CITIES, ZONE_STORE_COUNTS, ZONES

if TYPE_CHECKING:
    import numpy as np

REFERENCE_VALID_FROM: Final = datetime(2020, 1, 1, tzinfo=UTC)
N_STORES: Final = sum(ZONE_STORE_COUNTS.values())
ITEMS_PER_CATEGORY: Final = 1000
N_ITEMS: Final = ITEMS_PER_CATEGORY * len(CATEGORIES)
N_CUSTOMERS: Final = 10_000
CHECKSTANDS: Final = 10
#: Share of the seeded items that are on clearance: listed, never scanned, first to be deleted.
CLEARANCE_SHARE: Final = 0.02
TIERS: Final = ("regular", "silver", "gold", "diamond")
TIER_SHARES: Final = (0.70, 0.17, 0.10, 0.03)

#: (method, bank, display name); ids are 1.. in this order.
PAYMENT_METHODS: Final[tuple[tuple[str, str | None, str], ...]] = (
    ("cash", None, "Cash"),
    ("credit_card", None, "Visa credit card"),
    ("credit_card", None, "Mastercard credit card"),
    ("credit_card", None, "American Express"),
    ("e_wallet", None, "Apple Pay"),
    ("e_wallet", None, "Google Pay"),
    ("e_wallet", None, "PayPal"),
    ("bank_transfer", "ACB", "Bank transfer (ACB)"),
    ("bank_transfer", "Vietcombank", "Bank transfer (Vietcombank)"),
    ("bank_transfer", "Techcombank", "Bank transfer (Techcombank)"),
    ("bank_transfer", "Chase", "Bank transfer (Chase)"),
    ("bank_transfer", "Wells Fargo", "Bank transfer (Wells Fargo)"),
)

#: Table -> its columns, in load order (parents before children).
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "item_categories": ("category_id", "name", "updated_at"),
    "stores": tuple(
        [
            "store_id",
            "name",
            "address",
            "city",
            "state",
            "postal_code",
            "latitude",
            "longitude",
            "timezone",
            "checkstands",
            "opened_on",
            "updated_at",
        ]
    ),
    "item_master": (
        "item_id",
        "upc",
        "name",
        "category_id",
        "unit_price",
        "frequency",
        "updated_at",
    ),
    "customers": ("customer_id", "name", "email", "tier", "updated_at"),
    "payment_methods": ("payment_method_id", "method", "bank", "name", "updated_at"),
}


def rng(seed: int, stream: str, *more: int) -> np.random.Generator:
    """A numpy generator for one named stream of one seed (stable across runs and machines)."""
    import numpy as np

    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _tag(stream), *more])))


def _tag(stream: str) -> int:
    return zlib.crc32(stream.encode())


@dataclass(frozen=True)
class StoreNumbers:
    """The numeric part of the stores: what the scan generator needs (no Faker)."""

    store_id: np.ndarray  # int32, 1..N
    zone_code: np.ndarray  # int8 index into places.ZONES
    city_index: np.ndarray  # int16 index into CITIES[zone]


@dataclass(frozen=True)
class ItemNumbers:
    """The numeric part of the item master: what the scan generator needs (no Faker)."""

    item_id: np.ndarray  # int32, 1..N
    category_id: np.ndarray  # int32, 1..32
    unit_price_cents: np.ndarray  # int64
    frequency: np.ndarray  # float64 > 0, relative sales weight
    clearance: np.ndarray  # bool: listed but never scanned; churn deletes these first


def store_numbers(seed: int = DEFAULT_SEED) -> StoreNumbers:
    """Zones in the chain's exact proportions, shuffled over store ids; a real city in each."""
    import numpy as np

    r = rng(seed, "stores")
    codes = np.repeat(np.arange(len(ZONES), dtype=np.int8), list(ZONE_STORE_COUNTS.values()))
    r.shuffle(codes)
    n_cities = np.array([len(CITIES[z]) for z in ZONES])
    # Bigger cities first: a Zipf-like weight on the city's position in its list.
    u = r.random(len(codes))
    city = np.floor(n_cities[codes] * u**1.6).astype(np.int16)
    return StoreNumbers(np.arange(1, len(codes) + 1, dtype=np.int32), codes, city)


def item_numbers(seed: int = DEFAULT_SEED) -> ItemNumbers:
    import numpy as np

    r = rng(seed, "items")
    n_cat = len(CATEGORIES)
    category = np.repeat(np.arange(1, n_cat + 1, dtype=np.int32), ITEMS_PER_CATEGORY)
    r.shuffle(category)
    median = np.array([c[1] for c in CATEGORIES])[category - 1]
    price = median * r.lognormal(0.0, 0.45, category.size)
    # Retail price points: x.49 or x.99, at least 0.29.
    cents = np.maximum(np.round(price * 2) * 50 - 1, 29).astype(np.int64)
    popularity = r.lognormal(0.0, 0.5, n_cat)[category - 1]
    frequency = popularity * r.lognormal(0.0, 1.0, category.size)
    clearance = np.zeros(category.size, dtype=bool)
    clearance[r.choice(category.size, int(category.size * CLEARANCE_SHARE), replace=False)] = True
    frequency[clearance] *= 0.05
    return ItemNumbers(
        item_id=np.arange(1, category.size + 1, dtype=np.int32),
        category_id=category,
        unit_price_cents=cents,
        frequency=frequency,
        clearance=clearance,
    )


def upc_check_digit(body: np.ndarray) -> np.ndarray:
    """UPC-A check digits for 11-digit bodies (int64 array)."""
    import numpy as np

    digits = (body[:, None] // 10 ** np.arange(10, -1, -1)) % 10
    odd = digits[:, 0::2].sum(axis=1)  # positions 1, 3, ..., 11
    even = digits[:, 1::2].sum(axis=1)
    return np.asarray((10 - (odd * 3 + even) % 10) % 10)


def make_upcs(r: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct valid 12-digit UPC-A codes."""
    import numpy as np

    draws = r.integers(10**10, 10**11, size=n + n // 4 + 16)
    _, first = np.unique(draws, return_index=True)
    body = draws[np.sort(first)][:n]
    if body.size < n:  # practically impossible with 1e11 possibilities
        raise RuntimeError("could not draw enough distinct UPCs")
    full = body * 10 + upc_check_digit(body)
    return [f"{v:012d}" for v in full.tolist()]


@dataclass(frozen=True)
class Reference:
    """All reference rows, as tuples in ``COLUMNS`` order."""

    tables: dict[str, list[tuple[Any, ...]]]

    def counts(self) -> dict[str, int]:
        return {t: len(rows) for t, rows in self.tables.items()}


def _faker(seed: int, stream: str) -> Any:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed ^ _tag(stream))
    return fake


def _stores(seed: int) -> list[tuple[Any, ...]]:
    nums = store_numbers(seed)
    r = rng(seed, "stores.places")
    fake = _faker(seed, "stores")
    jitter = r.normal(0.0, 0.06, size=(nums.store_id.size, 2))
    opened = r.integers(0, (date(2019, 12, 31) - date(1985, 1, 1)).days, nums.store_id.size)
    per_city: dict[tuple[str, str], int] = {}
    rows: list[tuple[Any, ...]] = []
    for i, store_id in enumerate(nums.store_id.tolist()):
        zone = ZONES[int(nums.zone_code[i])]
        city = CITIES[zone][int(nums.city_index[i])]
        n = per_city[(city.name, city.state)] = per_city.get((city.name, city.state), 0) + 1
        rows.append(
            (
                store_id,
                f"Tillflow {city.name} #{n}",
                fake.street_address(),
                city.name,
                city.state,
                fake.postcode_in_state(city.state),
                f"{city.latitude + jitter[i, 0]:.6f}",
                f"{city.longitude + jitter[i, 1]:.6f}",
                zone,
                CHECKSTANDS,
                date(1985, 1, 1) + timedelta(days=int(opened[i])),
                REFERENCE_VALID_FROM,
            )
        )
    return rows


def item_names(fake: Any, r: np.random.Generator, category_ids: np.ndarray) -> list[str]:
    """Plausible product names: brand, adjective, a noun of the category, a pack size."""
    brands = [fake.unique.last_name() for _ in range(400)]
    n = category_ids.size
    b = r.integers(0, len(brands), n).tolist()
    a = r.integers(0, len(ADJECTIVES), n).tolist()
    s = r.integers(0, 1 << 30, n).tolist()
    w = r.integers(0, 1 << 30, n).tolist()
    names = []
    for i, cat in enumerate(category_ids.tolist()):
        _, _, nouns, family = CATEGORIES[cat - 1]
        sizes = SIZES[family]
        noun, size = nouns[w[i] % len(nouns)], sizes[s[i] % len(sizes)]
        names.append(f"{brands[b[i]]} {ADJECTIVES[a[i]]} {noun} {size}")
    return names


def _items(seed: int) -> list[tuple[Any, ...]]:
    nums = item_numbers(seed)
    r = rng(seed, "items.names")
    names = item_names(_faker(seed, "items"), r, nums.category_id)
    upcs = make_upcs(r, nums.item_id.size)
    return [
        (iid, upc, name, cat, f"{cents / 100:.2f}", freq, REFERENCE_VALID_FROM)
        for iid, upc, name, cat, cents, freq in zip(
            nums.item_id.tolist(),
            upcs,
            names,
            nums.category_id.tolist(),
            nums.unit_price_cents.tolist(),
            nums.frequency.tolist(),
            strict=True,
        )
    ]


def _customers(seed: int) -> list[tuple[Any, ...]]:
    import numpy as np

    r = rng(seed, "customers")
    fake = _faker(seed, "customers")
    tiers = r.choice(len(TIERS), size=N_CUSTOMERS, p=np.array(TIER_SHARES))
    rows: list[tuple[Any, ...]] = []
    for cid, tier in zip(range(1, N_CUSTOMERS + 1), tiers.tolist(), strict=True):
        first, last = fake.first_name(), fake.last_name()
        local = "".join(ch for ch in f"{first}.{last}".lower() if ch.isalnum() or ch == ".")
        email = f"{local}.{cid}@{fake.safe_domain_name()}"
        rows.append((cid, f"{first} {last}", email, TIERS[tier], REFERENCE_VALID_FROM))
    return rows


def build_reference(seed: int = DEFAULT_SEED) -> Reference:
    """Every reference row of the seed (about two seconds, mostly Faker)."""
    categories = [(i, c[0], REFERENCE_VALID_FROM) for i, c in enumerate(CATEGORIES, start=1)]
    payments = [
        (i, method, bank, name, REFERENCE_VALID_FROM)
        for i, (method, bank, name) in enumerate(PAYMENT_METHODS, start=1)
    ]
    return Reference(
        {
            "item_categories": categories,
            "stores": _stores(seed),
            "item_master": _items(seed),
            "customers": _customers(seed),
            "payment_methods": payments,
        }
    )
