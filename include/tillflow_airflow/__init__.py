"""The thin Airflow side of tillflow: turns Airflow connections into the domain package's settings.

Kept apart from `tillflow` so the domain package never imports Airflow.
"""
