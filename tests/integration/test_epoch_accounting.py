"""Broker epochs in the warehouse (``jobs/ingest/epochs.py``) against the stack's PostgreSQL:
numbering incarnations, raising their watermarks, and settling a commit log that a broker
restart (or two) left behind, with what each lost incarnation held counted once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tillflow.config import Settings
from tillflow.domain.events.coordinates import virtual
from tillflow.jobs.ingest import epochs
from tillflow_bench import ingest as bench

pytestmark = pytest.mark.integration


@pytest.fixture
def dsn(stack: Settings) -> Iterator[str]:
    bench.ensure_schema(stack)
    yield bench.warehouse_dsn(stack)


def test_lost_incarnations_are_counted_once_and_the_log_moves_to_the_new_one(dsn: str) -> None:
    tag = uuid.uuid4().hex[:8]
    topic, job = f"test.epochs.{tag}", f"test-epochs-{tag}"
    a, b, c = (f"test-cluster-{tag}-{n}" for n in "abc")
    try:
        # Given three incarnations in a row: the job read part of A, nothing of B, and meets C
        ea, eb, ec = epochs.epoch_for(dsn, a), epochs.epoch_for(dsn, b), epochs.epoch_for(dsn, c)
        assert ea < eb < ec and epochs.epoch_for(dsn, a) == ea  # numbered once each
        epochs.note_watermarks(dsn, ea, {(topic, 0): 100, (topic, 1): 40})
        epochs.note_watermarks(dsn, ea, {(topic, 0): 90})  # a stale, lower view changes nothing
        epochs.note_watermarks(dsn, eb, {(topic, 0): 7})
        committed = {(topic, 0): virtual(ea, 60)}  # partition 1 of A was never read

        # When the job settles its log in incarnation C
        settled = epochs.settle(dsn, job, ec, committed, [topic])
        again = epochs.settle(dsn, job, ec, committed, [topic])

        # Then it starts C at C's first offset, and counted A's unread 40 + 40 and B's 7, once
        assert settled == again == {(topic, 0): virtual(ec, 0)}
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(
                "select epoch, kafka_partition, first_lost, records from ops.ingest_losses"
                " where job = %s order by 1, 2",
                (job,),
            ).fetchall()
        assert rows == [(ea, 0, 60, 40), (ea, 1, 0, 40), (eb, 0, 0, 7)]
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("delete from ops.ingest_losses where job = %s", (job,))
            conn.execute(
                "delete from ops.broker_epochs where cluster_id like %s", (f"test-cluster-{tag}-%",)
            )
