"""Shared set-up for the reviews tests: a meeting with a panel and a sample, and form-filling helpers."""

from dataclasses import dataclass, field
from datetime import date, datetime, time

from conftest import submit
from flask import Flask
from flask.testing import FlaskClient

from portal import clock
from portal.extensions import db
from portal.models import (
    Meeting,
    MeetingMember,
    Nqsw,
    Portfolio,
    SampledPortfolio,
    SampleDraw,
)
from portal.reviews.form_schema import field_name
from portal.reviews.template_default import DEFAULT_SCHEMA

SECTIONS = [s["key"] for s in DEFAULT_SCHEMA["sections"]]


@dataclass
class Panel:
    """Ids of a meeting, its sampled portfolios and its seats."""

    meeting_id: int
    portfolio_ids: list[int] = field(default_factory=list)


def make_meeting(app: Flask, seats: list[tuple[int, str]], portfolios: int = 2, title: str = "Panel meeting",
                 start: int = 0, held_on: date | None = None, reading_deadline: date | None = None) -> Panel:
    """A meeting with these (user id, panel role) seats and this many sampled portfolios.

    By default it is held on 10 December 2026 with a reading deadline of 3 December (after TEST_START).
    """
    with app.app_context():
        meeting = Meeting(title=title, held_on=held_on or date(2026, 12, 10),
                          reading_deadline=reading_deadline or (None if held_on else date(2026, 12, 3)),
                          created_at=clock.now())
        db.session.add(meeting)
        db.session.flush()
        for user_id, role in seats:
            db.session.add(MeetingMember(meeting_id=meeting.id, user_id=user_id, panel_role=role))
        draw = SampleDraw(meeting_id=meeting.id, seed="0" * 64, population="[]", parameters="{}", picks="[]",
                          drawn_by_id=seats[0][0], drawn_at=clock.now())
        db.session.add(draw)
        db.session.flush()
        panel = Panel(meeting.id)
        for number in range(start, start + portfolios):
            nqsw = Nqsw(name=f"Nqsw Person {meeting.id}-{number}", email=f"nqsw{meeting.id}-{number}@example.org")
            db.session.add(nqsw)
            db.session.flush()
            portfolio = Portfolio(nqsw_id=nqsw.id, outcome="pass", pseudonym=f"B{meeting.id}{number}",
                                  created_at=clock.now())
            db.session.add(portfolio)
            db.session.flush()
            db.session.add(SampledPortfolio(meeting_id=meeting.id, portfolio_id=portfolio.id, draw_id=draw.id,
                                            position=number))
            panel.portfolio_ids.append(portfolio.id)
        db.session.commit()
        return panel


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
