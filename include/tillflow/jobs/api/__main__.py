"""``python -m tillflow.jobs.api``: apply the OLTP migrations, then serve the orders API (uvicorn)."""

from __future__ import annotations

import argparse
import sys

from tillflow.adapters.migrations import migrate
from tillflow.config import DB_OLTP, Settings
from tillflow.jobs.api.settings import ApiSettings


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from tillflow.jobs.api.app import create_app

    api = ApiSettings.from_env()
    parser = argparse.ArgumentParser(prog="python -m tillflow.jobs.api", description=__doc__)
    parser.add_argument("--host", default=api.host)
    parser.add_argument("--port", type=int, default=api.port)
    parser.add_argument("--no-migrate", action="store_true", help="do not apply OLTP migrations")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    dsn = settings.postgres.dsn(DB_OLTP, settings.postgres.api)
    if not args.no_migrate:
        applied = migrate(dsn, DB_OLTP)
        if applied:
            print(f"applied OLTP migrations: {', '.join(applied)}", flush=True)
    app = create_app(dsn, pool_max=api.pool_max)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
