"""Housekeeping of a long-running stack: the logs the stack's processes write, the task logs of
Airflow and its metadata, kept within a size and an age (DAG ``tillflow_housekeeping``)."""
