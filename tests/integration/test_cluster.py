"""The ingestion on a Spark standalone cluster (a master and one worker started from pyspark's own
jars, on loopback): the executors import the code the driver ships, never an install of ours.

The executors' Python is the venv's interpreter run with ``-S`` (no site: neither the editable
install's finder nor any ``.pth`` is loaded; only the libraries are on its path), and the worker
runs without a ``PYTHONPATH``: ``tillflow`` and ``spark`` can only come from the shipped zip.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tillflow import config
from tillflow.adapters.spark import ARCHIVE_NAME
from tillflow.config import Settings
from tillflow_bench import ingest as bench

pytestmark = pytest.mark.integration

#: pyspark's own distribution: its jars and bin/spark-class.
SPARK_HOME = Path(__import__("pyspark").__file__).parent
EVENTS = 2_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    master_url: str
    web_url: str
    root: Path
    processes: list[subprocess.Popen[bytes]]

    def alive_workers(self) -> int:
        with urllib.request.urlopen(f"{self.web_url}/json/", timeout=2) as r:
            state = json.load(r)
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")


def daemon_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    env.pop("PYTHONPATH", None)  # the worker (and so its executors) has no path to our code
    env.update(
        {
            "SPARK_HOME": str(SPARK_HOME),
            "SPARK_CONF_DIR": str(root / "conf"),
            "SPARK_LOG_DIR": str(root / "logs"),
            "SPARK_PID_DIR": str(root / "pids"),
            "SPARK_LOCAL_DIRS": str(root / "local"),
            "SPARK_WORKER_DIR": str(root / "work"),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_DAEMON_MEMORY": "256m",
        }
    )
    for name in ("conf", "logs", "pids", "local", "work"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return env


def start_daemon(root: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    env = daemon_env(root)
    log = (root / "logs" / f"{name}.out").open("ab")
    # spark-class execs the JVM: this pid is the daemon's; its own session, so the teardown's
    # signal reaches whatever it started (executors) too.
    proc = subprocess.Popen(
        [str(SPARK_HOME / "bin" / "spark-class"), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    (root / "pids" / f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def processes_under(root: Path) -> list[int]:
    """Pids of live processes whose command line names ``root`` (the daemons, their executors,
    the executors' Python workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(root).encode() in cmdline:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("spark-cluster")
    port, web, worker_port, worker_web = (free_port() for _ in range(4))
    master_url, web_url = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{web}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(
            start_daemon(
                root,
                "master",
                *("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"),
                *("--port", str(port), "--webui-port", str(web)),
            )
        )
        processes.append(
            start_daemon(
                root,
                "worker",
                *("org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1"),
                *("--port", str(worker_port), "--webui-port", str(worker_web)),
                *("--cores", "1", "--memory", "1g", "--work-dir", str(root / "work")),
                master_url,
            )
        )
        c = Cluster(master_url, web_url, root, processes)
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError, ValueError):
                if c.alive_workers() == 1:
                    break
            for proc in processes:
                assert proc.poll() is None, f"a daemon exited; see {root / 'logs'}"
            assert time.monotonic() < deadline, f"no worker registered in 60 s; see {root}"
            time.sleep(0.5)
        yield c
    finally:
        for proc in reversed(processes):
            stop(proc)
        # Nothing of the cluster is left running: daemons, executors, Python workers.
        deadline = time.monotonic() + 15
        while processes_under(root) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not processes_under(root), f"left running: {processes_under(root)}"


def executor_python(root: Path) -> Path:
    """The interpreter of every Python worker. On the executors (they run in the worker's work
    folder) it is the venv's without site: no editable install, no .pth, only the libraries on
    its path; each executor start is logged with its folder and PYTHONPATH. The driver's own
    Python workers (Spark 4 plans Python data sources in one; it gets the executor env too)
    run where the project is installed, as any driver does, and start as usual."""
    wrapper = root / "executor-python"
    site = sysconfig.get_paths()["purelib"]
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$PWD" in "{root / "work"}"/*) ;; *) exec "{sys.executable}" "$@" ;; esac\n'
        f'echo "$PWD|$PYTHONPATH" >> "{root / "python-starts.log"}"\n'
        f'PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{site}" exec "{sys.executable}" -S "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def count(dsn: str, sql: str, *args: object) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql, args).fetchone()
    return int(row[0]) if row else 0


def test_ingestion_on_a_standalone_cluster_lands_once_with_the_shipped_code(
    stack: Settings, cluster: Cluster
) -> None:
    bench.ensure_schema(stack)
    warehouse = bench.warehouse_dsn(stack)
    # Given a topic of generated scans
    tag = uuid.uuid4().hex[:8]
    topic, job = f"test.cluster.scans.{tag}", f"test-cluster-{tag}"
    bench.produce_scans(stack.kafka.connection, topic, EVENTS, partitions=2)
    env = bench.job_env()
    env.pop("PYTHONPATH", None)
    env["PYSPARK_PYTHON"] = str(executor_python(cluster.root))
    env["TILLFLOW_SPARK_CONF"] = json.dumps(
        {
            "spark.executor.memory": "512m",
            "spark.executor.cores": "1",
            "spark.cores.max": "1",
        }
    )
    cmd = bench.job_command(
        [f"{topic}:scans"],
        job,
        "available-now",
        cluster.root / "checkpoints" / job,
        ["--master", cluster.master_url, "--engine", "fused"],
    )
    log_path = cluster.root / "logs" / f"{job}.log"
    try:
        # When the catch-up job runs on the cluster
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        try:
            assert proc.wait(150) == 0, f"job failed; see {log_path}"
        finally:
            if proc.poll() is None:
                bench.kill_job(proc)
        # Then every event landed exactly once
        rows = count(warehouse, "select count(*) from raw.pos_scans where kafka_topic = %s", topic)
        distinct = count(
            warehouse,
            "select count(distinct scan_id) from raw.pos_scans where kafka_topic = %s",
            topic,
        )
        dead = count(
            warehouse, "select count(*) from raw.dead_letters where kafka_topic = %s", topic
        )
        assert (rows, distinct, dead) == (EVENTS, EVENTS, 0)
        committed = count(
            warehouse,
            "select sum(ops.broker_offset(next_offset)) from ops.ingest_offsets"
            " where job = %s and kafka_topic = %s",
            job,
            topic,
        )
        assert committed == EVENTS
        # And it was the cluster's executors that landed them, with the shipped code only:
        # their Python workers started in the worker's work folder, with no path to include/
        starts = (cluster.root / "python-starts.log").read_text().splitlines()
        work = str(cluster.root / "work")
        on_executors = [s for s in starts if s.startswith(work)]
        assert on_executors, f"no Python worker started on an executor: {starts}"
        ours = {
            str(config.PROJECT_ROOT),
            *(str(config.PROJECT_ROOT / d) for d in ("include", "spark")),
        }
        for start in on_executors:
            entries = {str(Path(e)) for e in start.split("|", 1)[1].split(os.pathsep) if e}
            assert not entries & ours, f"an executor's PYTHONPATH reaches our code: {entries}"
        shipped = list(Path(work).glob(f"app-*/*/{ARCHIVE_NAME}"))
        assert shipped, "the code archive never reached an executor"
    finally:
        bench.delete_topics(stack.kafka.connection, [topic])
