"""Pages of the documents area."""

from flask import Blueprint

bp = Blueprint("documents", __name__)
