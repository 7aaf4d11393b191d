"""Helpers shared by the orders API and CDC integration tests.

Reference rows: the tests use existing customers/stores/payment methods/categories when the
reference data is seeded and insert minimal fixture rows (ids >= 9,000,000) only when a table is
empty. Items are always the tests' own (ids >= 9,000,000), so churn of real items cannot interfere.
Nothing is ever truncated.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg

from tillflow.adapters.migrations import migrate
from tillflow.config import DB_OLTP, Settings

FIXTURE_BASE = 9_000_000
TEST_ITEMS = {  # item_id -> unit price
    FIXTURE_BASE + 1: Decimal("10.00"),
    FIXTURE_BASE + 2: Decimal("2.50"),
    FIXTURE_BASE + 3: Decimal("99.99"),
    FIXTURE_BASE + 4: Decimal("0.40"),
}
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Refs:
    customer_id: int
    payment_method_id: int
    store_id: int
    category_id: int
    item_prices: dict[int, Decimal]


def settings() -> Settings:
    return Settings.from_env()


def api_dsn() -> str:
    s = settings()
    return s.postgres.dsn(DB_OLTP, s.postgres.api)


def admin_dsn() -> str:
    return settings().postgres.dsn(DB_OLTP)


def _first_or_insert(conn: psycopg.Connection, select: str, insert: str) -> int:
    row = conn.execute(select).fetchone()
    if row is None:
        conn.execute(insert)
        row = conn.execute(select).fetchone()
    assert row is not None
    return int(row[0])


def ensure_reference() -> Refs:
    """Migrate the OLTP database and return the reference rows the tests may use."""
    migrate(api_dsn(), DB_OLTP)
    b = FIXTURE_BASE
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        customer = _first_or_insert(
            conn,
            "select customer_id from customers order by customer_id limit 1",
            f"insert into customers values ({b}, 'Test Customer', 't@example.com', 'diamond')"
            " on conflict do nothing",
        )
        payment = _first_or_insert(
            conn,
            "select payment_method_id from payment_methods order by 1 limit 1",
            f"insert into payment_methods values ({b}, 'bank_transfer', 'ACB', 'ACB transfer')"
            " on conflict do nothing",
        )
        store = _first_or_insert(
            conn,
            "select store_id from stores order by store_id limit 1",
            f"insert into stores (store_id, name, address, city, state, postal_code, latitude,"
            f" longitude, timezone, opened_on) values ({b}, 'Test store', '1 Test St',"
            " 'Testville', 'NY', '10001', 40.7, -74.0, 'America/New_York', '2020-01-01')"
            " on conflict do nothing",
        )
        category = _first_or_insert(
            conn,
            "select category_id from item_categories order by category_id limit 1",
            f"insert into item_categories values ({b}, 'tillflow-test') on conflict do nothing",
        )
        for item_id, price in TEST_ITEMS.items():
            conn.execute(
                "insert into item_master (item_id, upc, name, category_id, unit_price, frequency)"
                " values (%s, %s, %s, %s, %s, 1)"
                " on conflict (item_id) do update set unit_price = excluded.unit_price"
                " where item_master.unit_price <> excluded.unit_price",
                (item_id, f"TEST{item_id}", f"test item {item_id}", category, price),
            )
    return Refs(customer, payment, store, category, dict(TEST_ITEMS))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiProcess:
    """The API served by uvicorn in a subprocess (the same entry point as the stack service)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        env = {**os.environ, "TILLFLOW_API_PORT": str(self.port)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tillflow.jobs.api", "--no-migrate"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"API exited: {err[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/ping", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("API did not answer /ping")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
