"""Churn plans, live pacing on a fake clock, the CLI's window parsing."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tillflow.domain.generation.model import Catalog
from tillflow.domain.generation.reference import TIERS
from tillflow.entrypoints.commands.generate import history_window
from tillflow.jobs.chain import live_wall_seconds
from tillflow.jobs.generators.churn import (
    CHURN_ITEM_ID_BASE,
    INSERTS_PER_RUN,
    plan_item_churn,
    plan_tier_changes,
    slot_of,
)
from tillflow.jobs.generators.scans import CountingSink, run_history, run_live

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 20, 14, 37, tzinfo=UTC)


def test_item_churn_plan_is_deterministic_per_seed_and_slot() -> None:
    # Given two instants in the same hour, and one in the next
    a = plan_item_churn(1, AT)
    same_slot = plan_item_churn(1, AT.replace(minute=5))
    next_slot = plan_item_churn(1, AT + timedelta(hours=1))
    # Then the same slot gives the same plan, the next one another
    assert a == same_slot
    assert a != next_slot
    assert a.slot == datetime(2026, 11, 20, 14, tzinfo=UTC)
    assert a.factor in (0.9, 1.1)
    assert 1 <= a.category_id <= 32


def test_item_churn_inserts_get_ids_of_their_slot() -> None:
    a, b = plan_item_churn(1, AT), plan_item_churn(1, AT + timedelta(hours=1))
    ids_a = [i.item_id for i in a.new_items]
    ids_b = [i.item_id for i in b.new_items]
    assert len(ids_a) == INSERTS_PER_RUN
    assert min(ids_a) >= CHURN_ITEM_ID_BASE
    assert max(ids_a) < min(ids_b)  # consecutive slots never collide
    assert all(float(i.unit_price) > 0 and len(i.upc) == 12 for i in a.new_items)


def test_churn_slots_cannot_precede_the_reference_data() -> None:
    with pytest.raises(ValueError, match="churn slots start"):
        plan_item_churn(1, datetime(2019, 12, 31, tzinfo=UTC))


@pytest.mark.parametrize("tier", TIERS)
def test_tier_changes_move_one_step_within_the_tiers(tier: str) -> None:
    customers = [(i, tier) for i in range(1, 101)]
    changes = plan_tier_changes(3, AT, customers)
    assert len(changes) == 20
    assert len({c for c, _ in changes}) == 20
    for _, new in changes:
        assert abs(TIERS.index(new) - TIERS.index(tier)) == 1
    assert plan_tier_changes(3, AT, customers) == changes


def test_slot_of_naive_time_is_utc() -> None:
    assert slot_of(datetime(2026, 1, 1, 5, 59)) == datetime(2026, 1, 1, 5, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


class Keep(CountingSink):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.values: list[bytes] = []
        self.sent_at: list[tuple[float, int]] = []

    def send(self, values: list[bytes], store_ids: np.ndarray) -> None:
        self.values.extend(values)
        self.sent_at.append((self.clock.now, len(self.values)))
        self.clock.now += 0.001  # sending takes a little time


START = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)


def test_live_sends_what_history_makes_for_the_same_window() -> None:
    # Given a 60 s live run at speed-up 30 (30 simulated minutes) on a fake clock
    catalog = Catalog.from_seed(max_stores=5)
    clock = FakeClock()
    live = Keep(clock)
    stats = run_live(catalog, 1, live, START, 60, speedup=30, clock=clock, sleep=clock.sleep)
    # When history generates the same 30 minutes
    hist = Keep(FakeClock())
    expected = run_history(catalog, 1, START, START + timedelta(minutes=30), hist)
    # Then the events and their hash are the same, and the run lasted its duration
    assert live.values == hist.values
    assert stats.sha256 == expected.sha256
    assert clock.now == pytest.approx(60, abs=0.1)


def test_live_never_sends_an_event_before_its_simulated_time() -> None:
    catalog = Catalog.from_seed(max_stores=5)
    clock = FakeClock()
    sink = Keep(clock)
    run_live(catalog, 1, sink, START, 20, speedup=10, clock=clock, sleep=clock.sleep)
    assert sink.sent_at, "nothing was sent"
    for sent, upto in sink.sent_at:
        last = json.loads(sink.values[upto - 1])["scanned_at"]
        event_time = datetime.fromisoformat(last.replace("Z", "+00:00"))
        assert event_time <= START + timedelta(seconds=sent * 10 + 0.001)


def test_live_rate_cap_holds_and_the_duration_bounds_the_run() -> None:
    # Given a busy simulated window, far faster than the cap allows
    catalog = Catalog.from_seed(max_stores=50)
    clock = FakeClock()
    sink = Keep(clock)
    stats = run_live(
        catalog, 1, sink, START, 10, speedup=600, max_rate=2000, clock=clock, sleep=clock.sleep
    )
    # Then no more than rate x elapsed events left at any time, and it stopped after 10 s
    for sent, total in sink.sent_at:
        assert total <= 2000 * sent + 1
    assert 15_000 < stats.events <= 20_001
    assert clock.now == pytest.approx(10, abs=0.1)


def test_a_stopped_live_run_resumed_at_its_checkpoint_sends_each_event_once() -> None:
    # Given a busy live run (chunks end inside milliseconds) stopped after 7 wall seconds
    catalog = Catalog.from_seed(max_stores=60)
    clock = FakeClock()
    first = Keep(clock)
    marks: list[int] = []
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now >= 7:
            stop.set()

    run_live(catalog, 1, first, START, 60, speedup=120, clock=clock, sleep=sleep,
             stop=stop, checkpoint=marks.append, checkpoint_every=2)  # fmt: skip
    assert len(marks) >= 3 and marks == sorted(marks)
    # When a new run starts at the last checkpoint and runs on
    resumed_at = datetime.fromtimestamp(marks[-1] / 1000, UTC)
    clock2 = FakeClock()
    second = Keep(clock2)
    ends: list[int] = []
    run_live(catalog, 1, second, resumed_at, 30, speedup=120, clock=clock2, sleep=clock2.sleep,
             checkpoint=ends.append)  # fmt: skip
    # Then the two runs together sent exactly what history makes up to the second's last mark
    whole = Keep(FakeClock())
    run_history(catalog, 1, START, datetime.fromtimestamp(ends[-1] / 1000, UTC), whole)
    assert first.values + second.values == whole.values
    assert len(first.values) > 0 and len(second.values) > 0


class TickingClock(FakeClock):
    """A slow machine: every reading of the clock costs ``tick`` seconds."""

    def __init__(self, tick: float) -> None:
        super().__init__()
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_a_chain_left_a_sliver_of_its_window_still_reaches_the_plans_end() -> None:
    # Given a chain at speed-up 1440 whose last run fell behind and ended half a simulated
    # second before the plan's end, on a machine where each clock reading costs 5 ms
    catalog = Catalog.from_seed(max_stores=60)
    until = START + timedelta(minutes=10)
    until_ms = int(until.timestamp() * 1000)
    position_ms = until_ms - 500
    clock = TickingClock(0.005)
    sink = Keep(clock)
    marks = [position_ms]
    # When the chain starts live runs from its position, as its scans loop does
    for _ in range(5):
        wall = live_wall_seconds(marks[-1], until_ms, 1440)
        if wall is None:
            break
        resume = datetime.fromtimestamp(marks[-1] / 1000, UTC)
        run_live(catalog, 1, sink, resume, wall, speedup=1440, clock=clock, sleep=clock.sleep,
                 checkpoint=marks.append, until=until)  # fmt: skip
    # Then its position is the plan's end, and it sent that half second's scans, once each
    assert marks[-1] == until_ms
    whole = Keep(FakeClock())
    run_history(catalog, 1, datetime.fromtimestamp(position_ms / 1000, UTC), until, whole)
    assert sink.values == whole.values and len(whole.values) > 0


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2026-03-08", "2026-03-08", ("2026-03-08T00:00:00+00:00", "2026-03-09T00:00:00+00:00")),
        ("2026-03-08", "2026-03-10", ("2026-03-08T00:00:00+00:00", "2026-03-11T00:00:00+00:00")),
        (
            "2026-03-08T15:00",
            "2026-03-08T15:10",
            ("2026-03-08T15:00:00+00:00", "2026-03-08T15:10:00+00:00"),
        ),
        (
            "2026-03-08T15:00:00Z",
            "2026-03-08T10:10:00-05:00",
            ("2026-03-08T15:00:00+00:00", "2026-03-08T15:10:00+00:00"),
        ),
    ],
)
def test_history_window_dates_are_whole_days_instants_half_open(
    start: str, end: str, expected: tuple[str, str]
) -> None:
    lo, hi = history_window(start, end)
    assert (lo.isoformat(), hi.astimezone(UTC).isoformat()) == expected


def test_history_window_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="empty window"):
        history_window("2026-03-09", "2026-03-08")


def test_a_run_that_sent_its_window_reports_its_end_before_waiting_out_its_duration() -> None:
    # Given a 60 s run at speed-up 30 capped at 10 simulated minutes (sent in 20 wall seconds)
    catalog = Catalog.from_seed(max_stores=5)
    clock = FakeClock()
    until = START + timedelta(minutes=10)
    marks: list[tuple[float, int]] = []
    run_live(catalog, 1, Keep(clock), START, 60, speedup=30, clock=clock, sleep=clock.sleep,
             checkpoint=lambda ms: marks.append((clock.now, ms)), until=until)  # fmt: skip
    # Then the window's end is the position from then on, not only once the 60 s are over
    until_ms = int(until.timestamp() * 1000)
    first_at_end = next(at for at, ms in marks if ms == until_ms)
    assert first_at_end == pytest.approx(20, abs=0.5)
    assert clock.now == pytest.approx(60, abs=0.1)
