"""The orders API (FastAPI). ``create_app(dsn)`` builds it; ``python -m tillflow.jobs.api`` serves it.

Endpoints: ``GET /ping``, ``GET /`` (service info), ``GET /api/v1/orders`` (paginated),
``GET /api/v1/orders/{order_id}``, ``POST /api/v1/orders``; OpenAPI at ``/openapi.json``.
Every rejected body is a 422 whose ``detail[].loc`` names the field (FastAPI's format).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool, PoolTimeout

from tillflow.jobs.api import repository
from tillflow.jobs.api.models import (
    INT8_MAX,
    ErrorBody,
    OrderCreate,
    OrderOut,
    OrderPage,
    ServiceInfo,
)

SERVICE_NAME = "tillflow-orders-api"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tillflow")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = _version()
MAX_PAGE = 500
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the body is not parseable"},
    422: {"model": ErrorBody, "description": "invalid body or unknown id; `loc` names the field"},
    503: {"model": ErrorBody, "description": "the database is unavailable"},
}


def _connection(request: Request) -> Iterator[psycopg.Connection[Any]]:
    pool: ConnectionPool = request.app.state.pool
    with pool.connection() as conn:
        yield conn


Conn = Annotated[psycopg.Connection[Any], Depends(_connection)]


def create_app(dsn: str, *, pool_min: int = 1, pool_max: int = 8) -> FastAPI:
    """The API over the OLTP database at ``dsn`` (the tillflow_api role in the stack)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = ConnectionPool(
            dsn,
            min_size=pool_min,
            max_size=pool_max,
            timeout=10,
            open=False,
            name="orders-api",
            kwargs={"application_name": SERVICE_NAME},
        )
        pool.open(wait=True, timeout=30)
        app.state.pool = pool
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(
        title="tillflow orders API",
        version=__version__,
        description=(
            "Orders of the tillflow retail chain. An order, its lines and its outbox event are "
            "written in one transaction; CDC publishes the complete order to Kafka topic "
            "`oltp.public.order_events`."
        ),
        lifespan=lifespan,
    )

    @app.exception_handler(repository.OrderRejected)
    async def _rejected(request: Request, exc: repository.OrderRejected) -> JSONResponse:
        return JSONResponse(
            status_code=422, content={"detail": [e.model_dump(mode="json") for e in exc.errors]}
        )

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            status_code=503, content={"detail": f"database unavailable: {type(exc).__name__}"}
        )

    @app.get("/ping", summary="liveness", tags=["service"])
    def ping() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", summary="service information", tags=["service"])
    def info() -> ServiceInfo:
        return ServiceInfo(
            service=SERVICE_NAME,
            version=__version__,
            openapi="/openapi.json",
            docs="/docs",
            endpoints=[
                "GET /ping",
                "GET /api/v1/orders",
                "GET /api/v1/orders/{order_id}",
                "POST /api/v1/orders",
            ],
        )

    @app.get(
        "/api/v1/orders",
        summary="list orders, newest first",
        tags=["orders"],
        responses=_ERRORS,
    )
    def list_orders(
        conn: Conn,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
        cursor: Annotated[
            int | None,
            Query(ge=1, le=INT8_MAX, description="`next_cursor` of the previous page"),
        ] = None,
    ) -> OrderPage:
        return repository.list_orders(conn, limit=limit, offset=offset, cursor=cursor)

    @app.get(
        "/api/v1/orders/{order_id}",
        summary="one order with its lines",
        tags=["orders"],
        responses={404: {"model": ErrorBody, "description": "no such order"}, **_ERRORS},
    )
    def get_order(conn: Conn, order_id: Annotated[int, Path(ge=1, le=INT8_MAX)]) -> OrderOut:
        order = repository.get_order(conn, order_id)
        if order is None:
            raise HTTPException(status_code=404, detail=f"order {order_id} not found")
        return order

    @app.post(
        "/api/v1/orders",
        status_code=201,
        summary="place an order (unit prices from item_master at order time)",
        tags=["orders"],
        responses=_ERRORS,
    )
    def create_order(conn: Conn, body: OrderCreate) -> OrderOut:
        return repository.create_order(conn, body)

    return app
