"""The daily ELT: the dbt runner, the Great Expectations gates, the raw fixtures and the mart checks."""
