"""axe-core on the pages that say a meeting's record is closed: after the minutes are published (a member's task
list, overview, unsubmitted answers and the refused section and apologies pages; the Chair's refused attendance and
panel's view pages, and their meeting record) and after feedback is released (the minutes editor without the
key-message forms).
"""

from collections.abc import Callable

from conftest import Person
from factories import make_panel
from flask import Flask
from helpers_reviews import base
from playwright.sync_api import Page

from browser.steps import assert_accessible
from portal import clock
from portal.extensions import db
from portal.models import FeedbackRelease, Meeting, Role

SignedInPage = Callable[..., tuple[Page, Person]]


def _visit(page: Page, url: str, status: int, text: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == status, url
    assert text in page.locator("main").inner_text(), url
    assert_accessible(page)


def test_pages_of_a_published_meeting_say_it_is_closed(app: Flask, live_url: str,
                                                        signed_in_page: SignedInPage) -> None:
    chair_page, chair = signed_in_page(Role.MEMBER, name="Chair Person")
    member_page, member = signed_in_page(Role.MEMBER, name="Member One")
    panel = make_panel(app, [(chair.id, "chair"), (member.id, "member")])
    with app.app_context():
        db.session.get_one(Meeting, panel.meeting_id).minutes_published_at = clock.now()
        db.session.commit()
    task_list = live_url + base(panel, panel.portfolio_ids[0])
    meeting = f"{live_url}/reviews/meetings/{panel.meeting_id}"
    _visit(member_page, meeting, 200, "can no longer be changed")
    _visit(member_page, task_list, 200, "can no longer be changed or submitted")
    _visit(member_page, task_list + "/check", 200, "can no longer be changed or submitted")
    assert member_page.get_by_role("button", name="Submit assessment").count() == 0
    _visit(member_page, task_list + "/sections/part1", 409, "assessments can no longer be saved or submitted")
    _visit(member_page, meeting + "/apologies", 409, "apologies can no longer be sent")
    _visit(chair_page, meeting + "/record", 200, "attendance, apologies and the panel's views can no longer be changed")
    _visit(chair_page, meeting + "/record/attendance", 409, "attendance and apologies can no longer be changed")
    _visit(chair_page, f"{meeting}/record/portfolios/{panel.portfolio_ids[0]}", 409,
           "the panel's view and its feedback can no longer be changed")


def test_minutes_editor_after_release_offers_no_key_message_changes(app: Flask, live_url: str,
                                                                    signed_in_page: SignedInPage) -> None:
    chair_page, chair = signed_in_page(Role.MEMBER, name="Chair Person")
    panel = make_panel(app, [(chair.id, "chair")])
    with app.app_context():
        db.session.add(FeedbackRelease(meeting_id=panel.meeting_id, target_on=clock.now().date(),
                                       released_at=clock.now(), released_by_id=chair.id))
        db.session.commit()
    _visit(chair_page, f"{live_url}/meetings/{panel.meeting_id}/minutes/edit", 200, "Feedback was released on")
    assert chair_page.get_by_role("button", name="Add key message").count() == 0
    _visit(chair_page, f"{live_url}/reviews/meetings/{panel.meeting_id}/record/portfolios/{panel.portfolio_ids[0]}",
           409, "Feedback for this meeting was released on")
