"""Helpers for the reviews tests: filling in assessments (the meeting, panel and sample: factories.make_panel)."""

from datetime import date, datetime, time

from conftest import submit
from factories import Panel
from flask.testing import FlaskClient

from portal import clock
from portal.reviews.form_schema import field_name
from portal.reviews.template_default import DEFAULT_SCHEMA

SECTIONS = [s["key"] for s in DEFAULT_SCHEMA["sections"]]


def base(panel: Panel, portfolio_id: int) -> str:
    """The task list's path."""
    return f"/reviews/meetings/{panel.meeting_id}/portfolios/{portfolio_id}"


def answers_for(section_key: str, choice: int = 0, text: str = "Clear and well evidenced") -> dict[str, str]:
    """Answers to every question of a default-template section: option number `choice`, and text."""
    section = next(s for s in DEFAULT_SCHEMA["sections"] if s["key"] == section_key)
    return {field_name(q): (q["options"][min(choice, len(q["options"]) - 1)][0] if q["type"] == "choice" else text)
            for q in section["questions"]}


def complete(client: FlaskClient, panel: Panel, portfolio_id: int, choice: int = 0, submit_it: bool = True,
             text: str = "Clear and well evidenced") -> None:
    """Fill in every section over HTTP and (optionally) submit."""
    for key in SECTIONS:
        path = f"{base(panel, portfolio_id)}/sections/{key}"
        response = submit(client, path, answers_for(key, choice, text))
        assert response.status_code == 302, response.get_data(as_text=True)
    if submit_it:
        response = submit(client, f"{base(panel, portfolio_id)}/check", {})
        assert response.status_code == 302, response.get_data(as_text=True)


def london_morning(day: date) -> datetime:
    """10am in London on a day: where clock.travel_to goes to be "on" a date."""
    return datetime.combine(day, time(10), tzinfo=clock.LONDON)
