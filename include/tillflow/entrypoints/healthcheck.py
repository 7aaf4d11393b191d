"""``python -m tillflow.entrypoints.healthcheck NAME``: exit 0 when the platform service ``NAME``
(``orders-api``, ``cdc``, ``suggestions``, ``superset``) is healthy, 1 when not.

The compose file's healthchecks call it inside each platform container (Superset's own image
checks its /health with urllib, the same check), so a container is
judged by the same check ``tillflow status`` applies to the local process (with the service
marked external there is no pid to check: the container is the process).
"""

from __future__ import annotations

import argparse
import sys

from tillflow.config import Settings
from tillflow.runtime.registry import app_services


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    services = {s.name: s for s in app_services(settings)}
    parser = argparse.ArgumentParser(
        prog="python -m tillflow.entrypoints.healthcheck", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("name", choices=sorted(services))
    args = parser.parse_args(argv)
    healthy = services[args.name].healthy()
    print(f"{args.name}: {'healthy' if healthy else 'unhealthy'}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
