"""`tillflow drill soak`: the chain through simulated days on the running stack, with faults.

It plans the chain (`tillflow run`'s ``jobs/chain.py``) over ``days`` simulated days that end
before now (so no event is from the future), ``speedup`` times faster than the wall clock, and
brings it up with the continuous ingestion. While it runs, a fault is injected every
``fault_hours`` simulated hours at a random moment (seeded): SIGKILL of the broker, CDC, the
suggestion service, the continuous ingestion or the scheduler; a restart of either PostgreSQL
server; a Redis restart. Nobody repairs anything: the supervisor restarts what died. At the end it stops the
chain, waits for ingestion and every simulated day's ELT run, and prints, against what the
generator produced for the window (regenerated from the seed, not read back from the warehouse):

- produced, landed, dead letters, duplicated, and lost with a broker incarnation before any
  consumer read them (``ops.ingest_losses``);
- orders posted, those qualifying (payment method and the customer's tier as they are now),
  suggestions made, and orders with more than one (the ledger's key forbids it);
- the SCD2 invariants of the core dimensions (at most one current row per key, no overlapping
  versions; keys closed by a delete counted apart), part of the verdict;
- each service's peak memory, the broker's peak against its budget, the database's growth;
- restarts per service (the supervisor's record) and each ELT day's state.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tillflow import config
from tillflow.adapters.broker_pressure import read_pressure
from tillflow.config import Settings
from tillflow.runtime.process import read_pid
from tillflow.runtime.supervisor import read_state
from tillflow_bench.broker_budget import landed_rows

FAULTS = (
    "kafka",
    "cdc",
    "suggestions",
    "ingest",
    "airflow-scheduler",
    "postgres",
    "postgres-oltp",
    "redis",
    "chain",
)
#: How long after a customer's tier change an order may still be judged by the old tier (the
#: suggestion service learns it through CDC, which a fault may hold up): such orders are shown
#: apart, not judged.
NEAR_CHANGE = timedelta(seconds=60)
#: Orders posted since the drill began: each judged by its customer's tier when it was posted (the
#: tier now, or the old tier of the first change applied after the order: the churn records who
#: moved from which tier, ``generator_runs.details``), its payment method and its suggestion.
ORDERS_SQL = """
with changes as (
    select cast(ch ->> 0 as bigint) as customer_id, ch ->> 1 as old_tier, g.applied_at
    from generator_runs g cross join jsonb_array_elements(g.details -> 'changes') ch
    where g.kind = 'tier_changes'
),
judged as (
    select
        o.order_id,
        coalesce(
            (select old_tier from changes x where x.customer_id = o.customer_id
               and x.applied_at > o.created_at order by x.applied_at limit 1),
            c.tier
        ) = 'diamond' and pm.method = 'bank_transfer' and pm.bank = %(bank)s as qualifies,
        exists (select 1 from changes x where x.customer_id = o.customer_id
                  and x.applied_at between o.created_at - %(near)s and o.created_at) as near
    from orders o
    join customers c using (customer_id)
    join payment_methods pm using (payment_method_id)
    where o.created_at >= %(since)s
)
select
    count(*),
    count(*) filter (where qualifies and not near),
    count(s.order_id) filter (where qualifies and not near),
    count(s.order_id) filter (where not qualifies and not near),
    count(*) filter (where near),
    count(s.order_id) filter (where near)
from judged left join order_suggestions s using (order_id)
"""
#: Fewer rows than this landed in 90 s: nothing more of the scans is coming.
QUIET_ROWS = 2_000
#: The core dimensions kept as SCD2 history, with their keys.
SCD2_TABLES = (
    ("core.dim_products", "item_id"),
    ("core.dim_stores", "store_id"),
    ("core.dim_customers", "customer_id"),
    ("core.dim_payment_methods", "payment_method_id"),
)


@dataclass
class Fault:
    at_wall: float
    service: str
    done: bool = False
    note: str = ""


@dataclass
class Peaks:
    rss: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, value: int) -> None:
        self.rss[name] = max(self.rss.get(name, 0), value)


def _cli(
    *args: str, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tillflow.entrypoints.cli", *args],
        capture_output=True, text=True, timeout=timeout, check=False, env=env,
    )  # fmt: skip


def _inject(settings: Settings, service: str) -> str:
    """One fault; returns what was done."""
    from tillflow.runtime.services import Postgres, PostgresOltp

    if service in ("postgres", "postgres-oltp"):
        server = Postgres(settings) if service == "postgres" else PostgresOltp(settings)
        server.stop()  # a clean restart: the supervisor starts it again
        return f"{service} stopped (pg_ctl -m fast); the supervisor restarts it"
    if service == "chain":  # what `make down && make up` does to it: it must resume exactly
        pid = read_pid(settings.run_dir / "chain.pid")
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        return f"chain pid {pid} stopped with SIGTERM (resumes from its saved instant)"
    pid = read_pid(settings.run_dir / f"{service}.pid")
    if pid is None:
        return f"{service} was not running: nothing killed"
    os.kill(pid, signal.SIGKILL)
    return f"{service} pid {pid} killed with SIGKILL"


def _service_rss(settings: Settings) -> dict[str, int]:
    from tillflow.runtime.broker_keeper import rss_bytes
    from tillflow.runtime.registry import all_services

    out = {}
    for service in all_services(settings):
        pid = service.pid()
        if pid is not None:
            out[service.name] = rss_bytes(pid)
    return out


def _db_size(servers: list[str]) -> int:
    """The size of every database of the servers (administrator DSNs), summed."""
    total = 0
    for admin in servers:
        rows = _query(admin, "select sum(pg_database_size(datname)) from pg_database")
        total += int(rows[0][0]) if rows and rows[0][0] else 0
    return total


def _current_epoch(settings: Settings, wh: str) -> int:
    """The epoch of the broker running now (numbered here if nobody saw it yet); with no broker
    up, the next number."""
    from tillflow.adapters import kafka
    from tillflow.jobs.ingest.epochs import epoch_for

    try:
        cluster = kafka.cluster_id(kafka.admin(settings.kafka.connection), timeout=5)
    except Exception:
        return int(_query(wh, "select coalesce(max(epoch) + 1, 0) from ops.broker_epochs")[0][0])
    return epoch_for(settings.postgres.dsn(config.DB_WAREHOUSE, settings.postgres.ingest), cluster)


def _query(
    dsn: str, sql: str, *args: Any, params: dict[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """One query (positional ``args`` or named ``params``), retried for a minute while the
    database restarts (one of the faults)."""
    import psycopg

    deadline = time.time() + 60
    while True:
        try:
            with psycopg.connect(dsn, connect_timeout=5) as conn:
                rows = conn.execute(sql, params if params is not None else args).fetchall()
                return [tuple(r) for r in rows]
        except psycopg.OperationalError:
            if time.time() > deadline:
                raise
            time.sleep(2)


def run(
    settings: Settings,
    days: float,
    stores: int,
    speedup: float,
    fault_hours: float,
    seed: int,
    orders_per_second: float,
    elt: bool = True,
    kinds: tuple[str, ...] = FAULTS,
) -> int:
    from tillflow.domain.generation.model import Catalog
    from tillflow.jobs import chain
    from tillflow.jobs.generators.scans import CountingSink, run_history

    pg = settings.postgres
    wh = pg.dsn(config.DB_WAREHOUSE)
    oltp = pg.dsn(config.DB_OLTP)
    admin = [pg.dsn("postgres")] + ([] if pg.shared else [pg.dsn_at(pg.oltp, "postgres")])
    sim_seconds = days * 86400
    wall_seconds = sim_seconds / speedup
    start = (datetime.now(UTC) - timedelta(seconds=sim_seconds) - timedelta(hours=2)).replace(
        microsecond=0, second=0
    )
    end = start + timedelta(seconds=sim_seconds)
    rng = random.Random(seed)
    faults: list[Fault] = []
    if fault_hours > 0:
        t = 0.0
        period = fault_hours * 3600 / speedup
        order = list(kinds)
        rng.shuffle(order)  # every kind once before any twice, in a seeded order
        while t + period < wall_seconds:
            kind = order[len(faults) % len(order)]
            faults.append(Fault(t + rng.uniform(0.2, 1.0) * period, kind))
            t += period
    print(
        f"drill soak: {days:g} simulated days ({start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} UTC),"
        f" {stores} stores, x{speedup:g} ({wall_seconds / 60:.1f} wall min), {len(faults)} faults,"
        f" seed {seed}",
        flush=True,
    )
    if _cli("status", "supervisor").stdout.count(" running ") == 0:
        print("the stack's supervisor is not running: `tillflow up` first", file=sys.stderr)
        return 2
    from tillflow.adapters.warehouse import prepare_warehouse

    prepare_warehouse(settings)  # a fresh stack has no ops tables yet (ingestion makes them)
    restarts0 = {k: int(v.get("restarts", 0)) for k, v in
                 (read_state(settings.run_dir).get("services") or {}).items()}  # fmt: skip
    # Losses per kind: the scans (checked against what the generator produced) and the rest
    # (order events, CDC changes a killed broker took: counted and shown).
    # The losses of the brokers the drill kills: those of the incarnation running now and later
    # ones (an earlier one's loss may be recorded after the start, once ingestion is up).
    epoch0 = _current_epoch(settings, wh)
    lost_sql = (
        "select coalesce(sum(records) filter (where kafka_topic = %s), 0),"
        " coalesce(sum(records) filter (where kafka_topic <> %s), 0) from ops.ingest_losses"
        " where epoch >= %s"
    )
    size0 = _db_size(admin)
    since = datetime.now(UTC)

    chain.state_file(settings).unlink(missing_ok=True)
    # The continuous ingestion first (a minute for Spark), so the chain's clock starts with it.
    first = _cli("up", timeout=900, env={**os.environ, "TILLFLOW_INGEST_CONTINUOUS": "1"})
    if first.returncode != 0:
        print(first.stdout + first.stderr, file=sys.stderr)
        return 1
    plan = chain.ChainPlan(speedup=speedup, stores=stores, seed=seed,
                           orders_per_second=orders_per_second,
                           elt_grace_minutes=30.0 if elt else 1e9,
                           until_ms=int(end.timestamp() * 1000))  # fmt: skip
    chain.plan_chain(settings, plan, start)
    up = _cli("up", timeout=900)
    if up.returncode != 0:
        print(up.stdout + up.stderr, file=sys.stderr)
        return 1
    t0 = time.time()
    peaks = Peaks()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for name, rss in _service_rss(settings).items():
                peaks.add(name, rss)
            broker = read_state(settings.run_dir).get("broker") or {}
            peaks.add("kafka (keeper)", int(broker.get("peak_rss", 0)))
            done.wait(2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    # The chain runs until its simulated clock reaches the window's end; faults on the way.
    last_print = 0.0
    moved_at, last_position = time.time(), start
    stalled = False
    while True:
        state = chain.ChainState.load(chain.state_file(settings))
        position = state.position if state else start
        elapsed = time.time() - t0
        # A position ahead of the drill's own clock is the chain waiting for its next scan
        # (closed hours: the resume instant is the next store's opening), not a stall; nor is
        # a clock held back by the broker keeper (a recycle under way).
        waiting = position > start + timedelta(seconds=elapsed * speedup)
        if position != last_position or waiting or read_pressure(settings.run_dir) is not None:
            moved_at, last_position = time.time(), position
        elif time.time() - moved_at > 180:
            stalled = True  # reported below: the chain did not recover by itself
            print(f"  {elapsed:6.0f}s the chain's clock has not moved for 180 s", flush=True)
            break
        for fault in faults:
            if not fault.done and elapsed >= fault.at_wall:
                fault.note = _inject(settings, fault.service)
                fault.done = True
                print(f"  {elapsed:6.0f}s fault: {fault.note}", flush=True)
        if time.time() - last_print > 30:
            last_print = time.time()
            print(f"  {elapsed:6.0f}s simulated {position:%Y-%m-%d %H:%M}", flush=True)
        if position >= end or elapsed > wall_seconds * 3 + 600:
            break
        time.sleep(1)
    chain_seconds = time.time() - t0
    final = min(position, end)

    # What the generator produced for [start, final): regenerated from the seed.
    produced_sink = CountingSink()
    run_history(Catalog.from_seed(seed, stores), seed, start, final, produced_sink)
    produced = produced_sink.events

    def landed() -> tuple[int, int, int]:
        rows, events = _query(
            wh,
            "select count(*), count(distinct (scan_id, quantity = 0)) from raw.pos_scans"
            " where kafka_topic = %s and store_id <= %s and scanned_at >= %s and scanned_at < %s"
            " and ingested_at >= %s",
            config.TOPICS.scans, stores, start, final, since,
        )[0]  # fmt: skip
        dead = _query(wh, "select count(*) from raw.dead_letters where kafka_topic = %s"
                      " and received_at >= %s", config.TOPICS.scans, since)[0][0]  # fmt: skip
        return int(rows), int(events), int(dead)

    def lost_now() -> tuple[int, int]:
        scans, other = _query(wh, lost_sql, config.TOPICS.scans, config.TOPICS.scans, epoch0)[0]
        return int(scans), int(other)

    # Until everything landed, or nothing more lands for 90 s (what a killed broker took). The
    # poll reads ingestion's progress table (every topic's rows): raw is counted only when that
    # says enough may have landed, since a count over the window's raw scans takes most of a
    # minute at full scale and competes with the ingestion and the ELT runs it waits for.
    def settle(timeout: float, quiet: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        samples: list[tuple[float, int]] = []  # (when, rows landed since the start)
        counted_at, last_print = -1, 0.0
        while time.monotonic() < deadline:
            now = time.monotonic()
            progress = landed_rows(wh, since)
            samples.append((now, progress))
            if progress >= produced and counted_at != progress:
                counted_at = progress
                if sum(landed()[1:]) >= produced:
                    return
            # Quiet: the orders and CDC changes still trickle in (a few rows a second) while
            # the chain posts orders; scans come in thousands.
            before = [rows for at, rows in samples if at <= now - quiet]
            if before and progress - before[-1] < QUIET_ROWS:
                return
            if now - last_print > 30:
                last_print = now
                print(f"  ingestion landed {progress:,} rows since the start (every topic)",
                      flush=True)  # fmt: skip
            time.sleep(5)

    # (ingestion runs on meanwhile: a job restarted by the supervisor needs a minute)
    print(f"  waiting for the window's {produced:,} scans to land (or 90 s without progress)",
          flush=True)  # fmt: skip
    settle(1200)
    rows, events, dead = landed()
    print(f"  landed {events:,} events, {dead:,} dead letters; stopping the chain", flush=True)
    # The chain's state before `run --stop` forgets it: the days whose ELT it triggered.
    state = chain.ChainState.load(chain.state_file(settings))
    stop = _cli("run", "--stop", timeout=300)  # the chain and its ingestion
    print(stop.stdout.strip(), flush=True)
    lost, lost_other = lost_now()

    # The ELT runs the chain triggered, one per simulated day, by their run ids: a run the
    # scheduler made on its own (the DAG is unpaused) is not the drill's and is not waited for
    # (its sensor may wait for ingestion that was just stopped).
    from tillflow.adapters.airflow_api import AirflowClient

    af = settings.airflow
    client = AirflowClient(af.base_url, af.admin_user, af.admin_password)
    elt_states: dict[str, str] = {}
    triggered = dict(sorted((state.elt_days if state else {}).items()))
    try:
        for day, run_id in triggered.items():
            print(f"  waiting for the ELT run of {day} ({run_id})", flush=True)
            elt_states[day] = str(client.wait_for_run(chain.ELT_DAG, run_id, timeout=3600))
            print(f"  ELT {day}: {elt_states[day]} after {time.time() - t0:.0f}s", flush=True)
    except Exception as exc:  # reported, not hidden
        elt_states["error"] = str(exc)[:200]
    finally:
        client.close()
    done.set()
    watcher.join(5)

    judged = {"since": since, "bank": "ACB", "near": NEAR_CHANGE}
    orders = _query(oltp, ORDERS_SQL, params=judged)[0]
    scd2 = {}
    for table, key in SCD2_TABLES:
        try:
            scd2[table] = _query(
                wh,
                # A key deleted in the source keeps its versions, all closed: no current row
                # is right for it, so those keys are counted apart, not as broken.
                f"select count(*) filter (where k.current_rows > 1),"
                f" (select count(*) from (select valid_from, lag(valid_to) over"
                f"   (partition by {key} order by valid_from) prev_to from {table}) v"
                f"   where prev_to > valid_from),"
                f" count(*) filter (where k.current_rows = 0)"
                f" from (select count(*) filter (where is_current) as current_rows"
                f"   from {table} group by {key}) k",
            )[0]
        except Exception as exc:
            scd2[table] = (str(exc).splitlines()[0][:80],)
    services = read_state(settings.run_dir).get("services") or {}
    restarts = {k: int(v.get("restarts", 0)) - restarts0.get(k, 0) for k, v in services.items()}
    growth = _db_size(admin) - size0
    budget = settings.kafka_memory_budget_mb << 20

    print("\n== drill soak: results")
    print(f"window {start:%Y-%m-%d %H:%M} - {final:%Y-%m-%d %H:%M} UTC, {stores} stores;"
          f" wall {time.time() - t0:.0f}s; load {os.getloadavg()[0]:.2f}")  # fmt: skip
    missing = produced - events - dead
    killed = sum(1 for f in faults if f.done and f.service == "kafka")
    # The supervisor's broker keeper notes what the broker holds every 0.5 s, and ingestion at
    # each batch it plans: records acked in the last moments before a kill may be unseen.
    # Allowed: 2 s of the average production per kill (the busiest hours run at twice it).
    rate = produced / max(1.0, chain_seconds)
    tolerance = int(killed * rate * 2.0)
    print(f"scans produced {produced:,}; landed events {events:,} (rows {rows:,});"
          f" duplicated {rows - events:,}; dead letters {dead:,}")  # fmt: skip
    print(f"lost with {killed} killed broker(s): {missing:,} never landed; {lost:,} of them counted"
          f" by ingestion (ops.ingest_losses), {missing - lost:,} acked by a broker in its last"
          f" moments and never seen by a consumer (allowed: {tolerance:,}, 2 s of the chain's"
          f" {rate:,.0f} scans/s per kill)")  # fmt: skip
    print(f"other records counted lost with the killed broker(s) (order events, CDC changes):"
          f" {lost_other:,}")  # fmt: skip
    posted, qualifying, suggested, wrongly, near, near_suggested = (int(v) for v in orders)
    print(f"orders posted {posted:,}; qualifying by their customer's tier when posted"
          f" {qualifying:,}; suggested {suggested:,} of them, {qualifying - suggested:,} not"
          f" (their order events lost with a killed broker, or a miss); suggested without"
          f" qualifying {wrongly:,}; posted within {NEAR_CHANGE.seconds} s after a tier change of"
          f" their customer (either way is right) {near:,}, {near_suggested:,} suggested;"
          " more than one per order: impossible (primary key)")  # fmt: skip
    for table, result in scd2.items():
        if len(result) < 3:
            print(f"SCD2 {table}: not checked ({result[0]})")
            continue
        print(f"SCD2 {table}: keys with more than one current row {result[0]},"
              f" overlapping versions {result[1]}; keys closed by a delete {result[2]}")  # fmt: skip
    scd2_ok = all(r[0] == 0 and r[1] == 0 for r in scd2.values() if len(r) == 3)
    print("faults: " + "; ".join(f"{f.at_wall:.0f}s {f.note}" for f in faults if f.done))
    print("restarts: " + ", ".join(f"{k} {v}" for k, v in sorted(restarts.items()) if v))
    print("peak RSS: " + ", ".join(f"{k} {v >> 20} MB" for k, v in sorted(peaks.rss.items())))
    print(f"broker budget {budget >> 20} MB; broker peak {peaks.rss.get('kafka', 0) >> 20} MB;"
          f" database growth {growth / 2**30:.2f} GB")  # fmt: skip
    print("ELT days: " + (", ".join(f"{d} {s}" for d, s in sorted(elt_states.items()))
                          if elt else "not run (--no-elt)"))  # fmt: skip
    ok = (
        not stalled
        and rows == events
        and missing >= lost >= 0
        and missing - lost <= tolerance  # 0 lost in a run without broker kills
        and peaks.rss.get("kafka", 0) <= budget
        and scd2_ok
        and wrongly == 0
        and qualifying - suggested <= lost_other  # an order whose event a killed broker took
        and all(s == "success" for s in elt_states.values())
        and (bool(elt_states) or not elt or final - start < timedelta(days=1, minutes=30))
    )
    print("verdict:", "OK" if ok else "MISSED")
    return 0 if ok else 1
