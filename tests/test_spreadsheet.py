"""The CSV helper shared by the audit and readiness exports: cells a spreadsheet would run are defused."""

import csv
import io

import pytest

from portal.spreadsheet import csv_lines, safe_cell


@pytest.mark.parametrize(("value", "expected"), [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1", "'+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tcmd", "'\tcmd"), ("\rcmd", "'\rcmd"), ("Ann = Bob", "Ann = Bob"), ("", ""), (None, ""), (42, "42"),
])
def test_safe_cell(value: object, expected: str) -> None:
    assert safe_cell(value) == expected


def test_csv_lines_stream_one_line_per_row_and_quote_as_csv() -> None:
    lines = list(csv_lines([["a", "b, c"], ["=1", 'say "hi"']]))
    assert len(lines) == 2
    assert list(csv.reader(io.StringIO("".join(lines)))) == [["a", "b, c"], ["'=1", 'say "hi"']]
