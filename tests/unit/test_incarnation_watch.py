"""A client's watch on the broker's incarnation (its cluster id): asked at most every few
seconds, a broker that cannot answer is no answer, and a new id is a new incarnation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tillflow.adapters.kafka import IncarnationWatch

pytestmark = pytest.mark.unit


class Client:
    def __init__(self) -> None:
        self.cluster: str | Exception = "tillflow-a"
        self.asked = 0

    def list_topics(self, timeout: float) -> SimpleNamespace:
        self.asked += 1
        if isinstance(self.cluster, Exception):
            raise self.cluster
        return SimpleNamespace(cluster_id=self.cluster)


def test_a_new_cluster_id_is_a_new_incarnation_seen_at_the_next_look() -> None:
    now = [0.0]
    client = Client()
    watch = IncarnationWatch(client, every=2.0, clock=lambda: now[0])  # type: ignore[arg-type]
    # Given the first look: the incarnation the client reads
    assert not watch.changed() and watch.first == "tillflow-a"
    # When the broker restarts with another cluster id
    client.cluster = "tillflow-b"
    # Then nothing is asked before the next look is due
    now[0] += 1.0
    assert not watch.changed() and client.asked == 1
    # And the next look tells it
    now[0] += 1.0
    assert watch.changed() and watch.now == "tillflow-b"


def test_a_broker_that_cannot_answer_is_no_new_incarnation() -> None:
    now = [0.0]
    client = Client()
    watch = IncarnationWatch(client, every=2.0, clock=lambda: now[0])  # type: ignore[arg-type]
    assert not watch.changed()
    client.cluster = ConnectionError("broker down")
    now[0] += 2.0
    assert not watch.changed()
    client.cluster = "tillflow-a"  # the same one answers again
    now[0] += 2.0
    assert not watch.changed()
