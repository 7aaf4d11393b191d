"""The scan model: counts per store and local hour across DST, voids, quantities, determinism."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tillflow.domain.generation import encoding
from tillflow.domain.generation.model import (
    HOURLY_MULTIPLIER,
    Catalog,
    Scans,
    alias_table,
    expected_store_hour,
    scan_id_hex,
    scans_between,
    scans_for_hour,
)
from tillflow.jobs.generators.scans import CountingSink, run_history

pytestmark = pytest.mark.unit

ZONES = ("America/New_York", "America/Phoenix", "Pacific/Honolulu")
SEED = 7


def small_catalog(n_items: int = 500) -> Catalog:
    """Store 1 in New York (DST), store 2 in Phoenix (no DST), store 3 in Honolulu."""
    weights = np.linspace(1.0, 5.0, n_items)
    return Catalog.build(
        np.array([1, 2, 3]), np.array([0, 1, 2]), ZONES, np.arange(1, n_items + 1), weights
    )


def all_events(catalog: Catalog, start: datetime, end: datetime) -> Scans:
    return Scans.concat([b.scans for b in scans_between(catalog, SEED, start, end)])


@pytest.fixture(scope="module")
def around_dst() -> Scans:
    """Three UTC days around the US spring-forward of 2026-03-08."""
    return all_events(
        small_catalog(), datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)
    )


def per_local_hour(scans: Scans, store: int, zone: str) -> dict[tuple[date, int], int]:
    """Non-void scans of a store by (local date, local hour), via zoneinfo per UTC hour."""
    keep = (scans.store_id == store) & (scans.quantity > 0)
    hours, counts = np.unique(scans.scanned_at_ms[keep] // 3_600_000, return_counts=True)
    out: dict[tuple[date, int], int] = {}
    for h, c in zip(hours.tolist(), counts.tolist(), strict=True):
        local = datetime.fromtimestamp(h * 3600, UTC).astimezone(ZoneInfo(zone))
        out[(local.date(), local.hour)] = out.get((local.date(), local.hour), 0) + c
    return out


@pytest.mark.parametrize(
    ("store", "zone", "local_day"),
    [
        (1, "America/New_York", date(2026, 3, 7)),  # standard time, UTC-5
        (1, "America/New_York", date(2026, 3, 8)),  # the 23-hour day: DST begins at 02:00
        (2, "America/Phoenix", date(2026, 3, 7)),
        (2, "America/Phoenix", date(2026, 3, 8)),  # Arizona keeps UTC-7
        (3, "Pacific/Honolulu", date(2026, 3, 8)),
    ],
)
def test_scans_per_store_and_local_hour_follow_the_model(
    around_dst: Scans, store: int, zone: str, local_day: date
) -> None:
    # Given three generated UTC days around the DST change
    # When the store's scans are counted by store-local hour of one local day
    counts = per_local_hour(around_dst, store, zone)
    day = {hour: n for (d, hour), n in counts.items() if d == local_day}
    # Then exactly the open hours have scans, each within the model's bounds
    open_hours = {h for h, m in enumerate(HOURLY_MULTIPLIER) if m > 0}
    assert set(day) == open_hours
    for hour, n in day.items():
        lo, hi = expected_store_hour(hour)
        assert lo <= n <= hi, f"{zone} {local_day} {hour}:00 has {n}, model {lo:.0f}..{hi:.0f}"


@pytest.mark.parametrize(
    ("store", "day", "first_utc_hour"),
    [
        (1, date(2026, 3, 7), 15),  # New York opens at 10:00 EST = 15:00 UTC
        (1, date(2026, 3, 9), 14),  # ... and at 10:00 EDT = 14:00 UTC after the change
        (2, date(2026, 3, 7), 17),  # Phoenix opens at 17:00 UTC before ...
        (2, date(2026, 3, 9), 17),  # ... and after: no DST
    ],
)
def test_opening_moves_in_utc_only_where_dst_applies(
    around_dst: Scans, store: int, day: date, first_utc_hour: int
) -> None:
    # Given the generated days; When the first scan of the store's local day is taken
    start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=8)
    ms = around_dst.scanned_at_ms[
        (around_dst.store_id == store) & (around_dst.scanned_at_ms >= start.timestamp() * 1000)
    ]
    first = datetime.fromtimestamp(int(ms.min()) / 1000, UTC)
    # Then it falls in the UTC hour the store's zone gives for 10:00 local
    assert (first.date(), first.hour) == (day, first_utc_hour)


def test_events_are_sorted_and_windowed(around_dst: Scans) -> None:
    t = around_dst.scanned_at_ms
    assert np.all(np.diff(t) >= 0)
    assert t.min() >= datetime(2026, 3, 7, tzinfo=UTC).timestamp() * 1000
    assert t.max() < datetime(2026, 3, 10, tzinfo=UTC).timestamp() * 1000


@pytest.fixture(scope="module")
def busy_hour() -> Scans:
    """A busy hour of 60 New York stores: ~480,000 scans."""
    catalog = Catalog.build(
        np.arange(1, 61), np.zeros(60), ZONES, np.arange(1, 1001), np.ones(1000)
    )
    return scans_for_hour(catalog, SEED, datetime(2026, 3, 9, 16, tzinfo=UTC))


def test_one_scan_in_200_is_voided_60_to_180_s_later_with_the_same_scan(busy_hour: Scans) -> None:
    # Given a busy hour; When voids (quantity 0) are matched to their scans by scan_id
    voids = busy_hour.quantity == 0
    scans = ~voids
    share = voids.sum() / scans.sum()
    assert 0.0045 < share < 0.0055, f"void share {share:.5f}"
    ids = scan_id_hex(busy_hour.scan_id)
    first: dict[str, int] = {}
    for i, sid in enumerate(ids):
        first.setdefault(sid, i)
    for v in np.flatnonzero(voids).tolist():
        s = first[ids[v]]
        # Then each void repeats an earlier scan's id, store, checkstand and item
        assert s < v and busy_hour.quantity[s] > 0
        for col in ("store_id", "checkstand_id", "item_id"):
            assert getattr(busy_hour, col)[s] == getattr(busy_hour, col)[v]
        delay = int(busy_hour.scanned_at_ms[v] - busy_hour.scanned_at_ms[s])
        assert 60_000 <= delay <= 180_000
    # And no scan is voided twice
    assert len(Counter(ids)) == len(ids) - int(voids.sum())


def test_quantity_is_one_in_90_percent_else_2_to_4(busy_hour: Scans) -> None:
    q = busy_hour.quantity[busy_hour.quantity > 0]
    shares = {k: float(np.mean(q == k)) for k in (1, 2, 3, 4)}
    assert set(np.unique(q).tolist()) == {1, 2, 3, 4}
    assert abs(shares[1] - 0.90) < 0.005
    for k in (2, 3, 4):
        assert abs(shares[k] - 0.10 / 3) < 0.004


def test_checkstands_share_the_load(busy_hour: Scans) -> None:
    counts = np.bincount(busy_hour.checkstand_id, minlength=11)[1:]
    assert counts.min() > 0.8 * counts.mean()
    assert set(np.unique(busy_hour.checkstand_id).tolist()) == set(range(1, 11))


@pytest.mark.parametrize("weights", [[1.0, 2.0, 3.0, 4.0], [0.01, 1.0, 100.0], [5.0] * 7])
def test_items_are_drawn_in_proportion_to_their_frequency(weights: list[float]) -> None:
    # Given item weights; When 400,000 items are drawn through the alias table
    w = np.array(weights)
    catalog = Catalog.build(np.array([1]), np.array([0]), ZONES, np.arange(1, w.size + 1), w)
    drawn = catalog.sample_items(np.random.default_rng(1), 400_000)
    # Then each item's share matches its weight's share
    shares = np.bincount(drawn, minlength=w.size + 1)[1:] / drawn.size
    assert np.allclose(shares, w / w.sum(), atol=0.004)


def test_alias_table_rejects_non_positive_weights() -> None:
    with pytest.raises(ValueError, match="positive"):
        alias_table(np.array([1.0, 0.0]))


def digest(catalog: Catalog, start: datetime, end: datetime, **kw: float) -> str:
    return run_history(catalog, SEED, start, end, CountingSink(), **kw).sha256


def test_same_window_gives_the_same_hash_and_another_date_a_different_one() -> None:
    catalog = small_catalog()
    day = datetime(2026, 3, 8, tzinfo=UTC)
    one = digest(catalog, day, day + timedelta(days=1))
    assert digest(catalog, day, day + timedelta(days=1)) == one
    assert digest(catalog, day + timedelta(days=1), day + timedelta(days=2)) != one


@pytest.mark.parametrize("cut_minutes", [1, 59, 60, 61, 62, 90, 179])
def test_a_window_is_the_same_however_it_is_cut(cut_minutes: int) -> None:
    # Given a window that crosses an hour boundary (voids spill into the next hour)
    catalog = small_catalog()
    start = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
    cut, end = start + timedelta(minutes=cut_minutes), start + timedelta(hours=3)
    # When it is generated whole and in two parts
    whole = all_events(catalog, start, end)
    parts = Scans.concat([all_events(catalog, start, cut), all_events(catalog, cut, end)])
    # Then the events are identical
    assert encoding.encode(whole) == encoding.encode(parts)


def test_local_hours_follow_each_zone() -> None:
    catalog = small_catalog()
    before = catalog.local_hours(datetime(2026, 3, 8, 6, tzinfo=UTC)).tolist()
    after = catalog.local_hours(datetime(2026, 3, 8, 8, tzinfo=UTC)).tolist()
    assert before == [1, 23, 20]  # EST, MST, HST
    assert after == [4, 1, 22]  # New York jumped from 2:00 to 3:00 at 07:00 UTC
