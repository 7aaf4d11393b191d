"""Spark sessions: the master and the driver's conf from ``SparkSettings`` (``spark_default``, or
``TILLFLOW_SPARK_*``; loopback driver addresses unless they say otherwise), and on a cluster the
project's code shipped to the executors (a zip of the ``tillflow`` and ``spark`` packages added
with ``addPyFile``): executors never rely on the driver's ``sys.path`` or an install of ours."""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Final

from tillflow.config import SparkSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("tillflow.adapters.spark")

#: The packages a Spark job's executors import: the platform and the Spark jobs.
SHIPPED_PACKAGES: Final = ("tillflow", "spark")
#: The archive's name on the executors (their ``sys.path`` entry).
ARCHIVE_NAME: Final = "tillflow-code.zip"


def launched_by_spark_submit() -> bool:
    """spark-submit hands a Python driver its gateway: its ``--master`` and ``--conf`` are the
    connection's (the Spark provider reads ``spark_default``), so the session keeps them."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def session(app_name: str, settings: SparkSettings | None = None, **conf: str) -> SparkSession:
    """A session on ``settings.master`` (default ``local[2]``): the platform's defaults, then
    ``conf`` (the job's), then the settings' conf (the deployment's), which wins."""
    from pyspark.sql import SparkSession

    # py4j logs at INFO from __del__ at interpreter exit, after stream handlers are closed.
    logging.getLogger("py4j").setLevel(logging.WARNING)

    settings = settings or SparkSettings()
    builder = SparkSession.builder.appName(app_name)
    if not launched_by_spark_submit():
        builder = builder.master(settings.master)
    merged = {
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        **conf,
        **settings.driver_conf(),
    }
    for key, value in merged.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if not (spark.sparkContext.master or "local").startswith("local"):
        ship_code(spark)
    return spark


def code_archive(dest: Path) -> Path:
    """A zip of ``SHIPPED_PACKAGES`` (sources and package data, no bytecode) at ``dest``."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in SHIPPED_PACKAGES:
            spec = importlib.util.find_spec(name)
            if spec is None or not spec.submodule_search_locations:
                raise RuntimeError(f"package {name} not found: cannot ship it to the executors")
            root = Path(next(iter(spec.submodule_search_locations)))
            for path in sorted(root.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    zf.write(path, str(Path(name) / path.relative_to(root)))
    return dest


def ship_code(spark: SparkSession) -> Path:
    """Add the code archive to the session: every executor's Python workers import it first.
    The archive lives as long as this process (the driver serves it from its path)."""
    folder = Path(tempfile.mkdtemp(prefix="tillflow-code-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    archive = code_archive(folder / ARCHIVE_NAME)
    spark.sparkContext.addPyFile(str(archive))
    log.info("shipped %s to the executors (%d bytes)", archive.name, archive.stat().st_size)
    return archive
