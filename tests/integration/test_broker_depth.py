"""The broker keeper's depth probe against a real broker (one of the test's own, ``own_broker``):
a partition of single-record batches deeper than a fetch's wait can list is answered empty at
its tail, so the probe reports it, while a longer wait (the readers') is still served."""

from __future__ import annotations

import uuid

import pytest

from tillflow.adapters import kafka
from tillflow_bench.fetch_depth import fill
from tillflow_bench.own_broker import own_broker

pytestmark = pytest.mark.integration

#: Deep enough that a 2 ms fetch cannot list it (about 1,000 batches a millisecond), shallow
#: enough that 500 ms lists it with room to spare on a loaded machine.
BATCHES = 20_000


def test_the_probe_names_partitions_deeper_than_its_wait_can_list() -> None:
    from confluent_kafka.admin import NewTopic

    with own_broker("tillflow-test-broker-depth") as (connection, _):
        deep, shallow = (f"test.depth.{uuid.uuid4().hex[:6]}.{n}" for n in ("deep", "shallow"))
        admin = kafka.admin(connection)
        for topic in (deep, shallow):
            admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
        # Given one partition of 20,000 batches and one of 10
        fill(connection, deep, BATCHES)
        fill(connection, shallow, 10)
        ends = kafka.end_offsets(connection, [deep, shallow])
        assert ends == {(deep, 0): BATCHES, (shallow, 0): 10}
        # When the tails are read with a 2 ms wait: only the shallow one is served
        assert kafka.tails_served(connection, ends, 2, 3.0) == {(shallow, 0)}
        # Then with the readers' longer wait both are
        assert kafka.tails_served(connection, ends, 500, 10.0) == {(deep, 0), (shallow, 0)}
