"""Long lists a page at a time: which rows are on the page, how many match in all (never silently cut), and which
page it is. Plain SQLAlchemy (the caller passes its session), so any area's service can use it."""

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, scoped_session

PAGE_SIZE = 50

T = TypeVar("T")


@dataclass(frozen=True)
class Paged(Generic[T]):
    """One page of a list: its rows, how many match in all, and which page it is (from 1)."""

    rows: list[T]
    total: int
    page: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        """How many pages there are (1 for an empty list, so page 1 always exists)."""
        return pages_for(self.total, self.size)

    @property
    def first(self) -> int:
        """The position of the page's first row (from 1), for "4,000 portfolios, showing 51 to 100"."""
        return (self.page - 1) * self.size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        """The position of the page's last row."""
        return (self.page - 1) * self.size + len(self.rows)


def pages_for(total: int, size: int = PAGE_SIZE) -> int:
    """How many pages of `size` hold `total` rows (at least 1)."""
    return max(1, -(-total // size))


def page_of(session: Session | scoped_session[Any], statement: Select[T], page: int, size: int = PAGE_SIZE) -> Paged[T]:
    """One page of a query's rows, in the query's order (which must be total: end it with an id), with how many
    rows match in all. Two statements however many rows match; a page past the end is the last page."""
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    page = min(max(1, page), pages_for(total, size))
    rows = list(session.scalars(statement.offset((page - 1) * size).limit(size)).unique())
    return Paged(rows, total, page, size)


def page_of_list(items: list[T], page: int, size: int = PAGE_SIZE) -> Paged[T]:
    """One page of a list already in memory, with the same rules as page_of (a page past the end is the last)."""
    page = min(max(1, page), pages_for(len(items), size))
    return Paged(items[(page - 1) * size:page * size], len(items), page, size)


def page_number(value: str | None) -> int:
    """The page a request asks for (?page=), 1 when it asks for none or for something that is not a number."""
    return int(value) if value and value.isdigit() and len(value) < 7 else 1
