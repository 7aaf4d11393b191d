"""Warehouse quality: raw fixtures, the dbt runner and the Great Expectations gates."""
