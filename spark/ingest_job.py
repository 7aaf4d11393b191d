"""Entry point for ``spark-submit spark/ingest_job.py --mode available-now ...`` (and ``python -m``).

``spark`` and ``tillflow`` are installed packages of the project (pyproject.toml; the editable
install maps each to its folder), so this script, spark-submit and Spark's Python workers import
them by name with no path edits. Run as a script, Python puts ``spark/`` itself first on
``sys.path``: no module in it may take the name of another importable module.
"""

from __future__ import annotations

import sys

from spark.ingest import main

if __name__ == "__main__":
    sys.exit(main())
