"""Ids fixed before rows are written: an upload's file streams into the blob store under its document's and
version's ids (its Cobblestone context binds the blob to them), and only then are its rows written, in one
short transaction. No transaction, and on SQLite no lock, is held while a file streams.

A reservation runs in a transaction of its own, on a connection of its own, and lasts a few milliseconds.
PostgreSQL takes the ids from the tables' own sequences (nextval, which no rollback returns). SQLite has no
sequences: `id_sequences` records the last id handed out for each table, moved past the table's largest id each
time, inside SQLite's write lock. So that no row can take an id an upload has reserved, every other INSERT of a
document or version without an id takes one the same way (a mapper event below). An id reserved by an upload
that then fails or is killed is simply never used.
"""

from typing import Any

from sqlalchemy import Connection, Table, event, func, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.extensions import db
from portal.models import Document, DocumentVersion, IdSequence

SEQUENCES = IdSequence.__table__


def next_id(connection: Connection, table: Table) -> int:
    """A new id for a row of `table`, one statement on `connection`."""
    if connection.dialect.name == "postgresql":
        return int(connection.execute(text("SELECT nextval(pg_get_serial_sequence(:table, 'id'))"),
                                      {"table": table.name}).scalar_one())
    largest = select(func.coalesce(func.max(table.c.id), 0)).scalar_subquery()
    statement = sqlite_insert(SEQUENCES).values(name=table.name, last_id=largest + 1)
    statement = statement.on_conflict_do_update(
        index_elements=[SEQUENCES.c.name], set_={"last_id": func.max(SEQUENCES.c.last_id, largest) + 1})
    return int(connection.execute(statement.returning(SEQUENCES.c.last_id)).scalar_one())


def reserve(*tables: Table) -> list[int]:
    """A new id for a row of each table, in order, committed at once."""
    with db.engine.begin() as connection:
        return [next_id(connection, table) for table in tables]


def _take_id(_mapper: Any, connection: Connection, target: Document | DocumentVersion) -> None:
    if target.id is None:
        target.id = next_id(connection, type(target).__table__)


for _model in (Document, DocumentVersion):
    event.listen(_model, "before_insert", _take_id, insert=True)  # before the id is needed to seal fields
