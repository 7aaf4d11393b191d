"""Broker incarnations as ingestion sees them: the epoch of the broker it reads, what each
incarnation held, and what a lost incarnation took with it (``ops.broker_epochs``,
``ops.ingest_losses``; the offsets are ``tillflow.domain.events.coordinates``'s).

- ``epoch_for(dsn, cluster_id)``: the epoch of an incarnation, registering a new one as the next
  epoch (the first ever is 0).
- ``note_watermarks``: the end offsets ingestion saw in an incarnation (only ever raised).
- ``settle``: a commit log's partitions that belong to an older epoch than the broker's are where
  a new incarnation starts from 0; what the old one held past the commit (its last seen end
  offset minus the commit) is counted once per job, epoch and partition, and never read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping

from tillflow.domain.events.coordinates import broker_offset, epoch_of, virtual
from tillflow.jobs.ingest.sink import DriverDb, driver_db

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


def _key(tp: TopicPartition) -> str:
    return f"{tp[0]}/{tp[1]}"


def epoch_for(dsn: str, cluster_id: str) -> int:
    rows = driver_db(dsn).execute(
        "select epoch from ops.broker_epochs where cluster_id = %s", (cluster_id,)
    )
    if rows:
        return int(rows[0][0])
    import psycopg

    # One transaction, its lock taken before it reads: two readers meeting new brokers at once
    # number them one after the other.
    with psycopg.connect(dsn) as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('tillflow_broker_epochs'))")
        row = conn.execute(
            "insert into ops.broker_epochs (epoch, cluster_id)"
            " select coalesce(max(epoch) + 1, 0), %s from ops.broker_epochs"
            " on conflict (cluster_id) do update set updated_at = now()"
            " returning epoch",
            (cluster_id,),
        ).fetchone()
    assert row is not None
    epoch = int(row[0])
    log.warning("broker incarnation %s is epoch %d", cluster_id, epoch)
    return epoch


def note_watermarks(dsn: str, epoch: int, ends: Mapping[TopicPartition, int]) -> None:
    """Raise the epoch's recorded end offsets (broker offsets) to ``ends`` where they are higher."""
    if not ends:
        return
    driver_db(dsn).execute(
        "update ops.broker_epochs b set updated_at = now(), high_watermarks ="
        " (select jsonb_object_agg(k, greatest(coalesce((b.high_watermarks ->> k)::bigint, 0),"
        "   v::bigint)) from jsonb_each_text(b.high_watermarks || %s::jsonb) as e(k, v))"
        " where epoch = %s",
        (json.dumps({_key(tp): int(o) for tp, o in ends.items()}), epoch),
    )


def settle(
    dsn: str,
    job: str,
    epoch: int,
    committed: Mapping[TopicPartition, int],
    topics: Iterable[str] = (),
) -> dict[TopicPartition, int]:
    """The commit log as a reader of incarnation ``epoch`` must start from: partitions committed
    in an older epoch start at ``virtual(epoch, 0)``. What each older incarnation held of the
    job's partitions (``topics``, and every committed one) past the commit is counted in
    ``ops.ingest_losses`` (once per job, epoch and partition): a partition committed in epoch 2
    counts epoch 2's records past the commit and all of epoch 3's, if 3 came and went unread."""
    db = driver_db(dsn)
    floor = min((epoch_of(v) for v in committed.values()), default=epoch)
    if floor >= epoch and not topics:
        return dict(committed)
    marks = {
        int(e): dict(w or {})
        for e, w in db.execute(
            "select epoch, high_watermarks from ops.broker_epochs"
            " where epoch < %s and epoch >= %s and high_watermarks <> '{}'::jsonb",
            (epoch, floor if committed else 0),
        )
    }
    wanted = set(topics)
    for old, held_by_tp in sorted(marks.items()):
        for key, held in held_by_tp.items():
            topic, _, part = key.rpartition("/")
            tp = (topic, int(part))
            done_v = committed.get(tp)
            if done_v is None and topic not in wanted:
                continue
            if done_v is not None and epoch_of(done_v) > old:
                continue  # read in a later epoch: this one was settled before
            done = broker_offset(done_v) if done_v is not None and epoch_of(done_v) == old else 0
            _count(db, job, old, tp, done, int(held) - done)
    return {tp: max(v, virtual(epoch, 0)) for tp, v in committed.items()}


def _count(db: DriverDb, job: str, epoch: int, tp: TopicPartition, first: int, n: int) -> None:
    rows = db.execute(
        "insert into ops.ingest_losses"
        " (job, epoch, kafka_topic, kafka_partition, first_lost, records)"
        " values (%s, %s, %s, %s, %s, %s) on conflict do nothing returning records",
        (job, epoch, tp[0], tp[1], first, max(0, n)),
    )
    if rows and rows[0][0]:
        log.warning(
            "%s[%d]: broker epoch %d went away holding %d records ingestion never read"
            " (offsets %d..%d)", tp[0], tp[1], epoch, n, first, first + n - 1,
        )  # fmt: skip
