"""SQLAlchemy URLs of the platform's libpq DSNs (GX reads through psycopg2, pyiceberg's catalog
through psycopg 3): one builder, so quoting a password with @ : / is done in one place."""

from __future__ import annotations


def sqlalchemy_url(dsn: str, driver: str = "postgresql+psycopg2") -> str:
    """The SQLAlchemy URL of a libpq key/value DSN, with the password in clear (percent-encoded)."""
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import URL

    parts = conninfo_to_dict(dsn)
    url = URL.create(
        driver,
        username=str(parts.get("user", "")) or None,
        password=str(parts.get("password", "")) or None,
        host=str(parts.get("host", "127.0.0.1")),
        port=int(str(parts.get("port", 5432))),
        database=str(parts.get("dbname", "")),
    )
    return url.render_as_string(hide_password=False)
