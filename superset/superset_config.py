"""Superset's configuration for tillflow, local stack and `astro dev start` alike.

Superset loads this file through ``SUPERSET_CONFIG_PATH``; every value comes from the environment
that `tillflow up` (``tillflow.runtime.managed.superset``) or docker-compose sets, so the file
holds no secret and no address.
"""

import os

SECRET_KEY = os.environ["TILLFLOW_SUPERSET_SECRET_KEY"]
# Superset's own metadata (users, dashboards, charts) in the stack's PostgreSQL.
SQLALCHEMY_DATABASE_URI = os.environ["TILLFLOW_SUPERSET_METADATA_URI"]

# Charts query the warehouse each time they are drawn: the "live total" reads the serving view,
# which a cache would freeze.
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
# One gunicorn worker: the limiter's counters can live in its memory.
RATELIMIT_STORAGE_URI = "memory://"

# Loopback-only HTTP: no HTTPS redirect or strict transport header.
TALISMAN_ENABLED = False
SESSION_COOKIE_SECURE = False

# Dashboards are code (superset/assets): the welcome page should lead to them.
LOGO_TARGET_PATH = "/dashboard/list/"
SUPERSET_WEBSERVER_TIMEOUT = 120
ROW_LIMIT = 50_000
