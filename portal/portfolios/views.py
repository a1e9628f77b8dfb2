"""Pages of the portfolios area."""

from flask import Blueprint

bp = Blueprint("portfolios", __name__)
