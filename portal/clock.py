"""The portal's one source of the current time, so tests can move it forward, and how it shows dates."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

_offset = timedelta(0)


def now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC) + _offset


def today() -> date:
    """Today's date in London, where the panel meets: a meeting "on its date" starts at midnight there."""
    return now().astimezone(LONDON).date()


def advance(delta: timedelta) -> None:
    """Move the clock forward (tests only)."""
    global _offset
    _offset += delta


def travel_to(moment: datetime) -> None:
    """Set the clock so that it reads `moment` now and keeps ticking from there (tests only)."""
    global _offset
    _offset = moment - datetime.now(UTC)


def reset() -> None:
    """Return the clock to real time (tests only)."""
    global _offset
    _offset = timedelta(0)


def as_utc(moment: datetime) -> datetime:
    """Treat a naive datetime read back from SQLite as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_datetime(moment: datetime | None) -> str:
    """A time as people in England read it, e.g. '27 November 2026 at 2:05pm'."""
    if moment is None:
        return ""
    local = moment.astimezone(LONDON)
    return f"{local.day} {local:%B %Y} at {local.hour % 12 or 12}:{local:%M}{'am' if local.hour < 12 else 'pm'}"


def format_date(moment: date | datetime | None) -> str:
    """A date such as '27 November 2026' (a time is first moved to London's date)."""
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        moment = moment.astimezone(LONDON).date()
    return f"{moment.day} {moment:%B %Y}"
