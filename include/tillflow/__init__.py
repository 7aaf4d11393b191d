"""tillflow: retail point-of-sale data platform (domain package; never imports Airflow)."""
