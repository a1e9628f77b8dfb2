"""Flask extensions, created bare and bound to the app in create_app()."""

from typing import Any, cast

from flask import Flask, current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import CursorResult, Result

from portal.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()


def current_flask_app() -> Flask:
    """The app behind flask.current_app, for code that hands it on or keeps it beyond the current context."""
    # Flask annotates current_app as Flask although it is a LocalProxy, so mypy does not know the proxy's method.
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app


def rows_affected(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through the session changed.

    The session's execute() is typed to return a Result, since it cannot promise a cursor for every statement;
    for UPDATE and DELETE it is a CursorResult, and SQLAlchemy's documentation says to cast it to read rowcount.
    """
    return cast(CursorResult[Any], result).rowcount
