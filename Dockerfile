# Astro Runtime 3.3 = Apache Airflow 3.3 (Python 3.11 build, matching requirements.lock).
# The runtime image installs packages.txt (apt) and requirements.txt (pip) on build.
# Not buildable on the development machine (no Docker engine); kept exact for `astro dev start`.
FROM astrocrpublic.azurecr.io/runtime:3.3-2-python-3.11

# The domain package lives in include/ (Astro copies the project to /usr/local/airflow).
ENV PYTHONPATH="/usr/local/airflow/include:${PYTHONPATH}" \
    TILLFLOW_HOME=/usr/local/airflow/.tillflow \
    TILLFLOW_PG_HOST=tillflow-postgres \
    TILLFLOW_PG_PORT=5432 \
    TILLFLOW_PG_EXTERNAL=1 \
    TILLFLOW_KAFKA_HOST=kafka \
    TILLFLOW_KAFKA_PORT=9092 \
    TILLFLOW_KAFKA_EXTERNAL=1 \
    TILLFLOW_REDIS_HOST=redis \
    TILLFLOW_REDIS_PORT=6379 \
    TILLFLOW_REDIS_EXTERNAL=1 \
    TILLFLOW_AIRFLOW_EXTERNAL=1 \
    DBT_PROFILES_DIR=/usr/local/airflow/dbt_project \
    AIRFLOW__COSMOS__DBT_DOCS_DIR=/usr/local/airflow/dbt_project/target
