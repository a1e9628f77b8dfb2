"""pytest plugin for the PostgreSQL leg: each xdist worker uses a database of its own, named after the worker.

scripts/run_tests.py creates the databases (for example test_gw0 and test_gw1 beside test) and loads this plugin
with `-p pg_worker_database`. xdist names the worker in the environment before pytest starts in it, so the URL
is changed before tests/conftest.py reads it.
"""

import os

from sqlalchemy.engine import make_url


def worker_url(url: str, worker: str) -> str:
    """The URL of the worker's own database on the same server."""
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker and os.environ.get("PORTAL_TEST_DATABASE_URL"):
    os.environ["PORTAL_TEST_DATABASE_URL"] = worker_url(os.environ["PORTAL_TEST_DATABASE_URL"], _worker)
