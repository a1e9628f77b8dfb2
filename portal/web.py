"""What every area's views share: the type of the page a view returns, and reading a form once it has validated."""

from typing import TypeVar

from werkzeug.wrappers import Response
from wtforms import Field

# What a view answers with: a rendered template (200), a template with its status (400 for a form with errors),
# or a response of its own (a redirect, a file). Flask's send_file and redirect both return a Response.
Page = str | tuple[str, int] | Response

T = TypeVar("T")


def filled(data: T | None) -> T:
    """The data of a required field once its form has validated: InputRequired or DataRequired let no None by."""
    if data is None:
        raise ValueError("a required field was read before its form validated, or without a required validator")
    return data


def add_error(field: Field, message: str) -> None:
    """Show a problem on a field after its form validated: one only a service can find (an email already taken)."""
    field.errors = [*field.errors, message]
