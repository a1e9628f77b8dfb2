"""Numbers in words as a person writes them: "1 new cohort", "3 new cohorts", "200 MB", "1.5 GB".

Hand-written because the forms are the portal's own phrases: a library that guesses plurals (inflect) would
have to be told every phrase anyway, and humanize writes sizes as "200.0 MB" or "209.7 MB" (decimal units).
"""

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
