"""
### tillflow_generate_history

Generates the POS scans of one UTC day (the run's data interval) into the topic `pos.scans`, as
fast as the broker takes them: 1000 stores x 10 checkstands, activity by store-local hour
(DST-correct), ~39M scans a day. The events of a day depend only on the seed, so
`airflow backfill create --dag-id tillflow_generate_history --from-date A --to-date B`
regenerates days identically (the summary's `sha256` shows it).

- **Schedule:** daily at 00:00 UTC for the day before (`CronDataIntervalTimetable`), no catch-up
- **Inputs:** connection `kafka_default`; params `seed`, `stores` (the first N stores only),
  `bad_share` (late + malformed events for the dead-letter path), and `start`/`end` (ISO instants
  that replace the data interval, e.g. a few minutes for a demo)
- **Outputs:** an XCom `return_value`: window, events, bad events, events/s, sha256
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from tillflow import config

DEFAULT_ARGS = {"owner": "platform", "retries": 2, "retry_delay": timedelta(seconds=30)}


@dag(
    dag_id="tillflow_generate_history",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["tillflow", "generators", "scans"],
    doc_md=__doc__,
    params={
        "seed": Param(20261121, type="integer"),
        "stores": Param(1000, type="integer", minimum=1, maximum=1000),
        "bad_share": Param(0.0, type="number", minimum=0, maximum=0.5),
        "start": Param(None, type=["null", "string"], description="ISO instant, overrides"),
        "end": Param(None, type=["null", "string"], description="ISO instant, overrides"),
    },
)
def tillflow_generate_history() -> None:
    @task
    def generate(
        data_interval_start: Any = None,
        data_interval_end: Any = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        from tillflow.jobs.generators import tasks
        from tillflow_airflow.connections import kafka_connection

        p = params or {}
        start = tasks.parse_instant(p.get("start")) or tasks.parse_instant(data_interval_start)
        end = tasks.parse_instant(p.get("end")) or tasks.parse_instant(data_interval_end)
        if start is None or end is None:
            raise ValueError("no window: give params start and end, or a run with a data interval")
        return tasks.generate_window(
            kafka_connection(config.CONN_KAFKA),
            start,
            end,
            seed=int(p.get("seed", 20261121)),
            stores=int(p.get("stores", 1000)),
            bad_share=float(p.get("bad_share", 0.0)),
        )

    generate()


tillflow_generate_history()
