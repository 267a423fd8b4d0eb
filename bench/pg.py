"""A throw-away PostgreSQL database for one bench run, created and dropped through an admin
URL (``--pg``)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator


@contextlib.contextmanager
def temporary_database(admin_url: str) -> Iterator[str]:
    """Create a database named ``hub_bench_<random>``, yield its URL, drop it (connections
    still open to it included) on the way out."""
    import sqlalchemy as sa

    name = f"hub_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
