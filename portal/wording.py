"""Numbers in words as a person writes them: "1 new cohort", "3 new cohorts", "200 MB", "1.5 GB".

Hand-written because the forms are the portal's own phrases: a library that guesses plurals (inflect) would
have to be told every phrase anyway, and humanize writes sizes as "200.0 MB" or "209.7 MB" (decimal units).
"""

import math

UNITS = ("KB", "MB", "GB", "TB")


def count_of(number: int, one: str, many: str) -> str:
    """The number with the words that agree with it: count_of(1, "new cohort", "new cohorts") is "1 new cohort"."""
    return f"{number:,} {one if number == 1 else many}"


def file_size(size: int) -> str:
    """A size in bytes as people say it: "1 byte", "12 bytes", "30 KB", "1.2 MB", "200 MB", "1 GB".

    Units are of 1,024 as file managers and upload limits count them; one decimal place at most, and none
    when it would be ".0" (so a 200 MB limit reads "200 MB", not "200.0 MB").
    """
    if size < 1024:
        return count_of(size, "byte", "bytes")
    value = float(size)
    for unit in UNITS:
        value /= 1024
        if value < 1024 or unit == UNITS[-1]:
            break
    if value >= 100:
        return f"{value:,.0f} {unit}"
    shown = f"{value:.1f}"
    return f"{shown.removesuffix('.0')} {unit}"


def wait(seconds: int) -> str:
    """How long to wait as people say it, rounded up: "1 minute", "15 minutes", "2 hours".

    Whole minutes up to two hours (a person told "1 minute" for a 20-second wait is never early), whole hours
    beyond.
    """
    minutes = max(1, math.ceil(seconds / 60))
    if minutes <= 120:
        return count_of(minutes, "minute", "minutes")
    return count_of(math.ceil(minutes / 60), "hour", "hours")
