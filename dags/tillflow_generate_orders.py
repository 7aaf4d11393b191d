"""
### tillflow_generate_orders

Posts a batch of realistic orders through the orders API (baskets of 1-8 lines, customer and
payment mixes from the OLTP reference tables; a share qualifies for a suggestion: diamond tier
paying by bank transfer with ACB). Each order takes the real path: API → `orders`,
`order_details` and the `order_events` outbox in one transaction → CDC → Kafka topic
`oltp.public.order_events`.

- **Schedule:** manual (params `count`, `rate`, `seed`); `make demo` triggers it
- **Inputs:** connections `postgres_oltp` (reference mixes) and `orders_api` (the orders API's
  address; locally `TILLFLOW_API_HOST`/`TILLFLOW_API_PORT`, default http://127.0.0.1:8000)
- **Outputs:** an XCom `summary`: posted, rejected, qualifying, lines, POST p50/p99 ms
- **Retries:** a retry posts a fresh batch: orders are new business events, not a dataset to
  regenerate (the scan history DAG is the deterministic one)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task

from tillflow import config

DEFAULT_ARGS = {"owner": "platform", "retries": 2, "retry_delay": timedelta(seconds=10)}


@dag(
    dag_id="tillflow_generate_orders",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["tillflow", "generators", "orders"],
    doc_md=__doc__,
    params={
        "count": Param(200, type="integer", minimum=1, maximum=100_000),
        "rate": Param(20.0, type="number", minimum=0),
        "seed": Param(0, type="integer"),
    },
)
def tillflow_generate_orders() -> None:
    @task
    def post_orders(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from tillflow.jobs.api.order_generator import generate, load_mix
        from tillflow_airflow.connections import http_base_url, postgres_dsn

        params = params or {}
        mix = load_mix(postgres_dsn(config.CONN_OLTP))
        result = generate(
            http_base_url(config.CONN_ORDERS_API),
            mix,
            count=int(params.get("count", 200)),
            rate=float(params.get("rate", 20.0)),
            seed=int(params.get("seed", 0)),
        )
        summary = result.summary()
        if result.posted == 0:
            raise RuntimeError(f"no order was accepted: {summary}")
        return summary

    post_orders()


tillflow_generate_orders()
