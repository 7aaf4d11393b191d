"""The whole chain on its own (`tillflow run`): live scans on a simulated clock, orders through
the API, the item master's hourly churn, and each simulated day's ELT through the scheduler.

One process (the stack's ``chain`` service) runs three loops:

- **scans**: ``run_live`` from the last position on, ``speedup`` times faster than the wall
  clock. Every few seconds the producer is flushed and the position (an instant before which
  every event was sent and acknowledged, after which none was) is saved, and again when the
  process is stopped, so `make down && make up` resumes with no event sent twice. A kill -9
  resends at most what was sent since the last save (a few seconds' worth);
- **orders**: POSTed to the orders API at ``orders_per_second`` (new orders each time: an order
  is never re-posted, the count goes on);
- **the clock's consequences**, once a second: every simulated UTC hour passed gets its churn
  slot (``generators.churn``, idempotent per slot), and every simulated UTC day that ended
  ``elt_grace`` ago gets its ``tillflow_elt_daily`` run through the Airflow API (once: the
  days triggered are saved; a finished run the DAG's own schedule made for that date is replaced
  by a new one, since it may have been built before the day's data was complete).

The state is ``run/chain.json``: the plan (its options) and the position.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tillflow import config
from tillflow.config import Settings
from tillflow.domain.generation import DEFAULT_SEED

log = logging.getLogger("tillflow.chain")

ELT_DAG = "tillflow_elt_daily"
#: Simulated seconds one live run covers before it is started again (within datetime's range at
#: any speed-up; one long run in practice).
LIVE_RUN_SIMULATED = 30 * 365 * 24 * 3600.0
#: Wall seconds a live run gets at least. A run that fell behind (a broker restarting) ends at
#: its wall deadline short of the plan's end; the rest, a sliver at a high speed-up, would get
#: less wall time than making one batch takes, and a run that short sends nothing.
MIN_LIVE_WALL = 2.0


def live_wall_seconds(position_ms: int, until_ms: int | None, speedup: float) -> float | None:
    """Wall seconds for the next live run from ``position_ms``; None once the plan is done."""
    if until_ms is None:
        return LIVE_RUN_SIMULATED / speedup
    if until_ms <= position_ms:
        return None
    return max((until_ms - position_ms) / 1000 / speedup, MIN_LIVE_WALL)


@dataclass(frozen=True)
class ChainPlan:
    """What `tillflow run` was asked for (saved with the position)."""

    speedup: float = 1.0
    stores: int | None = None
    seed: int = DEFAULT_SEED
    orders_per_second: float = 0.2
    qualify_share: float = 0.10
    max_rate: float = 50_000.0
    #: Simulated minutes after a day's end before its ELT run: voids spill over up to 3 minutes.
    elt_grace_minutes: float = 30.0
    #: Where the scans stop (epoch ms; None: never): the drill's window ends there.
    until_ms: int | None = None

    def __post_init__(self) -> None:
        if self.speedup <= 0 or self.orders_per_second < 0 or self.max_rate <= 0:
            raise ValueError("speedup and max_rate must be positive, orders_per_second >= 0")


@dataclass
class ChainState:
    plan: ChainPlan
    #: Every scan before this instant (epoch ms) was sent and acknowledged; none after it.
    position_ms: int
    started_ms: int = 0  # where the chain began: its first day is built too
    orders_posted: int = 0
    churned_through: str | None = None  # the last simulated UTC hour whose churn slot ran
    elt_days: dict[str, str] = field(default_factory=dict)  # day -> the run id triggered

    @classmethod
    def load(cls, path: Path) -> ChainState | None:
        try:
            body: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        plan = ChainPlan(**body.pop("plan"))
        return cls(plan=plan, **body)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**asdict(self), "plan": asdict(self.plan)}, indent=1))
        tmp.replace(path)

    @property
    def position(self) -> datetime:
        return datetime.fromtimestamp(self.position_ms / 1000, UTC)


def hours_passed(last: datetime | None, now: datetime) -> list[datetime]:
    """The UTC hour slots after ``last`` (a slot already churned) that ended by ``now``; none
    the first time (the chain churns from the hour it sees pass)."""
    passed = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    if last is None:
        return []
    slots = []
    while last < passed:
        last += timedelta(hours=1)
        slots.append(last)
    return slots


def days_ended(started: date, built: list[date], now: datetime, grace: timedelta) -> list[date]:
    """The UTC days, from the chain's first, after the last one built, that ended ``grace``
    before ``now``: each day's ELT runs once."""
    day = max([started, *(d + timedelta(days=1) for d in built)])
    days = []
    while datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1) + grace <= now:
        days.append(day)
        day += timedelta(days=1)
    return days


def state_file(settings: Settings) -> Path:
    return settings.run_dir / "chain.json"


def plan_chain(settings: Settings, plan: ChainPlan, start: datetime | None = None) -> ChainState:
    """Save ``plan``, keeping the position of an earlier plan with the same seed and stores (the
    same scans), else starting at ``start`` (default: now)."""
    path = state_file(settings)
    old = ChainState.load(path)
    if old is not None and (old.plan.seed, old.plan.stores) == (plan.seed, plan.stores):
        state = ChainState(plan, old.position_ms, old.started_ms, old.orders_posted,
                           old.churned_through, old.elt_days)  # fmt: skip
    else:
        moment = int((start or datetime.now(UTC)).timestamp() * 1000)
        state = ChainState(plan, moment, moment)
    path.parent.mkdir(parents=True, exist_ok=True)
    state.save(path)
    return state


class Chain:
    """The ``chain`` service's process: see the module's description."""

    def __init__(self, settings: Settings, stop: threading.Event | None = None) -> None:
        state = ChainState.load(state_file(settings))
        if state is None:
            raise RuntimeError(
                f"no chain planned: {state_file(settings)} is missing; run `tillflow run`"
            )
        self.settings = settings
        self.state = state
        self.stop = stop or threading.Event()
        self._lock = threading.Lock()
        self.errors: list[str] = []
        self.reference_seed = DEFAULT_SEED

    # --- persistence ------------------------------------------------------------------------
    def _save(self) -> None:
        with self._lock:
            self.state.save(state_file(self.settings))

    def _scan_mark(self, ms: int) -> None:
        with self._lock:
            self.state.position_ms = max(self.state.position_ms, ms)
        self._save()

    # --- the loops --------------------------------------------------------------------------
    def _scans(self) -> None:
        from tillflow.domain.generation.model import Catalog
        from tillflow.jobs.generators.scans import KafkaSink, run_live

        plan = self.state.plan
        catalog = Catalog.from_seed(plan.seed, plan.stores)
        until = None if plan.until_ms is None else datetime.fromtimestamp(plan.until_ms / 1000, UTC)
        while not self.stop.is_set():
            wall = live_wall_seconds(self.state.position_ms, plan.until_ms, plan.speedup)
            if wall is None:  # the plan's window is done: the chain only idles now
                self.stop.wait(1)
                continue
            sink = KafkaSink(self.settings.kafka.connection, config.TOPICS.scans)
            stats = run_live(
                catalog, plan.seed, sink, self.state.position, wall, speedup=plan.speedup,
                max_rate=plan.max_rate, stop=self.stop, checkpoint=self._scan_mark, until=until,
            )  # fmt: skip
            log.info("scans: %d sent up to %s", stats.events, self.state.position.isoformat())

    def _orders(self) -> None:
        import httpx

        from tillflow.jobs.api.order_generator import OrderPlanner, load_mix
        from tillflow.jobs.api.settings import ApiSettings

        plan = self.state.plan
        if plan.orders_per_second <= 0:
            return
        dsn = self.settings.postgres.dsn(config.DB_OLTP, self.settings.postgres.api)
        base_url = ApiSettings.from_env().base_url
        planner: OrderPlanner | None = None
        with httpx.Client(base_url=base_url, timeout=10) as client:
            while not self.stop.is_set():
                if planner is None or self.state.orders_posted % 500 == 0:
                    # A fresh mix now and then: churn deletes items the planner would offer.
                    planner = OrderPlanner(load_mix(dsn), plan.seed + self.state.orders_posted,
                                           plan.qualify_share)  # fmt: skip
                body, _ = planner.next_order()
                try:
                    response = client.post("/api/v1/orders", json=body)
                    if response.status_code == 201:
                        with self._lock:
                            self.state.orders_posted += 1
                except httpx.HTTPError as exc:
                    log.warning("orders: %s (the API restarts under the supervisor)", exc)
                    self.stop.wait(2)
                self.stop.wait(1 / plan.orders_per_second)

    def _consequences(self) -> None:
        """Churn for each simulated hour passed, the ELT for each simulated day ended."""
        from tillflow.jobs.generators import churn

        plan = self.state.plan
        now = self.state.position
        last = self.state.churned_through
        if last is None:  # the first look: churn from the next hour that passes on
            with self._lock:
                self.state.churned_through = (
                    now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
                ).isoformat()
            last = self.state.churned_through
        dsn = self.settings.postgres.dsn(config.DB_OLTP, self.settings.postgres.api)
        for slot in hours_passed(datetime.fromisoformat(last) if last else None, now):
            churn.churn(dsn, slot, self.reference_seed)
            with self._lock:
                self.state.churned_through = slot.isoformat()
        started = datetime.fromtimestamp(self.state.started_ms / 1000, UTC).date()
        built = [date.fromisoformat(d) for d in self.state.elt_days]
        grace = timedelta(minutes=plan.elt_grace_minutes)
        for day in days_ended(started, built, now, grace):
            run_id = self._trigger_elt(day)
            with self._lock:
                self.state.elt_days[day.isoformat()] = run_id
            log.info("ELT of %s triggered (run %s)", day, run_id)

    def _trigger_elt(self, day: date) -> str:
        from tillflow.adapters.airflow_api import AirflowClient

        af = self.settings.airflow
        client = AirflowClient(af.base_url, af.admin_user, af.admin_password)
        try:
            client.unpause(ELT_DAG)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return client.run_interval(
                ELT_DAG, start.isoformat(), (start + timedelta(days=1)).isoformat()
            )
        finally:
            client.close()

    def _bootstrap(self) -> None:
        """The OLTP reference data the orders and the churn need (loaded once, idempotent)."""
        from tillflow.jobs.generators import reference_load

        dsn = self.settings.postgres.dsn(config.DB_OLTP, self.settings.postgres.api)
        reference_load.bootstrap_oltp(dsn, DEFAULT_SEED)
        loaded = reference_load.reference_loaded(dsn) or {}
        # The churn changes the OLTP's own reference data: its seed, not the scans'.
        self.reference_seed = int(loaded.get("seed", DEFAULT_SEED))

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self._bootstrap()
                break
            except Exception as exc:  # the database starting: try again
                log.warning("chain: reference data not ready (%s); again in 5 s", exc)
                self.stop.wait(5)
        threads = [
            threading.Thread(target=self._guard, args=(self._scans,), name="scans", daemon=True),
            threading.Thread(target=self._guard, args=(self._orders,), name="orders", daemon=True),
        ]
        for thread in threads:
            thread.start()
        while not self.stop.wait(1.0):
            try:
                self._consequences()
            except Exception as exc:  # Airflow or the database restarting: try again later
                log.warning("chain: %s", exc)
            self._save()
        for thread in threads:
            thread.join(30)
        self._save()

    def _guard(self, loop: Any) -> None:
        while not self.stop.is_set():
            try:
                loop()
                return
            except Exception as exc:  # a broker or API restart: start the loop again
                log.warning("chain %s: %s; again in 5 s", threading.current_thread().name, exc)
                self.stop.wait(5)
