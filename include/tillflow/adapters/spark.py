"""Spark sessions bound to loopback (the machine has no other route worth binding to)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def session(app_name: str, master: str = "local[2]", **conf: str) -> SparkSession:
    from pyspark.sql import SparkSession

    # py4j logs at INFO from __del__ at interpreter exit, after stream handlers are closed.
    logging.getLogger("py4j").setLevel(logging.WARNING)

    builder = (
        SparkSession.builder.appName(app_name)
        .master(master)
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
