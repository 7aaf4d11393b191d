"""Entry point for ``spark-submit spark/ingest_job.py --mode available-now ...`` (and ``python -m``).

spark-submit runs this file as a script, with ``spark/`` on ``sys.path``: put the project root and
``include/`` first so ``spark.*`` and ``tillflow.*`` import by name (the executors do the same
through PYTHONPATH, set by ``spark.ingest.ensure_pythonpath``).
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
for _path in (str(_ROOT / "include"), str(_ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)
# The script's own folder would make spark/*.py top-level modules: drop it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "spark"]

from spark.ingest import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
