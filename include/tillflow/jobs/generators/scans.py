"""Running the scan generator: history (as fast as possible) and live (wall clock), into a sink.

The events of a window are those of ``model.scans_between``; they are encoded in chunks
(``encoding.encode``), optionally mixed with late and malformed events (``--bad-share``), hashed
(SHA-256 over the newline-terminated values in produce order, so a window regenerated with the
same seed and options prints the same hash) and handed to a sink: Kafka, or one that only counts.
"""

from __future__ import annotations

import hashlib
import json
import queue
import sys
import threading
import time
import zlib
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from tillflow.adapters.broker_pressure import describe, read_pressure
from tillflow.config import KafkaConnection, Settings
from tillflow.domain.generation import encoding
from tillflow.domain.generation.model import (
    SCAN_ID_DTYPE,
    Catalog,
    HourBatch,
    Scans,
    epoch_ms,
    scans_between,
)
from tillflow.domain.generation.reference import rng

if TYPE_CHECKING:
    import numpy as np

T = TypeVar("T")
CHUNK: Final = 32_768
#: How far back a late event's time lies (hours): an offline till uploading its backlog.
LATE_HOURS: Final = (2.0, 48.0)
MALFORMED_KINDS: Final = (
    "truncated",
    "not_json",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "bad_timestamp",
    "unknown_version",
    "extra_field",
)


class ScanOutput(Protocol):
    """Where the generator sends its encoded scans (Kafka, or nowhere when only hashing)."""

    def send(self, values: list[bytes], store_ids: np.ndarray) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class CountingSink:
    """Keeps nothing: for hashing runs (``--dry-run``) and tests."""

    def __init__(self) -> None:
        self.events = 0

    def send(self, values: list[bytes], store_ids: np.ndarray) -> None:
        self.events += len(values)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


def partition_for_key(key: bytes, partitions: int) -> int:
    """librdkafka's default (``consistent_random``) partition of a non-empty key: CRC-32 mod n."""
    return zlib.crc32(key) % partitions


class KafkaSink:
    """Produces values keyed by store id, with the partition chosen as the default partitioner
    would (computed once per store: passing it explicitly roughly doubles the produce rate)."""

    def __init__(
        self,
        connection: KafkaConnection,
        topic: str,
        partitions: int | None = None,
        *,
        pressure_dir: Path | None = None,
        **overrides: Any,
    ) -> None:
        import numpy as np

        from tillflow.adapters import kafka

        self.topic = topic
        #: Where the local broker's keeper signals backpressure (default: the stack's run folder).
        self.pressure_dir = pressure_dir or Settings.from_env().run_dir
        self.held_seconds = 0.0
        self.errors: list[str] = []
        kafka.ensure_topics(connection, {topic: partitions} if partitions else [topic])
        self._producer = kafka.producer(
            connection,
            **{"delivery.report.only.error": True, "on_delivery": self._on_delivery, **overrides},
        )
        meta = self._producer.list_topics(topic, timeout=10)
        n_parts = len(meta.topics[topic].partitions)
        self._keys = np.empty(10_001, dtype=object)
        self._keys[:] = [str(i).encode() for i in range(10_001)]
        self._parts = np.array([partition_for_key(k, n_parts) for k in self._keys.tolist()])
        self.produced = 0

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None and len(self.errors) < 20:
            self.errors.append(str(err))

    def _hold(self) -> None:
        """Wait while the broker's keeper holds producers back (the broker at its memory budget,
        recycled once its consumers have read what it holds; or ingestion past its lag bound),
        with a progress line every 10 s. Holds of the lag bound come and go every few seconds
        when generation outruns ingestion: they print only once they last."""
        body = read_pressure(self.pressure_dir)
        if body is None:
            return
        self._producer.flush(120)  # what was sent counts before the consumers' catch-up
        started = time.monotonic()
        printed = False
        if not body.get("lag_bound"):
            print(describe(body, 0), file=sys.stderr, flush=True)
            printed = True
        last = started
        while body is not None:
            time.sleep(0.5)
            if time.monotonic() - last >= 10:
                last = time.monotonic()
                print(describe(body, last - started), file=sys.stderr, flush=True)
                printed = True
            body = read_pressure(self.pressure_dir)
        self.held_seconds += time.monotonic() - started
        if printed:
            print(f"producing again after {time.monotonic() - started:.0f}s held back",
                  file=sys.stderr, flush=True)  # fmt: skip

    def send(self, values: list[bytes], store_ids: np.ndarray) -> None:
        self._hold()
        produce, poll, topic = self._producer.produce, self._producer.poll, self.topic
        keys = self._keys[store_ids].tolist()
        parts = self._parts[store_ids].tolist()
        for value, key, part in zip(values, keys, parts, strict=True):
            try:
                produce(topic, value, key, part)
            except BufferError:
                while True:
                    poll(0.05)
                    try:
                        produce(topic, value, key, part)
                        break
                    except BufferError:
                        continue
        poll(0)
        self.produced += len(values)

    def flush(self) -> None:
        """Every send acknowledged by the broker (or an error naming what failed)."""
        remaining = self._producer.flush(120)
        if remaining:
            self.errors.append(f"{remaining} messages not delivered within 120 s")
        if self.errors:
            raise RuntimeError(f"produce to {self.topic} failed: {'; '.join(self.errors[:5])}")

    def close(self) -> None:
        self.flush()


@dataclass
class RunStats:
    events: int = 0  # everything sent, bad events included
    bad: int = 0
    hours: int = 0
    seconds: float = 0.0
    digest: Any = field(default_factory=hashlib.sha256, repr=False)
    last_event_ms: int = 0

    @property
    def sha256(self) -> str:
        return str(self.digest.hexdigest())

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "bad_events": self.bad,
            "hours": self.hours,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.rate),
            "sha256": self.sha256,
        }


Progress = Callable[[RunStats], None]


@dataclass(frozen=True)
class BadEvent:
    position: int  # inserted before the window's good event at this index
    store_id: int
    value: bytes
    kind: str


def _malformed(kind: str, good: bytes) -> bytes:
    doc = json.loads(good)
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "not_json":
        return b"SCAN;" + str(doc["store_id"]).encode() + b";" + str(doc["item_id"]).encode()
    if kind == "missing_field":
        doc.pop("item_id")
    elif kind == "wrong_type":
        doc["quantity"] = str(doc["quantity"])
    elif kind == "out_of_range":
        doc["checkstand_id"] = 99
    elif kind == "bad_timestamp":
        doc["scanned_at"] = doc["scanned_at"].replace("T", " ").replace("Z", "+25:00")
    elif kind == "unknown_version":
        doc["schema_version"] = 2
    elif kind == "extra_field":
        doc["unit_price"] = "9.99"
    return json.dumps(doc, separators=(",", ":")).encode()


def bad_events(seed: int, batch: HourBatch, share: float) -> list[BadEvent]:
    """Late and malformed events to mix into a window (half each), deterministic per window."""
    import numpy as np

    n = len(batch.scans)
    if share <= 0 or n == 0:
        return []
    first_ms = int(batch.scans.scanned_at_ms[0])
    r = rng(seed, "bad", epoch_ms(batch.hour_start) // 1000, first_ms)
    k = int(r.binomial(n, min(share, 1.0)))
    if k == 0:
        return []
    base = np.sort(r.integers(0, n, k))
    late = r.random(k) < 0.5
    kinds = r.integers(0, len(MALFORMED_KINDS), k)
    copies = batch.scans.take(base)
    shift = (r.uniform(*LATE_HOURS, k) * 3_600_000).astype(np.int64)
    new_ids = r.bit_generator.random_raw(2 * k).view(SCAN_ID_DTYPE)
    late_scans = Scans(
        np.where(late, new_ids, copies.scan_id),
        copies.store_id,
        copies.checkstand_id,
        copies.item_id,
        copies.quantity,
        np.where(late, copies.scanned_at_ms - shift, copies.scanned_at_ms),
    )
    values = encoding.split(encoding.encode(late_scans))
    out = []
    for i, (pos, is_late, kind, value) in enumerate(
        zip(base.tolist(), late.tolist(), kinds.tolist(), values, strict=True)
    ):
        store = int(copies.store_id[i])
        if is_late:
            out.append(BadEvent(pos, store, value, "late"))
        else:
            name = MALFORMED_KINDS[kind]
            out.append(BadEvent(pos, store, _malformed(name, value), name))
    return out


@dataclass(frozen=True)
class Chunk:
    """Encoded events ready to send, in order, with what the stats need."""

    values: list[bytes]
    stores: np.ndarray
    blob: bytes  # the values, newline-terminated: what the hash covers
    bad: int
    last_event_ms: int


def encode_chunk(scans: Scans, bad: list[BadEvent], offset: int) -> Chunk:
    """Encode, and mix in the bad events positioned in this chunk (``offset`` = its first index)."""
    import numpy as np

    blob = encoding.encode(scans)
    values = encoding.split(blob)
    stores = scans.store_id
    if bad:
        mixed: list[bytes] = []
        store_list: list[int] = []
        prev = 0
        plain = stores.tolist()
        for b in bad:
            at = b.position - offset
            mixed.extend(values[prev:at])
            store_list.extend(plain[prev:at])
            mixed.append(b.value)
            store_list.append(b.store_id)
            prev = at
        mixed.extend(values[prev:])
        store_list.extend(plain[prev:])
        values, stores = mixed, np.asarray(store_list, dtype=np.int32)
        blob = b"\n".join(values) + b"\n"
    last = int(scans.scanned_at_ms[-1]) if len(scans) else 0
    return Chunk(values, stores, blob, len(bad), last)


def chunks(scans: Scans, lo: int, hi: int, bad: list[BadEvent]) -> Iterator[Chunk]:
    """Events ``[lo, hi)`` of a window in chunks, each with the bad events positioned in it
    (those positioned after the window's last event go with its last chunk)."""
    positions = [b.position for b in bad]
    for start in range(lo, hi, CHUNK):
        stop = min(start + CHUNK, hi)
        upper = stop + 1 if stop == len(scans) else stop
        chunk_bad = bad[bisect_left(positions, start) : bisect_left(positions, upper)]
        yield encode_chunk(scans.take(slice(start, stop)), chunk_bad, start)


def _send(chunk: Chunk, sink: ScanOutput, stats: RunStats, hashed: bool = False) -> None:
    if not hashed:
        stats.digest.update(chunk.blob)
    sink.send(chunk.values, chunk.stores)
    stats.events += len(chunk.values)
    stats.bad += chunk.bad
    stats.last_event_ms = chunk.last_event_ms or stats.last_event_ms


_DONE: Final = object()


def prefetch(items: Iterator[T], depth: int = 4) -> Iterator[T]:
    """Run ``items`` in a background thread, ``depth`` items ahead of the consumer.

    numpy and hashlib release the GIL on large arrays, so generating and encoding the next chunks
    overlaps with the produce loop. An exception in the thread is raised in the consumer; a
    consumer that stops early stops the thread.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Failure(exc))

    thread = threading.Thread(target=work, name="scan-generator", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)


@dataclass(frozen=True)
class _Failure:
    exc: BaseException


def history_chunks(
    catalog: Catalog,
    seed: int,
    start: datetime,
    end: datetime,
    bad_share: float,
    digest: Any,
) -> Iterator[tuple[Chunk, bool]]:
    """(chunk, last of its hour) for every event of the window, hashed into ``digest`` in order."""
    for batch in scans_between(catalog, seed, start, end):
        bad = bad_events(seed, batch, bad_share)
        n = len(batch.scans)
        last = (n - 1) // CHUNK
        for i, chunk in enumerate(chunks(batch.scans, 0, n, bad)):
            digest.update(chunk.blob)
            yield chunk, i == last
        if n == 0:
            yield Chunk([], batch.scans.store_id, b"", 0, 0), True


def run_history(
    catalog: Catalog,
    seed: int,
    start: datetime,
    end: datetime,
    sink: ScanOutput,
    bad_share: float = 0.0,
    progress: Progress | None = None,
) -> RunStats:
    """Every event of ``[start, end)`` as fast as the sink takes them; flushes the sink.

    Generation, encoding and hashing run one thread ahead of the sink (see ``prefetch``)."""
    stats = RunStats()
    clock = time.perf_counter
    t0 = clock()
    items = history_chunks(catalog, seed, start, end, bad_share, stats.digest)
    for chunk, hour_done in prefetch(items):
        if chunk.values:
            _send(chunk, sink, stats, hashed=True)
        stats.hours += int(hour_done)
        stats.seconds = clock() - t0
        if progress:
            progress(stats)
    sink.close()
    stats.seconds = clock() - t0
    if progress:
        progress(stats)
    return stats


def run_live(
    catalog: Catalog,
    seed: int,
    sink: ScanOutput,
    start: datetime,
    duration_s: float,
    speedup: float = 1.0,
    max_rate: float | None = None,
    bad_share: float = 0.0,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
    checkpoint: Callable[[int], None] | None = None,
    checkpoint_every: float = 5.0,
    until: datetime | None = None,
) -> RunStats:
    """Events released as a simulated clock reaches them.

    The simulated clock starts at ``start`` and runs ``speedup`` times faster than the wall
    clock; at most ``max_rate`` events per wall second leave (the simulated time then lags);
    the run stops after ``duration_s`` wall seconds. The events are those history mode makes for
    the same window, so live output can be checked against a regenerated window.

    Resuming (``tillflow run``): every ``checkpoint_every`` seconds, and once more at the end,
    the sink is flushed and ``checkpoint(ms)`` told an instant such that every event before it
    was sent and acknowledged and none at or after it was; a run started at that instant sends
    exactly the rest. ``stop`` ends the run early, at such an instant.

    ``until`` caps the simulated window (a plan's end): a run given more wall time than its
    window needs sends the window, then waits out its duration, and its last mark is ``until``.
    """
    import numpy as np

    if duration_s <= 0 or speedup <= 0:
        raise ValueError("duration and speedup must be positive")
    stats = RunStats()
    start_ms = epoch_ms(start)
    sim_end = start + timedelta(seconds=duration_s * speedup)
    if until is not None:
        sim_end = min(sim_end, until)
    wall0 = last_checkpoint = clock()
    done = False
    mark = start_ms  # every event before it was sent (the resume instant)
    for batch in scans_between(catalog, seed, start, sim_end):
        scans = batch.scans
        times = scans.scanned_at_ms
        bad = bad_events(seed, batch, bad_share)
        i, n = 0, len(scans)
        while i < n:
            elapsed = clock() - wall0
            finishing = elapsed >= duration_s or (stop is not None and stop.is_set())
            if i == 0 or times[i] > times[i - 1]:  # nothing of times[i]'s millisecond sent yet
                mark = int(times[i])
                if checkpoint is not None and clock() - last_checkpoint >= checkpoint_every:
                    sink.flush()
                    checkpoint(mark)
                    last_checkpoint = clock()
                if finishing:
                    done = True
                    break
            elif finishing:
                # Ending inside a millisecond: send the rest of it, so the run ends clean.
                j = int(np.searchsorted(times, times[i - 1], side="right"))
                for chunk in chunks(scans, i, j, bad):
                    _send(chunk, sink, stats)
                i = j
                continue
            sim_now = start_ms + int(elapsed * speedup * 1000)
            due = int(np.searchsorted(times, sim_now, side="right"))
            if max_rate is not None and max_rate > 0:
                due = min(due, i + max(0, int(max_rate * elapsed) - stats.events))
            j = min(due, i + CHUNK)
            if j <= i:
                waits = [0.05, max(0.0, duration_s - elapsed)]
                if int(times[i]) > sim_now:  # the next event is not due yet
                    waits.append((int(times[i]) - sim_now) / 1000 / speedup)
                elif max_rate:  # it is due, but the rate cap holds it back
                    waits.append((stats.events + 1) / max_rate - elapsed)
                sleep(max(0.0005, min(waits)))
                continue
            for chunk in chunks(scans, i, j, bad):
                _send(chunk, sink, stats)
                stats.seconds = clock() - wall0
                if progress:
                    progress(stats)
            i = j
        if i == n and n:
            mark = int(times[n - 1]) + 1
        stats.hours += 1
        if done:
            break
    else:  # the whole window was sent: every event before its end
        mark = max(mark, epoch_ms(sim_end))
        if checkpoint is not None:
            # Told now, not after the wait below: a window whose last hours hold no scan
            # (stores closed) would otherwise show its last scan's instant for that long.
            sink.flush()
            checkpoint(mark)
    remaining = duration_s - (clock() - wall0)
    if remaining > 0 and not done and not (stop is not None and stop.is_set()):
        sleep(remaining)  # the window is a wall-clock window: it lasts its duration
    sink.close()
    if checkpoint is not None:
        checkpoint(mark)
    stats.seconds = clock() - wall0
    return stats


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
