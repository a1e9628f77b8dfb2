"""Counting the SQL statements a request runs, for the bounded-queries checks (DESIGN section 8)."""

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from portal.extensions import db


@contextmanager
def counting_statements(app: Flask) -> Iterator[list[str]]:
    """Collect the text of every SQL statement the app runs inside the block."""
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(_connection: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def count_queries(app: Flask, client: FlaskClient, path: str) -> int:
    """The number of SQL statements one GET of the page runs (the page must answer 200)."""
    with counting_statements(app) as statements:
        response = client.get(path)
    assert response.status_code == 200
    return len(statements)
