"""`tillflow bench generator`: the scan generator's rate beside the broker's raw produce rate.

Both are measured in the same run, on the same events, into the same topic, through the same
producer settings: first the pre-encoded values alone (the broker and client limit), then the
whole generator (model + encoding + hashing + produce). A generate-only figure (no broker) shows
where the time goes.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from tillflow.config import KafkaConnection
from tillflow.domain.generation import DEFAULT_SEED
from tillflow.domain.generation.model import Catalog
from tillflow.jobs.generators.scans import CountingSink, KafkaSink, Progress, run_history

if TYPE_CHECKING:
    import numpy as np

#: A busy UTC hour (late morning on the East Coast) after a quiet one: the spill-over hour that
#: every window regenerates costs little, as it does in a long history run.
BENCH_HOUR: Final = datetime(2026, 3, 9, 15, tzinfo=UTC)
EVENTS_PER_STORE_IN_BENCH_HOUR: Final = 3_745


class CollectingSink:
    def __init__(self) -> None:
        self.values: list[bytes] = []
        self.stores: list[np.ndarray] = []

    def send(self, values: list[bytes], store_ids: np.ndarray) -> None:
        self.values.extend(values)
        self.stores.append(store_ids)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class BenchResult:
    events: int
    stores: int
    generate_only_per_s: float
    raw_produce_per_s: float
    generator_per_s: float

    @property
    def ratio(self) -> float:
        return self.generator_per_s / self.raw_produce_per_s if self.raw_produce_per_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 3)}

    def lines(self) -> list[str]:
        return [
            f"events per measurement      {self.events:>12,} ({self.stores} stores, one hour)",
            f"generate only (no broker)   {self.generate_only_per_s:>12,.0f} events/s",
            f"broker raw produce          {self.raw_produce_per_s:>12,.0f} events/s"
            "  (pre-encoded values, acked)",
            f"generator into the broker   {self.generator_per_s:>12,.0f} events/s",
            f"ratio generator / raw       {self.ratio:>12.2f}",
        ]


def bench_generator(
    connection: KafkaConnection,
    topic: str,
    events: int = 1_000_000,
    seed: int = DEFAULT_SEED,
    keep_topic: bool = False,
    progress: Progress | None = None,
) -> BenchResult:
    import numpy as np

    stores = max(1, round(events / EVENTS_PER_STORE_IN_BENCH_HOUR))
    catalog = Catalog.from_seed(seed, max_stores=stores)
    start, end = BENCH_HOUR, BENCH_HOUR + timedelta(hours=1)
    try:
        gen_only = run_history(catalog, seed, start, end, CountingSink(), progress=progress)

        collected = CollectingSink()
        run_history(catalog, seed, start, end, collected)
        values, store_ids = collected.values, np.concatenate(collected.stores)
        sink = KafkaSink(connection, topic)
        t0 = time.perf_counter()
        for i in range(0, len(values), 32_768):
            sink.send(values[i : i + 32_768], store_ids[i : i + 32_768])
        sink.close()
        raw_rate = len(values) / (time.perf_counter() - t0)
        del values, store_ids, collected

        full = run_history(
            catalog, seed, start, end, KafkaSink(connection, topic), progress=progress
        )
    finally:
        if not keep_topic:
            _delete_topic(connection, topic)
    return BenchResult(full.events, stores, gen_only.rate, raw_rate, full.rate)


def _delete_topic(connection: KafkaConnection, topic: str) -> None:
    """The broker keeps every message in memory: drop the bench's topic afterwards."""
    from tillflow.adapters import kafka

    admin = kafka.admin(connection)  # kept alive until the futures resolve
    for future in admin.delete_topics([topic]).values():
        with contextlib.suppress(Exception):  # best effort: a missing topic is fine
            future.result(10)
