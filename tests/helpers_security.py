"""Helpers for the security tests: database snapshots, half-signed-in clients and dummy URL values."""

from typing import Any

from conftest import Person, submit
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import IntegerConverter, Rule

from portal.extensions import db
from portal.models import Base

# Rows that record access rather than change anything (an audited CSV export, a session's last-seen time).
VOLATILE_TABLES = ("audit_events", "audit_head")


def snapshot(app: Flask, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, so a test can show that a request changed nothing."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    with app.app_context():
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
            state[table.name] = [tuple(row) for row in rows]
    return state


def half_signed_in(app: Flask, person: Person) -> FlaskClient:
    """A client that has given the password but not the security code."""
    browser = app.test_client()
    response = submit(browser, "/sign-in", {"email": person.email, "password": person.password})
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in/code")
    return browser


def dummy_values(rule: Rule, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """Values for a rule's URL arguments: known ones where given, else a number or a token-like string."""
    known = known or {}
    values: dict[str, Any] = {}
    for name in rule.arguments:
        if name in known:
            values[name] = known[name]
        elif isinstance(rule._converters.get(name), IntegerConverter):
            values[name] = 987654
        else:
            values[name] = "a" * 43
    return values


def build_path(app: Flask, rule: Rule, known: dict[str, Any] | None = None) -> str:
    """The path of a rule with dummy (or known) arguments filled in."""
    with app.test_request_context():
        return app.url_map.bind("localhost").build(rule.endpoint, dummy_values(rule, known))
