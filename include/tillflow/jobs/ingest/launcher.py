"""How the ingestion job is launched: the script spark-submit and `tillflow ingest` run, and the
environment its driver and Python workers need."""

from __future__ import annotations

import os
import sys

from tillflow import config

#: The job's entry script (spark-submit runs this same file).
JOB_SCRIPT = config.PROJECT_ROOT / "spark" / "ingest_job.py"


def job_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env["PYSPARK_PYTHON"] = sys.executable
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # workers re-import pandas/pyarrow: keep .pyc
    return env
