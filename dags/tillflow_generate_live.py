"""
### tillflow_generate_live

A short live window of POS scans into the topic `pos.scans`: events leave as a simulated clock
reaches them; the clock starts at `start` (default: now) and runs `speedup` times faster than
the wall clock, capped at `max_rate` events/s, for `duration_s` wall seconds. Stores are open
10:00-22:00 local time, so a window at night (US time) carries few scans: give `start` a US
daytime instant to see many.

- **Schedule:** manual (`make demo` triggers it; so can the UI)
- **Inputs:** connection `kafka_default`; params `duration_s`, `speedup`, `max_rate`, `start`,
  `seed`, `stores`, `bad_share`
- **Outputs:** an XCom `return_value`: events, bad events, events/s, sha256
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task

from tillflow import config

DEFAULT_ARGS = {"owner": "platform", "retries": 2, "retry_delay": timedelta(seconds=10)}


@dag(
    dag_id="tillflow_generate_live",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["tillflow", "generators", "scans"],
    doc_md=__doc__,
    params={
        "duration_s": Param(30, type="number", minimum=1, maximum=3600),
        "speedup": Param(1.0, type="number", exclusiveMinimum=0),
        "max_rate": Param(20000, type="number", minimum=0, description="0 = no cap"),
        "start": Param(None, type=["null", "string"], description="ISO instant; default now"),
        "seed": Param(20261121, type="integer"),
        "stores": Param(1000, type="integer", minimum=1, maximum=1000),
        "bad_share": Param(0.0, type="number", minimum=0, maximum=0.5),
    },
)
def tillflow_generate_live() -> None:
    @task
    def live(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from tillflow.jobs.generators import tasks
        from tillflow_airflow.connections import kafka_connection

        p = params or {}
        return tasks.generate_live(
            kafka_connection(config.CONN_KAFKA),
            duration_s=float(p.get("duration_s", 30)),
            speedup=float(p.get("speedup", 1.0)),
            max_rate=float(p.get("max_rate", 20000)) or None,
            start=tasks.parse_instant(p.get("start")),
            seed=int(p.get("seed", 20261121)),
            stores=int(p.get("stores", 1000)),
            bad_share=float(p.get("bad_share", 0.0)),
        )

    live()


tillflow_generate_live()
