"""The local broker within a memory budget.

Tansu with memory storage keeps every record it was sent and never frees it. Measured on this
machine (0.6, 150-byte records): ``DeleteRecords`` is not implemented (the request panics, the
connection resets, nothing is freed); ``retention.ms`` / ``retention.bytes`` are accepted and
ignored; a deleted topic's memory goes back to the OS at once, and a restart returns everything.
Deleting a topic while producers write to it is not safe, so the budget is kept by *recycling*
the broker once everything it holds has been read:

1. the broker's RSS reaches ``PRESSURE_AT`` of the budget (``TILLFLOW_KAFKA_MEMORY_BUDGET_MB``),
   or a partition of ingestion's topics has grown too deep to serve (below): the keeper writes
   ``run/kafka.pressure``; the generators see it before each send, flush and
   wait, with a progress line saying why (backpressure, not a dead broker). The RSS is watched
   every ``WATCH_EVERY`` seconds apart from the supervisor's looks (``watch``): producers at full
   speed put megabytes a second into the broker, more than the budget's headroom between two
   looks when the budget is small;
2. it waits until the platform's consumers have read everything the broker holds: ingestion's
   commit log (job ``ingest``, every platform topic it reads) and the suggestion service's group
   (the order topic), at the broker's end offsets;
3. once nothing is unread it stops CDC (its offsets are durable: it resumes where it stopped;
   its changes wait in the replication slot), without waiting for the broker to stand still:
   orders keep arriving through the API's outbox and CDC while the generators wait. It waits
   again until CDC's last changes are read and nothing new arrived since its last look (a
   producer may still be finishing a send); then,
   checking once more right before, it stops the suggestion service and restarts the broker (a
   new incarnation: a new cluster id, the platform's topics created again), and starts CDC and
   the suggestion service again. The supervisor leaves the services the keeper stopped alone;
4. it removes the pressure file: the generators go on. A pressure file whose keeper is gone
   (the supervisor stopped) is removed at the keeper's start and ignored by the generators.

Depth: the broker lists a partition's stored batches on every fetch and answers empty when
the listing outlasts the fetch's wait (``adapters.kafka_profiles``; ``tillflow bench
fetch-depth``). A live stream adds up to 20 batches a second per partition, so in hours a
partition outgrows the readers' wait although memory stays far under budget: the readers stall
with the broker ahead, and every fetch costs the broker a listing of the whole partition.
Every ``DEPTH_EVERY`` seconds the keeper reads the last record of each partition with a
``DEPTH_PROBE_WAIT_MS`` wait, half the readers'; one not served starts the same recycle.

Lag: a broker killed outright loses what no consumer had read yet (counted in
``ops.ingest_losses``, not avoided). While the continuous ingestion is wanted, the keeper holds
producers back whenever ingestion has more than ``lag_bound`` records unread
(``TILLFLOW_INGEST_LAG_BOUND``; against the end offsets the note thread last read, so a look
adds only a read of ingestion's commit log), and lets them go once it is down to half of it:
that bounds what a kill can take to about the bound, whatever the sources' rate against
ingestion's. This
hold restarts nothing, so it is also checked at looks that find a service down (``tick_lag``),
when recycles wait: the lag grows fastest while ingestion itself restarts.

Nothing a consumer had not read is dropped; ingestion starts the new incarnation's epoch with
nothing lost (``ops.ingest_losses`` stays 0). The topic ``order_suggestion_accepted`` has no
consumer in the platform: what it holds at a recycle is not kept (its orders' suggestion lines
are in OLTP and reach the warehouse through CDC).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tillflow import config
from tillflow.adapters.broker_pressure import pressure_file
from tillflow.config import Settings
from tillflow.runtime import process
from tillflow.runtime.services import Service

log = logging.getLogger("tillflow.broker")

#: The share of the budget at which producers are held back and the recycle begins (what they
#: had in flight still fits under the budget).
PRESSURE_AT = 0.8
#: How often the broker's RSS is compared with the budget between the supervisor's looks.
WATCH_EVERY = 0.2
#: How often the broker's end offsets are noted for ingestion's loss count (``note_ends``):
#: what a killed broker acked after the last note is the part of a loss that goes uncounted.
NOTE_EVERY = 0.5
#: The depth probe: how often, the fetch wait it reads each partition's last record with (half
#: the plain reader's ``kafka_profiles.READER_WAIT_MS``, so the broker restarts before it stalls;
#: the Spark readers raise their own wait past a stall), and how long it tries.
DEPTH_EVERY = 30.0
DEPTH_PROBE_WAIT_MS = 50
DEPTH_PROBE_TIMEOUT = 3.0
#: The suggestion service's group (``jobs.suggestions.consumer.ServiceConfig.group_id``).
SUGGESTIONS_GROUP = "tillflow-suggestions"

TopicPartition = tuple[str, int]


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def unread_total(ends: Mapping[TopicPartition, int], read: Mapping[TopicPartition, int]) -> int:
    """Records of ``ends`` (end offset per partition) a consumer at ``read`` has not passed."""
    return sum(max(0, end - read.get(tp, 0)) for tp, end in ends.items())


@dataclass
class Holdings:
    """What the broker holds that each consumer has not read yet, and its end offsets."""

    unread: dict[str, int] = field(default_factory=dict)
    ends: dict[TopicPartition, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.unread.values())

    def describe(self) -> str:
        parts = [f"{name} {n:,}" for name, n in self.unread.items() if n]
        return ", ".join(parts) if parts else "nothing"


def holdings(settings: Settings, suggestions: bool) -> Holdings:
    """Unread records per consumer, against the broker's end offsets (from fetch responses)."""
    from tillflow.adapters import kafka
    from tillflow.jobs.ingest.jobargs import default_topics

    connection = settings.kafka.connection
    ingest_topics = default_topics()
    ends = kafka.end_offsets(connection, ingest_topics)
    result = Holdings(
        {"ingestion": unread_total(ends, ingestion_read(settings, _cluster(connection)))},
        dict(ends),
    )
    if suggestions:
        orders = {tp: o for tp, o in ends.items() if tp[0] == config.TOPICS.orders}
        result.unread["suggestions"] = unread_total(
            orders, kafka.group_committed(connection, SUGGESTIONS_GROUP, list(orders))
        )
    return result


def too_deep(settings: Settings, ends: Mapping[TopicPartition, int]) -> list[TopicPartition]:
    """The partitions of ``ends`` (ingestion's topics' end offsets, as last noted) whose last
    record a fetch with the probe's wait does not get (see the module's description)."""
    from tillflow.adapters import kafka

    held = {tp: o for tp, o in ends.items() if o > 0}
    served = kafka.tails_served(
        settings.kafka.connection, held, DEPTH_PROBE_WAIT_MS, DEPTH_PROBE_TIMEOUT
    )
    return sorted(set(held) - served)


def _cluster(connection: config.KafkaConnection) -> str:
    from tillflow.adapters import kafka

    return kafka.cluster_id(kafka.admin(connection))


def ingestion_read(settings: Settings, cluster: str) -> dict[TopicPartition, int]:
    """Ingestion's commit log in the broker incarnation ``cluster`` (broker offsets; a partition
    committed in an older incarnation has read nothing of this one)."""
    import psycopg

    from tillflow.domain.events.coordinates import broker_offset, epoch_of

    dsn = settings.postgres.dsn(config.DB_WAREHOUSE, settings.postgres.ingest)
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            row = conn.execute(
                "select epoch from ops.broker_epochs where cluster_id = %s", (cluster,)
            ).fetchone()
            if row is None:
                return {}
            rows = conn.execute(
                "select kafka_topic, kafka_partition, next_offset from ops.ingest_offsets"
                " where job = 'ingest'"
            ).fetchall()
    except psycopg.errors.UndefinedTable:
        return {}
    return {(t, p): broker_offset(n) for t, p, n in rows if epoch_of(n) == row[0]}


@dataclass
class BrokerKeeper:
    """Called by the supervisor at each look (``tick``); see the module's description."""

    settings: Settings
    services: Mapping[str, Service]
    budget_bytes: int
    #: Records ingestion may have unread before producers wait (0: no bound; see the module's
    #: description).
    lag_bound: int = 0
    clock: Callable[[], float] = time.time
    pressure_since: float | None = None
    #: The broker's pid when producers were held back: another pid at a later look is a broker
    #: that died and was started again meanwhile (empty: nothing left to recycle).
    pressure_pid: int | None = None
    recycles: int = 0
    #: Since when producers wait for ingestion to catch up (the lag hold), and how often they did.
    lag_since: float | None = None
    lag_holds: int = 0
    _lag_unreadable: bool = field(default=False, repr=False)
    #: Recycles begun because a partition grew too deep (the rest: memory).
    depth_recycles: int = 0
    peak_rss: int = 0
    last: dict[str, Any] = field(default_factory=dict)
    #: Services the keeper stopped for a recycle: the supervisor leaves them alone.
    paused: set[str] = field(default_factory=set)
    _last_ends: dict[TopicPartition, int] | None = None
    #: A look (``tick``) and the watch never run at once: a recycle is not undone by a watch
    #: that read the old broker's RSS.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: The end offsets seen at the looks and not yet written (``note_ends``), those written,
    #: and each incarnation's epoch, per cluster id; the admin client the looks ask.
    _unnoted: dict[str, dict[TopicPartition, int]] = field(default_factory=dict, repr=False)
    _noted: dict[str, dict[TopicPartition, int]] = field(default_factory=dict, repr=False)
    _epochs: dict[str, int] = field(default_factory=dict, repr=False)
    _admin: Any = field(default=None, repr=False)
    #: The depth probe (``too_deep``; a test passes its own) and what it last found, for the
    #: next look (``depth_watch`` writes it, ``_tick`` takes it).
    depth_probe: Callable[[Settings, Mapping[TopicPartition, int]], list[TopicPartition]] = field(
        default=too_deep, repr=False
    )
    #: The end offsets ``note_ends`` read last and the broker they are of (the probe's input).
    last_ends: tuple[str, dict[TopicPartition, int]] | None = field(default=None, repr=False)
    deep: list[TopicPartition] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        # A file an earlier keeper left (its supervisor stopped mid-recycle) holds nobody back.
        pressure_file(self.run_dir).unlink(missing_ok=True)

    @property
    def run_dir(self) -> Path:
        return self.settings.run_dir

    def _write_pressure(self, rss: int, held: Holdings, step: str) -> None:
        body: dict[str, Any] = {
            "pid": os.getpid(),
            "since": self.pressure_since,
            "rss": rss,
            "budget": self.budget_bytes,
            "unread": held.unread,
            "step": step,
        }
        if self.pressure_since is None and self.lag_since is not None:  # the lag hold's
            body.update(since=self.lag_since, lag_bound=self.lag_bound)
        tmp = pressure_file(self.run_dir).with_suffix(".tmp")
        tmp.write_text(json.dumps(body))
        tmp.replace(pressure_file(self.run_dir))

    def release(self) -> None:
        """Let producers go and start what the keeper stopped (the supervisor is stopping)."""
        self._start_paused()
        pressure_file(self.run_dir).unlink(missing_ok=True)

    def _quiet(self, held: Holdings) -> bool:
        """Nothing unread, and nothing new since the last look (no producer mid-send)."""
        quiet = held.total == 0 and held.ends == self._last_ends
        self._last_ends = held.ends
        return quiet

    def watch(self, stop: threading.Event, every: float = WATCH_EVERY) -> None:
        """Hold producers back the moment the broker crosses ``PRESSURE_AT`` of its budget,
        until ``stop``; the next look (``tick``) does the rest."""
        while not stop.wait(every):
            try:
                self.watch_once()
            except Exception:  # a failed reading must not end the watch
                log.exception("broker watch failed; it reads again")

    def watch_once(self) -> bool:
        """One reading; True when it began holding producers back."""
        if not self._lock.acquire(blocking=False):
            return False  # a look is under way (maybe a recycle): it decides
        try:
            broker = self.services["kafka"]
            pid = broker.pid()
            if self.pressure_since is not None or pid is None or broker.external:
                return False
            rss = rss_bytes(pid)
            if rss < PRESSURE_AT * self.budget_bytes:
                return False
            self.pressure_since, self.pressure_pid = self.clock(), pid
            self.lag_since = None  # the recycle's hold replaces it
            self.peak_rss = max(self.peak_rss, rss)
            self._write_pressure(rss, Holdings(), "waiting for the keeper's next look")
            log.warning(
                "broker at %d MB of its %d MB budget: producers wait; the next look waits for"
                " the consumers to read what it holds, then it restarts empty",
                rss >> 20, self.budget_bytes >> 20,
            )  # fmt: skip
            return True
        finally:
            self._lock.release()

    def tick(self, wanted: Iterable[str]) -> None:
        with self._lock:
            self._tick(wanted)

    def tick_lag(self, wanted: Iterable[str]) -> None:
        """The lag bound alone, at a look that found a service down or still starting (no
        recycle then): the continuous ingestion down is when its lag grows fastest."""
        with self._lock:
            broker = self.services["kafka"]
            pid = broker.pid()
            if pid is None or broker.external or self.pressure_since is not None:
                return
            self._bound_lag(rss_bytes(pid), set(wanted))

    def note(self, stop: threading.Event, every: float = NOTE_EVERY) -> None:
        """Note the broker's end offsets every ``every`` seconds until ``stop`` (a thread of its
        own: reading them waits on the broker, and neither the looks nor the watch must wait
        with it; only this thread touches what ``note_ends`` keeps)."""
        failing = False
        while not stop.wait(every):
            try:
                self.note_ends()
                failing = False
            except Exception as exc:  # the database or the broker may be restarting
                if not failing:
                    log.info("broker end offsets not noted: %s (noted again once they can be)", exc)
                failing = True

    def note_ends(self) -> None:
        """Record the broker's end offsets for ingestion's topics in its epoch's watermarks,
        every ``NOTE_EVERY`` seconds (``note``). A broker killed before ingestion planned a batch
        of what it held (a Spark session still starting, a long first batch, ingestion down)
        would otherwise take those records uncounted; now at most what it took between two
        notes goes uncounted. Kept in memory while the database is away and written at the
        next note that reaches it."""
        from tillflow.adapters import kafka
        from tillflow.jobs.ingest.epochs import epoch_for, note_watermarks
        from tillflow.jobs.ingest.jobargs import default_topics

        broker = self.services["kafka"]
        if broker.external or broker.pid() is None:
            return
        connection = self.settings.kafka.connection
        if self._admin is None:
            self._admin = kafka.admin(connection)
        cluster = kafka.cluster_id(self._admin)
        ends = kafka.end_offsets(connection, default_topics())
        if kafka.cluster_id(self._admin) != cluster:
            return  # the broker restarted while its offsets were read: they may be the new one's
        self.last_ends = (cluster, ends)
        written = self._noted.setdefault(cluster, {})
        grown = {tp: o for tp, o in ends.items() if o > written.get(tp, 0)}
        if grown:
            self._unnoted.setdefault(cluster, {}).update(grown)
        dsn = self.settings.postgres.dsn(config.DB_WAREHOUSE, self.settings.postgres.ingest)
        # Oldest first: an incarnation that went away while the database was down is numbered
        # before the one that replaced it.
        for old in list(self._unnoted):
            if old not in self._epochs:
                self._epochs[old] = epoch_for(dsn, old)
            note_watermarks(dsn, self._epochs[old], self._unnoted[old])
            self._noted.setdefault(old, {}).update(self._unnoted.pop(old))

    def _tick(self, wanted: Iterable[str]) -> None:
        broker = self.services["kafka"]
        pid = broker.pid()
        if pid is None or broker.external:
            return
        rss = rss_bytes(pid)
        self.peak_rss = max(self.peak_rss, rss)
        self.last = {"rss": rss, "budget": self.budget_bytes, "peak_rss": self.peak_rss,
                     "recycles": self.recycles, "depth_recycles": self.depth_recycles,
                     "lag_bound": self.lag_bound, "lag_holds": self.lag_holds}  # fmt: skip
        if self.pressure_since is not None and self.pressure_pid not in (None, pid):
            log.warning(
                "broker restarted (pid %s, was %s) while producers waited for its recycle: it"
                " starts empty, so nothing is left to recycle; producers go on",
                pid, self.pressure_pid,
            )  # fmt: skip
            self._start_paused()
            self.pressure_since = self.pressure_pid = self._last_ends = None
            pressure_file(self.run_dir).unlink(missing_ok=True)
            return
        names = set(wanted)
        reason = f"{rss >> 20} MB of its {self.budget_bytes >> 20} MB budget"
        by_depth = False
        if self.pressure_since is None and rss < PRESSURE_AT * self.budget_bytes:
            deep, self.deep = self.deep, []
            if not deep:
                self._bound_lag(rss, names)
                return
            reason = (
                f"{len(deep)} partition(s) deeper than a {DEPTH_PROBE_WAIT_MS} ms fetch can list,"
                f" e.g. {deep[0][0]}[{deep[0][1]}]"
            )
            by_depth = True
        suggestions = "suggestions" in names and (
            "suggestions" in self.paused or self.services["suggestions"].running()
        )
        held = holdings(self.settings, suggestions)
        self.last["unread"] = held.unread
        if self.pressure_since is None:
            self.pressure_since, self.pressure_pid = self.clock(), pid
            self.lag_since = None  # the recycle's hold replaces it
            if by_depth:
                self.depth_recycles += 1
                self.last["depth_recycles"] = self.depth_recycles
            log.warning(
                "broker at %s: producers wait until the consumers have read what it holds"
                " (%s), then it restarts empty",
                reason, held.describe(),
            )  # fmt: skip
        cdc_stopped = "cdc" in self.paused
        step = "waiting for consumers" + (" (CDC stopped)" if cdc_stopped else "")
        self._write_pressure(rss, held, step)
        quiet = self._quiet(held)
        if held.total:
            return
        cdc = self.services.get("cdc")
        if not cdc_stopped and cdc is not None and "cdc" in names and cdc.running():
            # Read up to now: CDC stops before the broker must stand still, because orders keep
            # arriving through the API (outbox -> CDC) while the generators wait, so the ends
            # would never stop moving with it running. Its later changes wait in the slot.
            with process.service_lock(self.run_dir, "cdc"):
                self.paused.add("cdc")
                cdc.stop()
            self._last_ends = None
            return
        if quiet:
            self._recycle(rss, suggestions)

    def _bound_lag(self, rss: int, names: set[str]) -> None:
        """Hold producers back while ingestion has more than ``lag_bound`` records unread, until
        it is down to half of it (see the module's description)."""
        if self.lag_bound <= 0 or "ingest" not in names:
            if self.lag_since is not None:
                self._end_lag_hold("ingestion is no longer wanted")
            return
        noted = self.last_ends  # the note thread's, at most NOTE_EVERY old
        if noted is None:
            return  # nothing noted yet: the next look
        cluster, ends = noted
        try:
            unread = unread_total(ends, ingestion_read(self.settings, cluster))
        except Exception as exc:  # the database restarting: the hold stays as is
            if not self._lag_unreadable:
                log.info("ingestion's lag not read: %s (read again at each look)", exc)
            self._lag_unreadable = True
            return
        self._lag_unreadable = False
        self.last["unread"] = {"ingestion": unread}
        if self.lag_since is None and unread > self.lag_bound:
            self.lag_since = self.clock()
            self.lag_holds += 1
            self.last["lag_holds"] = self.lag_holds
            log.info(
                "ingestion has %s records unread, past its bound of %s: producers wait until"
                " it is down to %s", f"{unread:,}", f"{self.lag_bound:,}",
                f"{self.lag_bound // 2:,}",
            )  # fmt: skip
        if self.lag_since is None:
            return
        if unread <= self.lag_bound // 2:
            self._end_lag_hold(f"ingestion caught up to {unread:,} unread")
            return
        self._write_pressure(
            rss,
            Holdings({"ingestion": unread}),
            f"waiting for ingestion to be down to {self.lag_bound // 2:,} unread",
        )

    def _end_lag_hold(self, why: str) -> None:
        log.info("producers go on after %.0fs: %s", self.clock() - (self.lag_since or 0), why)
        self.lag_since = None
        pressure_file(self.run_dir).unlink(missing_ok=True)

    def depth_watch(self, stop: threading.Event, every: float = DEPTH_EVERY) -> None:
        """Probe the partitions' depth every ``every`` seconds until ``stop``, for the next look
        (a thread of its own: a probe waits on the broker for up to seconds, and neither the
        looks nor the watch must wait with it)."""
        while not stop.wait(every):
            pid = self.services["kafka"].pid()
            found = self.probe_depth()
            if found and self.services["kafka"].pid() == pid:  # not a broker recycled meanwhile
                self.deep = found

    def probe_depth(self) -> list[TopicPartition]:
        """The partitions too deep to serve (``depth_probe``), or none while a recycle is under
        way, with an external broker, or when the broker cannot be asked."""
        broker = self.services["kafka"]
        if broker.external or broker.pid() is None or self.pressure_since is not None:
            return []
        try:
            noted = self.last_ends
            if noted is None:
                return []  # nothing noted yet: the next probe
            return self.depth_probe(self.settings, noted[1])
        except Exception as exc:  # the broker may be restarting: the next probe tells
            log.info("broker depth not probed: %s", exc)
            return []

    def _recycle(self, rss: int, suggestions: bool) -> None:
        # Once more, right before: nothing may have arrived since the last look.
        if not self._quiet(holdings(self.settings, suggestions)):
            return
        self._write_pressure(rss, Holdings(), "restarting the broker")
        if suggestions and "suggestions" not in self.paused:
            with process.service_lock(self.run_dir, "suggestions"):
                self.paused.add("suggestions")
                self.services["suggestions"].stop()
        broker = self.services["kafka"]
        with process.service_lock(self.run_dir, "kafka"):
            broker.stop()
            broker.start()
        process.wait_until(broker.healthy, broker.health_timeout, "kafka", broker.log_file)
        broker.on_ready()
        self._start_paused()
        self.recycles += 1
        log.warning(
            "broker recycled at %d MB (budget %d MB), recycle %d; held back for %.0fs",
            rss >> 20, self.budget_bytes >> 20, self.recycles,
            self.clock() - (self.pressure_since or self.clock()),
        )  # fmt: skip
        self.pressure_since = self.pressure_pid = self._last_ends = None
        pressure_file(self.run_dir).unlink(missing_ok=True)

    def _start_paused(self) -> None:
        for name in sorted(self.paused):
            service = self.services[name]
            with process.service_lock(self.run_dir, name):
                if service.pid() is None:
                    service.preflight()
                    service.start()
            self.paused.discard(name)
