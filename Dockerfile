# syntax=docker/dockerfile:1
# The image of `astro dev start`: Astro Runtime (Airflow) + the platform, Python 3.11 as locally.
#
# The Runtime's ONBUILD steps run first: `packages.txt` (apt), `requirements.txt` (pip) and a copy
# of the build context (`.dockerignore` applied) to /usr/local/airflow. The steps below follow.
# Each RUN carries a `parity:` line: `tillflow bench astro-parity` replays the `replay` steps into
# a fresh environment on a machine without a Docker engine (README, "Running with Astro"), and
# names the `docker-only` ones (they need the image's apt or Maven Central) as not proven there.
FROM astrocrpublic.azurecr.io/runtime:3.3-8-python-3.11

# The domain package lives in include/. Services are the compose file's (docker-compose.override.yml),
# marked external so the platform uses them instead of starting its own.
ENV PYTHONPATH="/usr/local/airflow/include:/usr/local/airflow" \
    TILLFLOW_HOME=/usr/local/airflow/.tillflow \
    TILLFLOW_PG_HOST=tillflow-postgres \
    TILLFLOW_PG_PORT=5432 \
    TILLFLOW_PG_EXTERNAL=1 \
    TILLFLOW_OLTP_PG_HOST=tillflow-oltp-postgres \
    TILLFLOW_OLTP_PG_PORT=5432 \
    TILLFLOW_OLTP_PG_EXTERNAL=1 \
    TILLFLOW_KAFKA_HOST=kafka \
    TILLFLOW_KAFKA_PORT=9092 \
    TILLFLOW_KAFKA_EXTERNAL=1 \
    TILLFLOW_REDIS_HOST=redis \
    TILLFLOW_REDIS_PORT=6379 \
    TILLFLOW_REDIS_EXTERNAL=1 \
    TILLFLOW_AIRFLOW_EXTERNAL=1 \
    DBT_PROFILES_DIR=/usr/local/airflow/dbt_project \
    TILLFLOW_DBT_DOCS_DIR=/usr/local/airflow/dbt_docs \
    AIRFLOW__COSMOS__DBT_DOCS_DIR=/usr/local/airflow/dbt_docs \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY=False \
    AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=90

# The Runtime tag decides the Airflow version; stop the build when it is not the one the lock
# pins (what local mode and CI run), instead of shipping an image nobody tested.
# parity: replay
RUN python -c "import sys, airflow; v = airflow.__version__; sys.exit(0 if v == '3.3.2' else f'Airflow {v} in this Runtime, 3.3.2 in requirements.lock: change the FROM tag')"

# Cosmos renders the daily ELT from dbt's manifest, which is not in the build context (target/ is
# ignored): parse it here. Parsing needs no database.
# parity: replay
RUN dbt parse --project-dir dbt_project --profiles-dir dbt_project --quiet

# Spark's Kafka connector and its dependencies, resolved by Spark itself for the pyspark version
# installed, into pyspark's jars: `--engine auto` picks the native source in the image.
# parity: docker-only (Maven Central is out of reach of the development machine)
USER root
RUN python - <<'EOF'
import glob, os, shutil, pyspark
from pyspark.sql import SparkSession
ivy = "/tmp/ivy"
spark = (SparkSession.builder.master("local[1]")
         .config("spark.jars.packages", f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark.__version__}")
         .config("spark.jars.ivy", ivy).getOrCreate())
spark.stop()
jars = os.path.join(os.path.dirname(pyspark.__file__), "jars")
for jar in glob.glob(f"{ivy}/jars/*.jar"):
    shutil.copy(jar, jars)
shutil.rmtree(ivy)
EOF
USER astro
