"""``python -m tillflow.jobs.cdc``: run CDC (Debezium embedded engine -> Kafka) until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from tillflow.config import Settings
from tillflow.jobs.cdc.engine import run
from tillflow.jobs.cdc.settings import CdcSettings


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-5s [%(name)s] %(message)s"
    )
    settings = Settings.from_env()
    cdc = CdcSettings.from_env(settings)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        run(settings, cdc, stop)
    except RuntimeError as exc:
        print(f"tillflow cdc: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
